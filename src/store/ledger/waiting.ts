import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';

/**
 * How many pending messages of a run wait for their recipient's local send time or the end
 * of their quiet hours: never tried yet (a deferral gives its attempt back) and due later
 * than `now`. Read from the (run_id, state, id) index and the rows it names, so it costs
 * the run's pending rows; only campaigns with delivery rules ask.
 */
export async function countWaiting(db: Kysely<Database>, runId: number, now: Date): Promise<number> {
  const row = await db
    .selectFrom('messages')
    .select(sql<number>`count(*)`.as('n'))
    .where('run_id', '=', runId)
    .where('state', '=', 'pending')
    .where('attempts', '=', 0)
    .where('next_attempt_at', '>', now.getTime())
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
