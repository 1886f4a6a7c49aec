import { type Kysely, sql } from 'kysely';
import { refundUnsent } from '../balance.js';
import { dialectOf } from '../dialect.js';
import type { Database } from '../schema.js';
import type { Channel } from '../../domain/lifecycle.js';
import { bumpCounters, tally } from './counters.js';
import { fallBack } from './fall-back.js';

/** What happened to one leased message. */
export type Outcome =
  | { readonly id: number; readonly state: 'sent'; readonly providerId: string | null }
  | { readonly id: number; readonly state: 'failed'; readonly code: string; readonly detail: string }
  /** Skipped before sending (the contact was deleted meanwhile). */
  | { readonly id: number; readonly state: 'suppressed'; readonly code: string; readonly detail: string }
  /** A transient failure with attempts left: back to pending until `retryAt`. */
  | { readonly id: number; readonly state: 'pending'; readonly code: string; readonly detail: string; readonly retryAt: number };

/**
 * Records a batch's outcomes in one statement and one transaction, with the counters and
 * the per-minute series (DESIGN §4). Only rows still leased by this owner change: if the
 * lease expired and another worker re-claimed a row, its outcome is that worker's to write,
 * so a slow worker can never count a message twice. A message to retry whose campaign was
 * stopped (or an automation unpublished) meanwhile is cancelled instead, like every other unsent message of a stopped run.
 */
/** The batch's outcomes as a table `o` (id, state, provider_id, code, detail, retry_at), from one JSON parameter. */
function outcomesTable(db: Kysely<Database>, payload: string) {
  return dialectOf(db) === 'postgres'
    ? sql`jsonb_to_recordset(${payload}::jsonb) as o(id bigint, state text, provider_id text, code text, detail text, retry_at bigint)`
    : sql`(
        select json_extract(value, '$.id') as id, json_extract(value, '$.state') as state,
               json_extract(value, '$.provider_id') as provider_id, json_extract(value, '$.code') as code,
               json_extract(value, '$.detail') as detail, json_extract(value, '$.retry_at') as retry_at
        from json_each(${payload})
      ) as o`;
}

export async function recordOutcomes(
  db: Kysely<Database>,
  args: {
    runId: number;
    campaignId: string;
    workspaceId: string;
    owner: string;
    outcomes: readonly Outcome[];
    now: Date;
    /** The batch's cost was reserved (store/balance.ts): give back what did not go out, in this transaction. */
    charged?: boolean;
    /** The adapter's receipts name messages only by the provider's id: keep it in the indexed `receipt_key` too. */
    keyByProviderId?: boolean;
    /**
     * A campaign with fallback channels: these messages failed permanently on `from`, and move
     * on to the first of `next` their contact has an address on (store/ledger/fall-back.ts).
     */
    fallBack?: { readonly ids: readonly number[]; readonly from: Channel; readonly next: readonly Channel[] };
  },
): Promise<number> {
  if (args.outcomes.length === 0) return 0;
  const payload = JSON.stringify(
    args.outcomes.map((o) => ({
      id: o.id,
      state: o.state,
      provider_id: o.state === 'sent' ? o.providerId : null,
      code: o.state === 'sent' ? null : o.code,
      detail: o.state === 'sent' ? null : o.detail.slice(0, 1000),
      retry_at: o.state === 'pending' ? o.retryAt : null,
    })),
  );
  const nowIso = args.now.toISOString();
  // SQLite would drive this update from the (run_id, state) index and compare every leased
  // row with every outcome (3.3 ms a batch of 50); the unary + keeps those columns off the
  // index, so it looks each outcome up by primary key instead (0.2-0.3 ms). PostgreSQL
  // plans the join by id on its own.
  const guard =
    dialectOf(db) === 'postgres'
      ? sql`messages.run_id = ${args.runId} and messages.state = 'sending' and messages.lease_owner = ${args.owner}`
      : sql`+messages.run_id = ${args.runId} and +messages.state = 'sending' and messages.lease_owner = ${args.owner}`;
  return db.transaction().execute(async (trx) => {
    // Only a charged batch reads back each row's cost; a free channel's record stays as it was.
    const returning = args.charged ? sql`messages.state as state, messages.id as id, messages.cost as cost` : sql`messages.state as state`;
    const changed = await sql<{ state: string; id: number; cost: number }>`
      update messages
      set state = case
            when o.state = 'pending' and (select status from campaigns where id = ${args.campaignId}) in ('stopped', 'unpublished') then 'cancelled'
            else o.state end,
          provider_id = coalesce(o.provider_id, messages.provider_id),
          ${args.keyByProviderId ? sql`receipt_key = coalesce(o.provider_id, messages.receipt_key),` : sql``}
          error_code = o.code,
          error_detail = o.detail,
          sent_at = case when o.state = 'sent' then ${nowIso} else messages.sent_at end,
          next_attempt_at = coalesce(o.retry_at, messages.next_attempt_at),
          lease_owner = null,
          lease_until = null,
          updated_at = ${nowIso}
      from ${outcomesTable(db, payload)}
      where messages.id = o.id and ${guard}
      returning ${returning}
    `.execute(trx);
    if (args.charged)
      await refundUnsent(trx, {
        workspaceId: args.workspaceId,
        campaignId: args.campaignId,
        runId: args.runId,
        rows: changed.rows,
        note: null,
        now: args.now,
      });
    const deltas = tally(changed.rows);
    const n = changed.rows.length;
    if (args.fallBack && args.fallBack.ids.length > 0) {
      const moved = await fallBack(trx, { runId: args.runId, campaignId: args.campaignId, now: args.now, ...args.fallBack });
      deltas.failed = (deltas.failed ?? 0) - moved.length;
      deltas.pending = (deltas.pending ?? 0) + moved.length;
    }
    await bumpCounters(trx, args.runId, { ...deltas, sending: -n });
    const sent = deltas.sent ?? 0;
    const failed = deltas.failed ?? 0;
    if (sent + failed > 0) {
      const bucket = `${nowIso.slice(0, 16)}:00.000Z`;
      await trx
        .insertInto('run_series')
        .values({ run_id: args.runId, workspace_id: args.workspaceId, bucket, sent, failed })
        .onConflict((oc) =>
          oc.columns(['run_id', 'bucket']).doUpdateSet({
            sent: sql`run_series.sent + ${sent}`,
            failed: sql`run_series.failed + ${failed}`,
          }),
        )
        .execute();
    }
    return n;
  });
}
