import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, type Migration, type MigrationProvider, Migrator, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import * as m0001 from './migrations/0001_initial.js';
import * as m0002 from './migrations/0002_idempotency_keys.js';
import * as m0003 from './migrations/0003_rate_limits.js';
import * as m0004 from './migrations/0004_sender_rate_limits.js';
import * as m0005 from './migrations/0005_segments.js';
import * as m0006 from './migrations/0006_audience_model.js';
import * as m0007 from './migrations/0007_channels.js';
import * as m0008 from './migrations/0008_time.js';
import * as m0009 from './migrations/0009_money.js';
import * as m0010 from './migrations/0010_email_content.js';
import * as m0011 from './migrations/0011_fallback.js';
import * as m0012 from './migrations/0012_event_data.js';
import * as m0013 from './migrations/0013_receipt_key.js';
import * as m0014 from './migrations/0014_members_without_rowid.js';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

/** Numbered migrations, in order. Add new ones at the end; never edit one that shipped. */
const migrations: Record<string, Migration> = {
  '0001_initial': m0001,
  '0002_idempotency_keys': m0002,
  '0003_rate_limits': m0003,
  '0004_sender_rate_limits': m0004,
  '0005_segments': m0005,
  '0006_audience_model': m0006,
  '0007_channels': m0007,
  '0008_time': m0008,
  '0009_money': m0009,
  '0010_email_content': m0010,
  '0011_fallback': m0011,
  '0012_event_data': m0012,
  '0013_receipt_key': m0013,
  '0014_members_without_rowid': m0014,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export type DatabaseLocation =
  | {
      readonly dialect: 'sqlite';
      /** A file path, or ':memory:'. */
      readonly path: string;
    }
  | {
      readonly dialect: 'postgres';
      readonly url: string;
    };

/** Reads DATABASE_URL: `postgres://…`, a file path, `sqlite:path` / `sqlite://path`, or nothing for ./data/herald.db. */
export function parseDatabaseUrl(url: string | undefined): DatabaseLocation {
  const value = url?.trim() || './data/herald.db';
  if (/^postgres(ql)?:\/\//i.test(value)) return { dialect: 'postgres', url: value };
  const path = value.replace(/^sqlite:(\/\/)?/i, '');
  if (path === '') throw new Error('DATABASE_URL: the sqlite: URL names no file.');
  return { dialect: 'sqlite', path };
}

/** Where the database is, for people: the file, or the PostgreSQL URL without its password. */
export function describeLocation(location: DatabaseLocation): string {
  if (location.dialect === 'sqlite') return location.path;
  const u = new URL(location.url);
  if (u.password) u.password = '***';
  return u.toString();
}

// PostgreSQL sends bigint (int8: counts, sums, our ids) as text; every value Herald keeps
// there fits a double exactly, so read them as numbers like SQLite does.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));
pg.types.setTypeParser(pg.types.builtins.NUMERIC, (v) => Number(v));

/** Opens the database and returns Kysely over it; SQLite creates its folder, with WAL and a busy timeout. */
export function openDatabase(location: DatabaseLocation, opts: { onQuery?: (sql: string) => void; poolSize?: number } = {}): Db {
  const onQuery = opts.onQuery;
  const log = onQuery ? { log: (event: { query: { sql: string } }) => onQuery(event.query.sql) } : {};
  if (location.dialect === 'postgres') {
    const pool = new pg.Pool({ connectionString: location.url, max: opts.poolSize ?? 10 });
    // An idle connection the server closed (restart, failover) is dropped from the pool; the
    // next query opens a new one. Without a listener the error would crash the process.
    pool.on('error', () => undefined);
    return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), ...log });
  }
  if (location.path !== ':memory:') mkdirSync(dirname(resolve(location.path)), { recursive: true });
  const sqlite = new SqliteDatabase(location.path);
  // WAL lets the API read while the engine writes; NORMAL sync is durable across process
  // crashes (the case DESIGN §4 guards) and loses at most the last commit on power loss.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Checkpoint the WAL every ~40 MB instead of every 4 MB: a million-row snapshot or send
  // commits often, and checkpointing after nearly every chunk was up to 1 s of a 2.6 s
  // snapshot (0.6 s with this setting, measured by materialise-1m).
  sqlite.pragma('wal_autocheckpoint = 10000');
  cacheStatements(sqlite);
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }), ...log });
}

/** Compiled statements kept per connection, by SQL text. */
const statementCacheSize = 256;

/**
 * better-sqlite3 compiles SQL on every prepare(), and Kysely prepares every query anew, so a
 * send spent a sixth of its SQLite time recompiling the same few claim and record statements.
 * Keeps the last compiled statements by text (least recently used out). A cached statement
 * still being iterated by a streamed query is busy; the caller then gets a fresh one.
 */
function cacheStatements(sqlite: SqliteDatabase.Database): void {
  const compile = sqlite.prepare.bind(sqlite);
  const cache = new Map<string, SqliteDatabase.Statement>();
  sqlite.prepare = ((source: string) => {
    const hit = cache.get(source);
    if (hit && !hit.busy) {
      cache.delete(source);
      cache.set(source, hit);
      return hit;
    }
    const statement = compile(source);
    if (!hit) {
      cache.set(source, statement);
      if (cache.size > statementCacheSize) cache.delete(cache.keys().next().value!);
    }
    return statement;
  }) as typeof sqlite.prepare;
}

/** Migrates up or down to exactly the migration `name` (a key of the list above); for tests of a migration. */
export async function migrateTo(db: Db, name: string): Promise<void> {
  const { error } = await new Migrator({ db, provider }).migrateTo(name);
  if (error) throw error instanceof Error ? error : new Error(String(error));
}

/** Applies every pending migration; throws with the failing migration's error. */
export async function migrate(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
