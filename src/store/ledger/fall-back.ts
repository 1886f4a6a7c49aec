import { type Kysely, sql } from 'kysely';
import type { Channel } from '../../domain/lifecycle.js';
import { chainAddress, chainColumns } from '../addresses.js';
import { dialectOf, inList } from '../dialect.js';
import type { Database } from '../schema.js';

/**
 * Per-recipient fallback after a permanent failure (DESIGN §8), one statement per batch:
 * of the messages that just failed permanently on `from`, each whose contact has an address
 * on one of the `next` channels goes back to `pending` on the first of them, with that
 * address, its attempts reset and due at once. Runs inside recordOutcomes' transaction,
 * right after the failures were written, so the counters move (failed → pending) with it and
 * no reader ever sees the message failed for good. Returns the ids it moved on.
 *
 * The failure stays visible: `error_detail` reads "sms failed (TWILIO_21610: …), went on to
 * telegram" until the next channel's outcome replaces it, and `fallback_trail` keeps
 * "sms: TWILIO_21610 …" for good (joined by "; " when a message falls back twice).
 *
 * A stopped campaign's failures stay failed: stop cancels the unsent, it does not re-queue.
 * The next address is not checked against the suppression list here; the claim does that
 * (store/ledger/suppress-claimed.ts) on the message's own channel, as for every message.
 */
export async function fallBack(
  trx: Kysely<Database>,
  args: { runId: number; campaignId: string; ids: readonly number[]; from: Channel; next: readonly Channel[]; now: Date },
): Promise<number[]> {
  if (args.ids.length === 0 || args.next.length === 0) return [];
  const dialect = dialectOf(trx);
  const nextChannel = sql`case ${sql.join(
    args.next.map((channel, i) => sql`when ${sql.ref(`x.a${i}`)} is not null then cast(${channel} as text)`),
    sql` `,
  )} end`;
  const failure = sql`coalesce(messages.error_code, 'FAILED') || ': ' || coalesce(messages.error_detail, '')`;
  const trail = sql`cast(${args.from} as text) || ': ' || ${failure}`;
  const { rows } = await sql<{ id: number }>`
    update messages
    set channel = n.channel, address = n.address, state = 'pending', attempts = 0, next_attempt_at = 0,
        lease_owner = null, lease_until = null,
        error_detail = cast(${args.from} as text) || ' failed (' || ${failure} || '), went on to ' || n.channel,
        fallback_trail = case when messages.fallback_trail is null then ${trail}
                              else messages.fallback_trail || '; ' || ${trail} end,
        updated_at = ${args.now.toISOString()}
    from (
      select x.id, ${chainAddress(args.next, 'x')} as address, ${nextChannel} as channel
      from (
        select m.id, ${chainColumns(args.next, dialect)}
        from messages m
        join contacts c on c.id = m.contact_id
        where ${inList(sql.ref('m.id'), [...args.ids])} and m.run_id = ${args.runId} and m.state = 'failed'
      ) x
    ) n
    where messages.id = n.id and messages.run_id = ${args.runId} and n.address is not null
      and (select status from campaigns where id = ${args.campaignId}) <> 'stopped'
    returning messages.id as id
  `.execute(trx);
  return rows.map((r) => Number(r.id));
}
