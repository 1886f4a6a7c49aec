import { type Kysely, sql } from 'kysely';
import { HeraldError } from '../domain/errors.js';
import {
  type Suppression,
  type SuppressionEntry,
  type SuppressionKind,
  type SuppressionReason,
  normaliseAddress,
  normaliseEntries,
} from '../domain/suppression.js';
import { inList } from './dialect.js';
import { type Page, decodeCursor, encodeCursor } from './pagination.js';
import type { Database } from './schema.js';

type SuppressionRow = Database['suppressions'];

/**
 * Rows per INSERT: 1,000 rows × 7 columns = 7,000 bound parameters, under SQLite's 32,766,
 * and a chunk writes in a few milliseconds, so a 10,000-address upload never holds the writer long.
 */
const chunkSize = 1000;

/** The API shape of a stored suppression. */
export function suppressionOf(row: SuppressionRow): Suppression {
  return { address: row.address, kind: row.kind, reason: row.reason, source: row.source, note: row.note, createdAt: row.created_at };
}

/**
 * Suppresses addresses, all in one transaction: the entry point of the receipts work (a hard
 * bounce, a complaint, an unsubscribe) and of the API. Addresses are normalised here, so a
 * caller may pass them as a provider reported them; an address that is neither an email nor
 * an E.164 phone throws VALIDATION_FAILED and nothing is written. An address already
 * suppressed keeps its first date and takes the latest reason, source and note.
 *
 * @example await suppress(db, workspaceId, [{ address: 'Ann@Example.com', reason: 'hard_bounce', source: 'cmp_…' }], now)
 */
export async function suppress(
  db: Kysely<Database>,
  workspaceId: string,
  entries: readonly { address: string; reason?: SuppressionReason; source?: string | null; note?: string | null }[],
  now: Date,
): Promise<{ created: number; updated: number }> {
  const normalised = normaliseEntries(entries, (i) => `suppressions/${i}/address`);
  if (!normalised.ok) throw new HeraldError(normalised.error);
  return addSuppressions(db, workspaceId, normalised.value, now);
}

/** Writes normalised entries (see `suppress`); the last entry for a repeated address wins. */
export async function addSuppressions(
  db: Kysely<Database>,
  workspaceId: string,
  entries: readonly SuppressionEntry[],
  now: Date,
): Promise<{ created: number; updated: number }> {
  const at = now.toISOString();
  const unique = [...new Map(entries.map((e) => [e.address, e])).values()];
  return db.transaction().execute(async (trx) => {
    let created = 0;
    for (let i = 0; i < unique.length; i += chunkSize) {
      const chunk = unique.slice(i, i + chunkSize);
      const existing = await trx
        .selectFrom('suppressions')
        .select(sql<number>`count(*)`.as('n'))
        .where('workspace_id', '=', workspaceId)
        .where(
          inList(
            sql.ref('address'),
            chunk.map((e) => e.address),
          ),
        )
        .executeTakeFirstOrThrow();
      created += chunk.length - Number(existing.n);
      await trx
        .insertInto('suppressions')
        .values(chunk.map((e) => ({ workspace_id: workspaceId, ...e, created_at: at })))
        .onConflict((oc) =>
          oc.columns(['workspace_id', 'address']).doUpdateSet((eb) => ({
            reason: eb.ref('excluded.reason'),
            source: eb.ref('excluded.source'),
            note: eb.ref('excluded.note'),
          })),
        )
        .execute();
    }
    return { created, updated: unique.length - created };
  });
}

/** Lifts the suppression of one address; false when it was not suppressed. */
export async function removeSuppression(db: Kysely<Database>, workspaceId: string, address: string): Promise<boolean> {
  const n = normaliseAddress(address);
  if (!n.ok) return false;
  const result = await db
    .deleteFrom('suppressions')
    .where('workspace_id', '=', workspaceId)
    .where('address', '=', n.value.address)
    .executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** The suppression of an address, in any spelling the normalisation accepts. */
export async function getSuppression(db: Kysely<Database>, workspaceId: string, address: string): Promise<SuppressionRow | undefined> {
  const n = normaliseAddress(address);
  if (!n.ok) return undefined;
  return db
    .selectFrom('suppressions')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('address', '=', n.value.address)
    .executeTakeFirst();
}

/** Whether the workspace may no longer message this address (one primary-key lookup). */
export async function isSuppressed(db: Kysely<Database>, workspaceId: string, address: string): Promise<boolean> {
  return (await getSuppression(db, workspaceId, address)) !== undefined;
}

export interface SuppressionFilter {
  readonly kind?: SuppressionKind | undefined;
  readonly reason?: SuppressionReason | undefined;
  /** Part of the address, case-insensitive. */
  readonly q?: string | undefined;
  readonly limit: number;
  readonly cursor?: string | undefined;
}

/**
 * One page of the workspace's suppressions, newest first, keyset by (created_at, address)
 * on the (workspace_id, created_at) index, so a page costs the same at any depth.
 */
export async function listSuppressions(
  db: Kysely<Database>,
  workspaceId: string,
  filter: SuppressionFilter,
): Promise<Page<SuppressionRow> | 'bad_cursor'> {
  let q = db.selectFrom('suppressions').selectAll().where('workspace_id', '=', workspaceId);
  if (filter.kind) q = q.where('kind', '=', filter.kind);
  if (filter.reason) q = q.where('reason', '=', filter.reason);
  if (filter.q) {
    // Addresses are stored lower-cased; LIKE wildcards in the search are taken literally.
    const pattern = `%${filter.q
      .trim()
      .toLowerCase()
      .replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
    q = q.where(sql<boolean>`address like ${pattern} escape '\\'`);
  }
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    if (!cursor || typeof cursor.value !== 'string' || typeof cursor.id !== 'string') return 'bad_cursor';
    q = q.where(sql<boolean>`(created_at, address) < (${cursor.value}, ${cursor.id})`);
  }
  const rows = await q
    .orderBy('created_at', 'desc')
    .orderBy('address', 'desc')
    .limit(filter.limit + 1)
    .execute();
  const data = rows.slice(0, filter.limit);
  const last = data.at(-1);
  return {
    data,
    nextCursor: rows.length > filter.limit && last ? encodeCursor({ value: last.created_at, id: last.address }) : null,
  };
}
