import { type Kysely, sql } from 'kysely';
import type { Segment } from '../domain/segment.js';
import { newId } from './ids.js';
import { type Page, pageByCreation, softDelete } from './pagination.js';
import type { Database, SegmentRow } from './schema.js';
import { compileSegment } from './segment-sql.js';

/** The API shape of a stored segment. */
export function segmentOf(row: SegmentRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    rule: JSON.parse(row.rule) as Segment,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

export async function createSegment(
  db: Kysely<Database>,
  workspaceId: string,
  input: { name: string; description?: string | null; rule: Segment },
  now: Date,
): Promise<SegmentRow> {
  const at = now.toISOString();
  const row: SegmentRow = {
    id: newId('seg', now.getTime()),
    workspace_id: workspaceId,
    name: input.name,
    description: input.description ?? null,
    rule: JSON.stringify(input.rule),
    deleted_at: null,
    created_at: at,
    updated_at: at,
  };
  await db.insertInto('segments').values(row).execute();
  return row;
}

/** A live segment of the workspace. */
export async function getSegment(db: Kysely<Database>, workspaceId: string, id: string): Promise<SegmentRow | undefined> {
  return db
    .selectFrom('segments')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
}

/** One page of the workspace's live segments, oldest first. */
export async function listSegments(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<SegmentRow> | 'bad_cursor'> {
  return pageByCreation(
    db.selectFrom('segments').selectAll().where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null),
    args,
  );
}

export async function updateSegment(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  patch: { name?: string; description?: string | null; rule?: Segment },
  now: Date,
): Promise<SegmentRow | undefined> {
  return db
    .updateTable('segments')
    .set({
      name: patch.name,
      description: patch.description,
      rule: patch.rule === undefined ? undefined : JSON.stringify(patch.rule),
      updated_at: now.toISOString(),
    })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

export async function softDeleteSegment(db: Kysely<Database>, workspaceId: string, id: string, now: Date): Promise<boolean> {
  return softDelete(db, 'segments', workspaceId, id, now);
}

/**
 * How many contacts of the workspace a rule selects now, and the first few of them: the
 * audience estimate shown before launch. One count and one small select over the
 * compiled predicate; nothing is loaded whole.
 */
export async function estimateSegment(
  db: Kysely<Database>,
  args: { workspaceId: string; rule: Segment; now: Date; timeZone: string; sample: number },
): Promise<{ count: number; sample: { id: number; email: string | null; firstName: string | null; lastName: string | null }[] }> {
  const where = await compileSegment(db, args.rule, { workspaceId: args.workspaceId, now: args.now, defaultTimeZone: args.timeZone });
  const base = db.selectFrom('contacts as c').where('c.workspace_id', '=', args.workspaceId).where(where);
  const counted = await base.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const rows = await base.select(['c.id', 'c.email', 'c.first_name', 'c.last_name']).orderBy('c.id').limit(args.sample).execute();
  return {
    count: Number(counted.n),
    sample: rows.map((r) => ({ id: r.id, email: r.email, firstName: r.first_name, lastName: r.last_name })),
  };
}
