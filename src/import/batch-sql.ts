import { CompiledQuery } from 'kysely';
import type { SqlDialect } from '../store/dialect.js';

/**
 * The hot statements of an import batch, one shape per dialect, built as text once per
 * shape (the row count) and bound positionally.
 *
 * - SQLite: multi-row `VALUES` with `?`; the text of a full batch is the same every time, so
 *   the connection's statement cache (store/database.ts) compiles it once per import
 *   instead of once per batch.
 * - PostgreSQL: one array parameter per column (`unnest`, `= any`), so a 1,000-row batch
 *   binds 13 parameters instead of 13,000; measured 69–245 ms against 94–322 ms a batch
 *   for the `VALUES` form on the shared 2-core machine.
 */

/** Columns an import writes, in the order of `ContactValues`. */
export const contactColumns = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'time_zone',
  'external_id',
  'telegram_chat_id',
  'viber_id',
  'tags',
  'attributes',
] as const;
export type ContactColumn = (typeof contactColumns)[number];
export type ContactValues = (string | null)[];

const memo = new Map<string, string>();
function text(key: string, build: () => string): string {
  let sql = memo.get(key);
  if (sql === undefined) {
    sql = build();
    // Shapes are row counts up to a batch: a few hundred at most, unless batch sizes vary widely.
    if (memo.size > 2000) memo.clear();
    memo.set(key, sql);
  }
  return sql;
}

const tuples = (rows: number, width: number) => {
  const one = `(${Array.from({ length: width }, () => '?').join(', ')})`;
  return Array.from({ length: rows }, () => one).join(', ');
};

/**
 * The stored contacts holding any of these keys. No row locks: a re-import would otherwise
 * lock (and, on PostgreSQL, write) every row it reads, 29 ms a batch of 1,000 measured.
 */
export function lookupContacts(
  dialect: SqlDialect,
  workspaceId: string,
  keys: readonly (readonly [ContactColumn, readonly string[]])[],
): CompiledQuery {
  const used = keys.filter(([, values]) => values.length > 0);
  const select = `select id, ${contactColumns.join(', ')}, updated_at from contacts`;
  if (dialect === 'postgres') {
    // A UNION of index scans. As `id in (…union…)`, a table the planner had no statistics for
    // yet (mid-import, before autovacuum's ANALYZE) was joined by a full scan per batch:
    // 0.3–0.7 s a lookup at 700,000 contacts, the import slowing to 100 rows/s.
    const parts = used.map(([column], i) => `${select} where workspace_id = $1 and ${column} = any($${i + 2}::text[])`);
    return CompiledQuery.raw(`${parts.join(' union ')} order by id`, [workspaceId, ...used.map(([, v]) => v)]);
  }
  // One index search per key, as a UNION ALL of ids: with `a IN (…) OR b IN (…)` SQLite scanned
  // the whole workspace (100,000 contacts imported at 4,000 rows/s instead of 50,000).
  const shape = used.map(([column, values]) => `${column}:${values.length}`).join(',');
  const sql = text(`lookup ${shape}`, () => {
    const parts = used.map(
      ([column, values]) => `select id from contacts where workspace_id = ? and ${column} in (${tuples(1, values.length).slice(1, -1)})`,
    );
    return `${select} where id in (${parts.join(' union all ')}) order by id`;
  });
  const params: unknown[] = [];
  for (const [, values] of used) params.push(workspaceId, ...values);
  return CompiledQuery.raw(sql, params);
}

/**
 * New contacts; returns their ids. With `ifNew`, a row whose email or external id is
 * already a contact's (or an earlier row's of the same statement) is skipped instead of
 * failing the statement. Which rows were inserted: on PostgreSQL each one's id, email and
 * external id come back; on SQLite nothing comes back, and `contactsAfter` reads them.
 */
export function insertContacts(
  dialect: SqlDialect,
  workspaceId: string,
  rows: readonly ContactValues[],
  at: string,
  ifNew = false,
): CompiledQuery {
  const into = `insert into contacts (workspace_id, ${contactColumns.join(', ')}, created_at, updated_at)`;
  if (dialect === 'postgres') {
    const tail = ifNew ? 'on conflict do nothing returning id, email, external_id' : 'returning id';
    const columns = contactColumns.map((_, c) => rows.map((r) => r[c] ?? null));
    const arrays = contactColumns.map((_, c) => `$${c + 2}::text[]`).join(', ');
    const n = contactColumns.length + 2;
    return CompiledQuery.raw(`${into} select $1, u.*, $${n}, $${n} from unnest(${arrays}) as u ${tail}`, [workspaceId, ...columns, at]);
  }
  const width = contactColumns.length + 3;
  const tail = ifNew ? 'on conflict do nothing' : 'returning id';
  const sql = text(`insert ${ifNew} ${rows.length}`, () => `${into} values ${tuples(rows.length, width)} ${tail}`);
  const params: unknown[] = [];
  for (const r of rows) params.push(workspaceId, ...r, at, at);
  return CompiledQuery.raw(sql, params);
}

/**
 * SQLite: the newest contact's id, then the contacts created after it, to learn which rows an
 * `insertContacts(…, ifNew)` inserted. RETURNING on that insert cost 1.3–2.3 µs a row more
 * than the insert alone (alternated in one process, 200,000 rows), these two 0.4. Every id
 * above the one read before the insert is the insert's: ids only grow (AUTOINCREMENT), and
 * a transaction that read before another process wrote cannot write at all (SQLite answers
 * SQLITE_BUSY_SNAPSHOT, which the import retries as a write race).
 */
export const newestContact = (): CompiledQuery => CompiledQuery.raw('select coalesce(max(id), 0) as id from contacts');
export const contactsAfter = (id: number): CompiledQuery =>
  CompiledQuery.raw('select id, email, external_id from contacts where id > ? order by id', [id]);

/** Changed contacts by id, each only if its updated_at is still the one read: every import column is rewritten. */
export function updateContacts(
  dialect: SqlDialect,
  rows: readonly (readonly [number, string, ContactValues])[],
  at: string,
): CompiledQuery {
  const set = contactColumns.map((c) => `${c} = v.${c}`).join(', ');
  const names = `id, seen, ${contactColumns.join(', ')}`;
  const where = 'where contacts.id = v.id and contacts.updated_at = v.seen';
  if (dialect === 'postgres') {
    const arrays = contactColumns.map((_, c) => `$${c + 3}::text[]`).join(', ');
    return CompiledQuery.raw(
      `update contacts set ${set}, updated_at = $${contactColumns.length + 3} from unnest($1::bigint[], $2::text[], ${arrays}) as v (${names}) ${where}`,
      [rows.map(([id]) => id), rows.map(([, seen]) => seen), ...contactColumns.map((_, c) => rows.map(([, , r]) => r[c] ?? null)), at],
    );
  }
  const sql = text(
    `update ${rows.length}`,
    () =>
      `with v (${names}) as (values ${tuples(rows.length, contactColumns.length + 2)}) update contacts set ${set}, updated_at = ? from v ${where}`,
  );
  const params: unknown[] = [];
  for (const [id, seen, r] of rows) params.push(id, seen, ...r);
  params.push(at);
  return CompiledQuery.raw(sql, params);
}

/** SQLite: memberships of the list for every contact created after `id` (see `contactsAfter`), new contacts all. */
export const insertMembersAfter = (workspaceId: string, listId: string, id: number, at: string): CompiledQuery =>
  CompiledQuery.raw(
    'insert into list_members (workspace_id, list_id, contact_id, added_at) select ?, ?, id, ? from contacts where id > ?',
    [workspaceId, listId, at, id],
  );

/** Memberships of the list; existing ones are left alone (the count says how many were new). */
export function insertMembers(dialect: SqlDialect, workspaceId: string, listId: string, ids: readonly number[], at: string): CompiledQuery {
  const into = 'insert into list_members (workspace_id, list_id, contact_id, added_at)';
  const conflict = 'on conflict (list_id, contact_id) do nothing';
  if (dialect === 'postgres') {
    return CompiledQuery.raw(`${into} select $1, $2, unnest($3::bigint[]), $4 ${conflict}`, [workspaceId, listId, ids, at]);
  }
  const sql = text(`members ${ids.length}`, () => `${into} values ${tuples(ids.length, 4)} ${conflict}`);
  const params: unknown[] = [];
  for (const id of ids) params.push(workspaceId, listId, id, at);
  return CompiledQuery.raw(sql, params);
}
