import { type Kysely, sql } from 'kysely';
import type { Database } from '../schema.js';
import { bumpCounters } from './counters.js';

/**
 * Gives claimed messages back unsent until a later time (quiet hours found at claim
 * time): `sending → pending` with the new `next_attempt_at`, and the attempt the claim
 * counted returned, since nothing was tried. One statement per distinct time (a batch
 * spans a handful of zones), with the counters, in one transaction; only rows still
 * leased by `owner` change.
 */
export async function deferClaimed(
  db: Kysely<Database>,
  args: { runId: number; owner: string; until: ReadonlyMap<number, readonly number[]>; now: Date },
): Promise<number> {
  if (args.until.size === 0) return 0;
  return db.transaction().execute(async (trx) => {
    let moved = 0;
    for (const [at, ids] of args.until) {
      const result = await trx
        .updateTable('messages')
        .set({
          state: 'pending',
          lease_owner: null,
          lease_until: null,
          attempts: sql`attempts - 1`,
          next_attempt_at: at,
          updated_at: args.now.toISOString(),
        })
        .where('run_id', '=', args.runId)
        .where('state', '=', 'sending')
        .where('lease_owner', '=', args.owner)
        .where('id', 'in', ids)
        .executeTakeFirst();
      moved += Number(result.numUpdatedRows);
    }
    await bumpCounters(trx, args.runId, { sending: -moved, pending: moved });
    return moved;
  });
}
