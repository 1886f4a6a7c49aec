import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type DatabaseLocation, type Db, migrate, openDatabase } from '../src/store/database.js';

/**
 * The databases every store, engine and API test runs on (STYLE habit 9: the same test
 * loops over SQLite and PostgreSQL, as Kysely's own tests do). PostgreSQL tests need a
 * server: HERALD_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/postgres. Without
 * one they are skipped with a message saying how to enable them; under CI they fail instead.
 */
export const pgAdminUrl = process.env.HERALD_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function reachable(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export const pgAvailable = await reachable(pgAdminUrl);
if (!pgAvailable) {
  const how =
    `PostgreSQL is not reachable at ${pgAdminUrl}: its tests are skipped. To run them, start it ` +
    '(pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or set HERALD_TEST_PG_URL.';
  if (process.env.CI) throw new Error(`CI needs PostgreSQL. ${how}`);
  console.warn(how);
}

export type TestDialect = 'sqlite' | 'postgres';
/** The dialects to loop over here: both, or SQLite alone when PostgreSQL is not reachable. */
export const dialects: readonly TestDialect[] = pgAvailable ? ['sqlite', 'postgres'] : ['sqlite'];

export interface TestDatabase {
  readonly location: DatabaseLocation;
  /** Drops what the test created (a PostgreSQL database of its own). */
  drop(): Promise<void>;
}

/** A fresh, empty database of the dialect: in-memory SQLite, or a new PostgreSQL database. */
export async function freshDatabase(dialect: TestDialect): Promise<TestDatabase> {
  if (dialect === 'sqlite') return { location: { dialect: 'sqlite', path: ':memory:' }, drop: async () => undefined };
  const name = `herald_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: pgAdminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(pgAdminUrl);
  url.pathname = `/${name}`;
  return {
    location: { dialect: 'postgres', url: url.toString() },
    async drop() {
      const client = new pg.Client({ connectionString: pgAdminUrl });
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}

/** A migrated database of the dialect, for store tests; `close` destroys and drops it. */
export async function migratedDatabase(dialect: TestDialect): Promise<{ db: Db; close(): Promise<void> }> {
  const fresh = await freshDatabase(dialect);
  const db = openDatabase(fresh.location);
  await migrate(db);
  return {
    db,
    async close() {
      await db.destroy();
      await fresh.drop();
    },
  };
}
