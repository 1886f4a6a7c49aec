import { type Kysely, sql } from 'kysely';
import type { Channel } from '../../domain/lifecycle.js';
import { suppressedAddress, suppressionKindOf } from '../addresses.js';
import { inList } from '../dialect.js';
import type { Database } from '../schema.js';
import { bumpCounters } from './counters.js';

/**
 * The second suppression check (DESIGN §4), after a claim and before the send: a message
 * whose address was suppressed since the snapshot (an unsubscribe, a bounce or a complaint
 * from an earlier campaign, a person's manual entry while this one was paused) turns
 * `suppressed` in one statement, with the counters, in one transaction. Only rows still
 * leased by `owner` change. Returns the messages that may go out, in their order.
 *
 * The claimed ids are the first key of the lookup (`id in (…)`, at most one batch), and the
 * suppression probe is one primary-key lookup each, so the check costs a batch's worth of
 * index probes, read-only unless one is found; channels the suppression list does not cover
 * skip it.
 */
export async function suppressClaimed<M extends { readonly id: number }>(
  db: Kysely<Database>,
  args: { runId: number; channel: Channel; owner: string; messages: readonly M[]; now: Date },
): Promise<M[]> {
  if (args.messages.length === 0 || suppressionKindOf(args.channel) === null) return [...args.messages];
  const ids = args.messages.map((m) => m.id);
  // Almost always nobody in the batch was suppressed meanwhile: find that out with a read,
  // and take the write lock (and a commit) only when there is something to change.
  const { rows: hits } = await sql<{ id: number }>`
    select id from messages
    where ${inList(sql.ref('id'), ids)}
      and run_id = ${args.runId} and state = 'sending' and lease_owner = ${args.owner}
      and ${suppressedAddress(args.channel, sql.ref('messages.workspace_id'), sql.ref('messages.address'))}
    limit 1
  `.execute(db);
  if (hits.length === 0) return [...args.messages];
  const gone = await db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ id: number }>`
      update messages
      set state = 'suppressed', lease_owner = null, lease_until = null, error_code = 'ADDRESS_SUPPRESSED',
          error_detail = 'The address was added to the suppression list after the audience snapshot.',
          updated_at = ${args.now.toISOString()}
      where ${inList(sql.ref('id'), ids)}
        and run_id = ${args.runId} and state = 'sending' and lease_owner = ${args.owner}
        and ${suppressedAddress(args.channel, sql.ref('messages.workspace_id'), sql.ref('messages.address'))}
      returning id
    `.execute(trx);
    await bumpCounters(trx, args.runId, { sending: -rows.length, suppressed: rows.length });
    return new Set(rows.map((r) => Number(r.id)));
  });
  return gone.size === 0 ? [...args.messages] : args.messages.filter((m) => !gone.has(m.id));
}
