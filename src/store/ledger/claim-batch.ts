import { type Kysely, sql } from 'kysely';
import type { Channel } from '../../domain/lifecycle.js';
import { dialectOf } from '../dialect.js';
import type { Database } from '../schema.js';
import { bumpCounters } from './counters.js';

export interface TriggerEvent {
  readonly name: string;
  readonly properties: Record<string, unknown>;
}

export interface ClaimedMessage {
  readonly id: number;
  readonly runId: number;
  readonly contactId: number;
  readonly address: string;
  /** The fallback channel it goes out on; null: the run's own (store/ledger/fall-back.ts). */
  readonly channel?: Channel | null;
  readonly attempts: number;
  /** The API event that let the contact into an automation, for `{{ event.properties.… }}`. */
  readonly event?: TriggerEvent | null;
  /** Null when the contact was deleted after the snapshot: the message is not sent. */
  readonly contact: {
    readonly email: string | null;
    readonly phone: string | null;
    readonly firstName: string | null;
    readonly lastName: string | null;
    readonly attributes: Record<string, unknown>;
    /** The contact's own time zone, for quiet hours (null: the workspace's). */
    readonly timeZone: string | null;
  } | null;
}

/**
 * Leases the next batch of due `pending` messages of one run to a worker (DESIGN §4),
 * only while the campaign is `sending`: pause and stop are checked here, before every
 * claim, so a pause takes effect within one batch. SQLite has one writer, so the
 * `UPDATE … RETURNING` inside a transaction is the whole lock; on PostgreSQL the inner
 * select takes `FOR UPDATE SKIP LOCKED`, so workers never claim the same row.
 */
export async function claimBatch(
  db: Kysely<Database>,
  args: { runId: number; campaignId: string; owner: string; limit: number; leaseMs: number; now: Date },
): Promise<ClaimedMessage[]> {
  const nowMs = args.now.getTime();
  return db.transaction().execute(async (trx) => {
    const pg = dialectOf(db) === 'postgres';
    // PostgreSQL: a share lock on the campaign row orders this claim against a pause or stop
    // (which update that row): either it commits first and this read sees it, or it waits for
    // this claim to commit, so nothing is claimed after a pause is acknowledged.
    let read = trx.selectFrom('campaigns').select(['status', 'current_run_id']).where('id', '=', args.campaignId);
    if (pg) read = read.forShare();
    const campaign = await read.executeTakeFirst();
    // A live automation sends from any of its period runs; everything else from its current run while sending.
    const live = campaign?.status === 'live';
    if (!live && (campaign?.status !== 'sending' || campaign.current_run_id !== args.runId)) return [];

    // PostgreSQL: concurrent workers skip each other's rows instead of waiting on them.
    const lock = pg ? sql`for update skip locked` : sql``;
    const claimed = await sql<{
      id: number;
      contact_id: number;
      address: string;
      channel: string | null;
      attempts: number;
      event: string | null;
    }>`
      update messages
      set state = 'sending', lease_owner = ${args.owner}, lease_until = ${nowMs + args.leaseMs},
          attempts = attempts + 1, updated_at = ${args.now.toISOString()}
      where id in (
        select id from messages
        where run_id = ${args.runId} and state = 'pending' and next_attempt_at <= ${nowMs}
        order by id
        limit ${args.limit}
        ${lock}
      )
      returning id, contact_id, address, channel, attempts, event
    `.execute(trx);
    const rows = claimed.rows;
    if (rows.length === 0) return [];
    await bumpCounters(trx, args.runId, { pending: -rows.length, sending: rows.length });

    const contacts = await trx
      .selectFrom('contacts')
      .select(['id', 'email', 'phone', 'first_name', 'last_name', 'attributes', 'time_zone'])
      .where(
        'id',
        'in',
        rows.map((r) => r.contact_id),
      )
      .execute();
    const byId = new Map(contacts.map((c) => [c.id, c]));
    return rows
      .sort((a, b) => a.id - b.id)
      .map((r) => {
        const c = byId.get(r.contact_id);
        return {
          id: r.id,
          runId: args.runId,
          contactId: r.contact_id,
          address: r.address,
          channel: (r.channel as Channel | null) ?? null,
          attempts: r.attempts,
          event: r.event === null ? null : (JSON.parse(r.event) as TriggerEvent),
          contact: c
            ? {
                email: c.email,
                phone: c.phone,
                firstName: c.first_name,
                lastName: c.last_name,
                attributes: JSON.parse(c.attributes) as Record<string, unknown>,
                timeZone: c.time_zone,
              }
            : null,
        };
      });
  });
}
