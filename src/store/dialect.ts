import { type Expression, type Kysely, PostgresAdapter, type RawBuilder, sql } from 'kysely';

export type SqlDialect = 'sqlite' | 'postgres';

// Any database, whatever its tables: these helpers only look at the dialect.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyDb = Kysely<any>;

/** Which SQL the database speaks, for the few statements that differ (JSON, row locks, types). */
export function dialectOf(db: AnyDb): SqlDialect {
  return db.getExecutor().adapter instanceof PostgresAdapter ? 'postgres' : 'sqlite';
}

/**
 * `expr IN (…values)` with one bound parameter per value, the same on both dialects; an
 * empty list matches nothing. For lists bounded by the API (≤ 10,000 values).
 */
export function inList(expr: RawBuilder<unknown> | Expression<unknown>, values: readonly (string | number)[]): RawBuilder<boolean> {
  if (values.length === 0) return sql<boolean>`1 = 0`;
  return sql<boolean>`${expr} in (${sql.join(values)})`;
}

/** Whether a JSON array held as text contains a string. */
export function jsonArrayHas(db: AnyDb, column: RawBuilder<unknown>, value: string): RawBuilder<boolean> {
  return dialectOf(db) === 'postgres'
    ? sql<boolean>`jsonb_exists(${column}::jsonb, ${value})`
    : sql<boolean>`exists (select 1 from json_each(${column}) where value = ${value})`;
}

/**
 * RFC 7396 merge of two JSON objects held as text: keys of the right replace the left's,
 * and a right-hand null removes the key (attributes never hold nulls).
 */
export function jsonMerge(db: AnyDb, left: RawBuilder<unknown>, right: RawBuilder<unknown>): RawBuilder<string> {
  return dialectOf(db) === 'postgres'
    ? sql<string>`jsonb_strip_nulls(${left}::jsonb || ${right}::jsonb)::text`
    : sql<string>`json_patch(${left}, ${right})`;
}

/**
 * Whether a failed write lost a race that a fresh attempt wins: a unique key another
 * transaction inserted first (23505 / SQLITE_CONSTRAINT_UNIQUE), a deadlock between row
 * locks taken in different orders (40P01), or SQLite's busy writer.
 */
export function isWriteRace(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    code === '23505' || code === '40P01' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT'
  );
}
