import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { Database } from './schema.js';

/** Opaque cursors for keyset pagination: the last row's sort value and id. */
export interface Cursor {
  readonly value: string | number | null;
  readonly id: string | number;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.value, cursor.id])).toString('base64url');
}

/** Decodes a cursor; undefined when it is malformed (the API answers 400). */
export function decodeCursor(raw: string): Cursor | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [value, id] = parsed as [unknown, unknown];
    const scalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number';
    if (!scalar(value) || (typeof id !== 'string' && typeof id !== 'number')) return undefined;
    return { value: value as Cursor['value'], id };
  } catch {
    return undefined;
  }
}

export interface Page<T> {
  readonly data: T[];
  readonly nextCursor: string | null;
}

/** The page of a keyset query that read `limit + 1` rows: the extra row only says that a next page exists. */
export function pageOfRows<T>(rows: T[], limit: number, cursorOf: (last: T) => Cursor): Page<T> {
  const data = rows.slice(0, limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > limit && last !== undefined ? encodeCursor(cursorOf(last)) : null };
}

/**
 * Pages a query over a table with created_at and id, oldest first: the cursor holds the
 * last row's (created_at, id), so a page costs the same at any depth. Shared by the
 * lists, templates and senders stores.
 */
export async function pageByCreation<T extends { created_at: string; id: string }>(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query: SelectQueryBuilder<any, any, T>,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<T> | 'bad_cursor'> {
  let q = query;
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.value !== 'string' || typeof cursor.id !== 'string') return 'bad_cursor';
    q = q.where(sql<boolean>`(created_at, id) > (${cursor.value}, ${cursor.id})`);
  }
  const rows = await q
    .orderBy(sql`created_at`)
    .orderBy(sql`id`)
    .limit(args.limit + 1)
    .execute();
  return pageOfRows(rows, args.limit, (last) => ({ value: last.created_at, id: last.id }));
}

/**
 * Marks a row of a soft-deletable table deleted; false when there was no live one. The
 * row stays so that campaigns which referenced it still resolve (preflight refuses it).
 */
export async function softDelete(
  db: Kysely<Database>,
  table: 'lists' | 'templates' | 'senders' | 'segments',
  workspaceId: string,
  id: string,
  now: Date,
): Promise<boolean> {
  const at = now.toISOString();
  const result = await db
    .updateTable(table)
    .set({ deleted_at: at, updated_at: at })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}
