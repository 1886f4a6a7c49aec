import { CompiledQuery, type Kysely, type Selectable, sql } from 'kysely';
import type { Import, ImportError } from '../domain/import.js';
import { dialectOf } from '../store/dialect.js';
import { newId } from '../store/ids.js';
import { createList } from '../store/lists.js';
import { type Page, pageByCreation } from '../store/pagination.js';
import type { Database, ImportTable } from '../store/schema.js';
import type { RowRejection } from './bulk-upsert.js';

/** The `imports` and `import_errors` rows: an import's progress, its outcome, and the lines it refused. */

type ImportRow = Selectable<ImportTable>;

/** Counters of a running import, written with each batch. */
export interface ImportCounts {
  readonly rowsRead: number;
  readonly rowsImported: number;
  readonly rowsInvalid: number;
  readonly created: number;
  readonly updated: number;
}

/** The API shape of an import row. */
export function importOf(row: ImportRow): Import {
  const n = (v: unknown) => Number(v);
  return {
    id: row.id,
    status: row.status,
    listId: row.list_id,
    filename: row.filename,
    mapping: JSON.parse(row.mapping) as Record<string, string>,
    rowsRead: n(row.rows_read),
    rowsImported: n(row.rows_imported),
    rowsInvalid: n(row.rows_invalid),
    created: n(row.created),
    updated: n(row.updated),
    unchanged: n(row.rows_imported) - n(row.created) - n(row.updated),
    error: row.error,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    finishedAt: row.finished_at,
  };
}

export async function createImport(
  db: Kysely<Database>,
  args: { workspaceId: string; listId: string | null; filename: string | null; now: Date },
): Promise<Import> {
  const at = args.now.toISOString();
  const row = await db
    .insertInto('imports')
    .values({
      id: newId('imp', args.now.getTime()),
      workspace_id: args.workspaceId,
      list_id: args.listId,
      filename: args.filename,
      status: 'running',
      error: null,
      created_at: at,
      updated_at: at,
      finished_at: null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
  return importOf(row);
}

export async function getImport(db: Kysely<Database>, workspaceId: string, id: string): Promise<Import | undefined> {
  const row = await db.selectFrom('imports').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return row ? importOf(row) : undefined;
}

/** One page of a workspace's imports, oldest first. */
export async function listImports(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<Import> | 'bad_cursor'> {
  const page = await pageByCreation(db.selectFrom('imports').selectAll().where('workspace_id', '=', workspaceId), args);
  return page === 'bad_cursor' ? page : { data: page.data.map(importOf), nextCursor: page.nextCursor };
}

/** The refused lines of an import in line order, after `afterLine`. */
export async function listImportErrors(
  db: Kysely<Database>,
  importId: string,
  args: { limit: number; afterLine?: number | undefined },
): Promise<{ data: ImportError[]; nextLine: number | null }> {
  let q = db.selectFrom('import_errors').select(['line', 'field', 'reason']).where('import_id', '=', importId);
  if (args.afterLine !== undefined) q = q.where('line', '>', args.afterLine);
  const rows = await q
    .orderBy('line')
    .limit(args.limit + 1)
    .execute();
  const data = rows.slice(0, args.limit).map((r) => ({ line: Number(r.line), field: r.field, reason: r.reason }));
  return { data, nextLine: rows.length > args.limit ? data.at(-1)!.line : null };
}

export async function setMapping(db: Kysely<Database>, id: string, mapping: Readonly<Record<string, string>>, now: Date): Promise<void> {
  await db
    .updateTable('imports')
    .set({ mapping: JSON.stringify(mapping), updated_at: now.toISOString() })
    .where('id', '=', id)
    .execute();
}

/**
 * Records a batch's refused lines and the import's counters, inside the batch's own
 * transaction, so progress never runs ahead of (or behind) what landed.
 */
export async function recordBatch(
  trx: Kysely<Database>,
  id: string,
  rejected: readonly RowRejection[],
  counts: ImportCounts,
  now: Date,
): Promise<void> {
  const pg = dialectOf(trx) === 'postgres';
  if (rejected.length > 0) {
    const values: unknown[] = [];
    const ph = () => (pg ? `$${values.length}` : '?');
    const tuples = rejected.map((r) => {
      const parts: string[] = [];
      for (const v of [id, r.line, r.field, r.reason]) {
        values.push(v);
        parts.push(ph());
      }
      return `(${parts.join(', ')})`;
    });
    // A line is refused once; `do nothing` keeps a retried batch harmless.
    await trx.executeQuery(
      CompiledQuery.raw(
        `insert into import_errors (import_id, line, field, reason) values ${tuples.join(', ')} on conflict do nothing`,
        values,
      ),
    );
  }
  await trx
    .updateTable('imports')
    .set({
      rows_read: counts.rowsRead,
      rows_imported: counts.rowsImported,
      rows_invalid: counts.rowsInvalid,
      created: counts.created,
      updated: counts.updated,
      updated_at: now.toISOString(),
    })
    .where('id', '=', id)
    .execute();
}

/** Marks the import finished: completed, or failed with why. */
export async function finishImport(db: Kysely<Database>, id: string, error: string | null, now: Date): Promise<void> {
  const at = now.toISOString();
  await db
    .updateTable('imports')
    .set({ status: error === null ? 'completed' : 'failed', error, updated_at: at, finished_at: at })
    .where('id', '=', id)
    .execute();
}

/** The live list of that name in the workspace, created when there is none (`herald import --list NAME`). */
export async function listByName(
  db: Kysely<Database>,
  workspaceId: string,
  name: string,
  now: Date,
): Promise<{ id: string; created: boolean }> {
  const found = await db
    .selectFrom('lists')
    .select('id')
    .where('workspace_id', '=', workspaceId)
    .where('name', '=', name)
    .where('deleted_at', 'is', null)
    .orderBy('created_at')
    .limit(1)
    .executeTakeFirst();
  if (found) return { id: found.id, created: false };
  const list = await createList(db, workspaceId, { name }, now);
  return { id: list.id, created: true };
}

/**
 * PostgreSQL: refreshes the planner's statistics of the tables an import grows. Without
 * them (autovacuum had not yet analysed a table filled within the minute) the batch lookup
 * `workspace_id = $1 and email = any($2)` was planned on the workspace index alone and
 * filtered every contact: 0.9 s a batch at 650,000 contacts. SQLite plans without statistics.
 */
export async function refreshStatistics(db: Kysely<Database>): Promise<void> {
  if (dialectOf(db) === 'postgres') await sql`analyze contacts, list_members`.execute(db);
}

/**
 * A running import shows progress with every batch (one lands in well under a second), so
 * one quiet for a minute belongs to a process that is gone: killed, or crashed mid-file.
 * Only quiet ones, because a `herald import` in another process may be running right now.
 */
export const abandonedAfterMs = 60_000;

/** Marks running imports with no progress for `abandonedAfterMs` as failed; returns their ids. */
export async function failAbandonedImports(db: Kysely<Database>, now: Date): Promise<string[]> {
  const quietSince = new Date(now.getTime() - abandonedAfterMs).toISOString();
  const at = now.toISOString();
  const rows = await db
    .updateTable('imports')
    .set({
      status: 'failed',
      error:
        'Abandoned: the process running this import stopped before it finished. Import the file again (a re-import changes nothing already imported).',
      updated_at: at,
      finished_at: at,
    })
    .where('status', '=', 'running')
    .where('updated_at', '<', quietSince)
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}
