import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { Channel } from '../../domain/lifecycle.js';
import { addressOf, suppressedAddress } from '../addresses.js';
import { dialectOf, isWriteRace } from '../dialect.js';
import type { Database } from '../schema.js';
import type { TriggerEvent } from './claim-batch.js';
import { bumpCounters, tally } from './counters.js';

/**
 * The run of an automation for one period (a contact's local year for date triggers, an
 * event's day): found, or created with its counters. The period is the run's
 * `occurrence_at`, unique per campaign, so two workers (or the API and the engine) that
 * create it at once end up with the same run.
 */
export async function ensurePeriodRun(
  db: Kysely<Database>,
  args: { workspaceId: string; campaignId: string; channel: string; period: string; now: Date },
): Promise<number> {
  const find = () =>
    db
      .selectFrom('runs')
      .select('id')
      .where('campaign_id', '=', args.campaignId)
      .where('occurrence_at', '=', args.period)
      .executeTakeFirst();
  for (let attempt = 1; ; attempt++) {
    const found = await find();
    if (found) return found.id;
    try {
      return await db.transaction().execute(async (trx) => {
        const { n } = await trx
          .selectFrom('runs')
          .select(sql<number>`coalesce(max(number), 0)`.as('n'))
          .where('campaign_id', '=', args.campaignId)
          .executeTakeFirstOrThrow();
        const run = await trx
          .insertInto('runs')
          .values({
            workspace_id: args.workspaceId,
            campaign_id: args.campaignId,
            number: Number(n) + 1,
            channel: args.channel,
            snapshot_cursor: 0,
            // Nothing to snapshot: contacts enter one trigger at a time.
            snapshot_done: 1,
            created_at: args.now.toISOString(),
            occurrence_at: args.period,
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('run_counters')
          .values({ run_id: run.id, workspace_id: args.workspaceId } as never)
          .execute();
        // The latest period is what the campaign's stats and messages show.
        await trx.updateTable('campaigns').set({ current_run_id: run.id }).where('id', '=', args.campaignId).execute();
        return run.id;
      });
    } catch (err) {
      if (!isWriteRace(err) || attempt >= 5) throw err;
    }
  }
}

/**
 * Contacts entering an automation: one `INSERT … SELECT` of a message for every contact of
 * the workspace matching `where` (a predicate over `contacts as c`: the trigger, the zones
 * where it is time, the entry conditions) with an address for the channel, unless the
 * frequency cap holds them back; `pending`, or `suppressed` for an address on the
 * suppression list. The (run_id, contact_id) key drops whoever already has a message of
 * this period, so evaluating again, on any worker, after any restart, adds nobody twice.
 * Returns how many messages were written.
 */
export async function enterContacts(
  db: Kysely<Database>,
  args: {
    runId: number;
    workspaceId: string;
    campaignId: string;
    channel: Channel;
    where: RawBuilder<boolean>;
    /** At most one message per contact per this many days (besides once per period). */
    capDays: number | null;
    /** The API event that lets the contact in, kept on the message for its template. */
    event?: TriggerEvent;
    now: Date;
  },
): Promise<number> {
  const nowIso = args.now.toISOString();
  const cap = underCap(args.campaignId, args.capDays, args.now);
  const event = args.event ? JSON.stringify({ name: args.event.name, properties: args.event.properties }) : null;
  return db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ state: string }>`
      insert into messages (workspace_id, run_id, contact_id, state, address, attempts, next_attempt_at, updated_at, event)
      select a.workspace_id, cast(${args.runId} as bigint), a.id,
             case when ${suppressedAddress(args.channel, args.workspaceId, sql.ref('a.address'))} then 'suppressed' else 'pending' end,
             a.address, 0, 0, cast(${nowIso} as text), cast(${event} as text)
      from (
        select c.workspace_id, c.id, ${addressOf(args.channel, dialectOf(trx))} as address
        from contacts c
        where c.workspace_id = ${args.workspaceId} and ${args.where} and ${cap}
      ) a
      where a.address is not null
      on conflict (run_id, contact_id) do nothing
      returning state
    `.execute(trx);
    await bumpCounters(trx, args.runId, tally(rows));
    return rows.length;
  });
}

/**
 * The frequency cap as a predicate over `contacts as c`: no message of the automation is
 * waiting for the contact or was sent to them in the last `capDays` days (true without a cap).
 */
export function underCap(campaignId: string, capDays: number | null, now: Date): RawBuilder<boolean> {
  if (!capDays) return sql<boolean>`1 = 1`;
  const since = new Date(now.getTime() - capDays * 86_400_000).toISOString();
  return sql<boolean>`not exists (
    select 1 from messages m join runs r on r.id = m.run_id
    where r.campaign_id = ${campaignId} and m.contact_id = c.id
      and (m.state in ('pending', 'sending') or m.sent_at >= ${since})
  )`;
}

/** Live automations' period runs with messages to send: what the dispatcher claims from besides sending campaigns. */
export async function automationRunsWithWork(db: Kysely<Database>) {
  return db
    .selectFrom('campaigns')
    .innerJoin('runs', 'runs.campaign_id', 'campaigns.id')
    .innerJoin('run_counters', 'run_counters.run_id', 'runs.id')
    .selectAll('campaigns')
    .select('runs.id as run_id')
    .where('campaigns.status', '=', 'live')
    .where('run_counters.pending', '>', 0)
    .orderBy('runs.id')
    .execute();
}
