import { type Kysely, sql } from 'kysely';
import type { MessageState } from '../../domain/messages.js';
import type { Database } from '../schema.js';
import { bumpCounters } from './counters.js';

/**
 * Moves every message of a run from one state to another in one statement, with the
 * counters, inside the caller's transaction: stop (pending → cancelled), restart
 * (cancelled → pending), retry failed (failed → pending).
 */
export async function moveMessages(
  trx: Kysely<Database>,
  args: { runId: number; from: MessageState; to: MessageState; now: Date },
): Promise<number> {
  const reset = args.to === 'pending';
  const result = await trx
    .updateTable('messages')
    .set({
      state: args.to,
      updated_at: args.now.toISOString(),
      ...(reset ? { attempts: 0, next_attempt_at: 0, error_code: null, error_detail: null } : {}),
    })
    .where('run_id', '=', args.runId)
    .where('state', '=', args.from)
    .executeTakeFirst();
  const n = Number(result.numUpdatedRows);
  await bumpCounters(trx, args.runId, { [args.from]: -n, [args.to]: n });
  return n;
}

/**
 * Returns messages whose lease expired (their worker died) to `pending`, or to
 * `cancelled` when the campaign was stopped meanwhile. Such a message may have reached
 * the provider before the crash; it carries the same Message-ID when sent again, so an
 * idempotent provider drops the copy (DESIGN §4).
 */
export async function recoverExpiredLeases(
  db: Kysely<Database>,
  args: { runId: number; to: 'pending' | 'cancelled'; now: Date },
): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const result = await sql<{ id: number }>`
      update messages
      set state = ${args.to}, lease_owner = null, lease_until = null, updated_at = ${args.now.toISOString()}
      where run_id = ${args.runId} and state = 'sending' and lease_until < ${args.now.getTime()}
      returning id
    `.execute(trx);
    const n = result.rows.length;
    await bumpCounters(trx, args.runId, { sending: -n, [args.to]: n });
    return n;
  });
}
