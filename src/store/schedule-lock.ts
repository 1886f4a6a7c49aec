import { type Kysely, sql } from 'kysely';
import { dialectOf } from './dialect.js';
import type { Database } from './schema.js';

/** The advisory lock key of the schedule firer ("herald:schedules" hashed to a bigint by hand). */
const scheduleLockKey = 7_318_046_451_201n;

/**
 * Runs `fire` only in the one process that holds the schedule lock right now (DESIGN §4:
 * one of many workers fires schedules). On PostgreSQL that is a transaction-scoped
 * advisory lock, released when `fire` returns; the others skip this round. SQLite has one
 * writer, and each transition is version-guarded anyway, so there it simply runs.
 * Returns whether `fire` ran.
 */
export async function withScheduleLock(db: Kysely<Database>, fire: () => Promise<void>): Promise<boolean> {
  if (dialectOf(db) !== 'postgres') {
    await fire();
    return true;
  }
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(${scheduleLockKey.toString()}::bigint) as locked`.execute(trx);
    if (!rows[0]?.locked) return false;
    await fire();
    return true;
  });
}
