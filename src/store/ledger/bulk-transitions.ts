import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { MessageState } from '../../domain/messages.js';
import { refundUnsent } from '../balance.js';
import type { Database } from '../schema.js';
import { bumpCounters, tally } from './counters.js';

/**
 * Moves every message of a run from one state to another in one statement, with the
 * counters, inside the caller's transaction: stop (pending → cancelled), restart
 * (cancelled → pending), retry failed (failed → pending). A message back to `pending` is due
 * at once, or at `due` (an expression over the row: a restart of a local-time campaign).
 */
export async function moveMessages(
  trx: Kysely<Database>,
  args: { runId: number; from: MessageState; to: MessageState; now: Date; due?: RawBuilder<number> },
): Promise<number> {
  const reset = args.to === 'pending';
  const result = await trx
    .updateTable('messages')
    .set({
      state: args.to,
      updated_at: args.now.toISOString(),
      ...(reset ? { attempts: 0, next_attempt_at: args.due ?? 0, error_code: null, error_detail: null } : {}),
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
 * `cancelled` when the campaign is stopped (an automation unpublished) — decided in the statement itself, so a stop
 * committed a moment earlier is never missed. Such a message may have reached the
 * provider before the crash; it carries the same Message-ID when sent again, so an
 * idempotent provider drops the copy (DESIGN §4).
 */
export async function recoverExpiredLeases(
  db: Kysely<Database>,
  args: { runId: number; campaignId: string; now: Date; keepOwners?: readonly string[] },
): Promise<number> {
  // The caller's own live batches are never taken back: it will record them itself.
  const keep = args.keepOwners?.length ? sql`and lease_owner not in (${sql.join(args.keepOwners)})` : sql``;
  return db.transaction().execute(async (trx) => {
    const result = await sql<{ state: string; id: number; cost: number; workspace_id: string }>`
      update messages
      set state = case when (select status from campaigns where id = ${args.campaignId}) in ('stopped', 'unpublished') then 'cancelled' else 'pending' end,
          lease_owner = null, lease_until = null, updated_at = ${args.now.toISOString()}
      where run_id = ${args.runId} and state = 'sending' and lease_until < ${args.now.getTime()} ${keep}
      returning state, id, cost, workspace_id
    `.execute(trx);
    // A dead worker's reservation comes back with its messages (store/balance.ts): if the batch
    // did reach the provider, the re-send is charged instead, so each message is paid once.
    const first = result.rows[0];
    if (first)
      await refundUnsent(trx, {
        workspaceId: first.workspace_id,
        campaignId: args.campaignId,
        runId: args.runId,
        rows: result.rows,
        note: 'lease expired: the worker died before recording the batch',
        now: args.now,
      });
    const deltas = tally(result.rows);
    await bumpCounters(trx, args.runId, { ...deltas, sending: -result.rows.length });
    return result.rows.length;
  });
}

/**
 * Extends the leases a worker holds on a run (its heartbeat while a batch is at the
 * provider), so a slow batch is never taken for a dead one and sent twice.
 */
export async function extendLeases(db: Kysely<Database>, args: { runId: number; owner: string; until: number }): Promise<number> {
  const result = await db
    .updateTable('messages')
    .set({ lease_until: args.until })
    .where('run_id', '=', args.runId)
    .where('state', '=', 'sending')
    .where('lease_owner', '=', args.owner)
    .executeTakeFirst();
  return Number(result.numUpdatedRows);
}
