import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, type Migration, type MigrationProvider, Migrator, SqliteDialect } from 'kysely';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_idempotency_keys.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Numbered migrations, in order. Add new ones at the end; never edit one that shipped. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_idempotency_keys': m0002,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export interface DatabaseLocation {
  readonly dialect: 'sqlite';
  /** A file path, or ':memory:'. */
  readonly path: string;
}

/**
 * Reads DATABASE_URL: a file path, `sqlite:path` / `sqlite://path`, or nothing for
 * ./data/herald.db. `postgres://…` belongs to the dispatch-at-scale work and is refused here.
 */
export function parseDatabaseUrl(url: string | undefined): DatabaseLocation {
  const value = url?.trim() || './data/herald.db';
  if (/^postgres(ql)?:\/\//i.test(value)) {
    throw new Error('DATABASE_URL: PostgreSQL is not supported yet; use a file path or sqlite: URL.');
  }
  const path = value.replace(/^sqlite:(\/\/)?/i, '');
  if (path === '') throw new Error('DATABASE_URL: the sqlite: URL names no file.');
  return { dialect: 'sqlite', path };
}

/** Opens the database (creating its folder) with WAL and a busy timeout, and returns Kysely over it. */
export function openDatabase(location: DatabaseLocation, opts: { onQuery?: (sql: string) => void } = {}): Db {
  if (location.path !== ':memory:') mkdirSync(dirname(resolve(location.path)), { recursive: true });
  const sqlite = new SqliteDatabase(location.path);
  // WAL lets the API read while the engine writes; NORMAL sync is durable across process
  // crashes (the case DESIGN §4 guards) and loses at most the last commit on power loss.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const onQuery = opts.onQuery;
  return new Kysely<Database>({
    dialect: new SqliteDialect({ database: sqlite }),
    ...(onQuery ? { log: (event) => onQuery(event.query.sql) } : {}),
  });
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
