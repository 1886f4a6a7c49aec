import { type RawBuilder, sql } from 'kysely';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import {
  type AutomationEvent,
  type DateTrigger,
  type EventResult,
  type Trigger,
  eventPeriod,
  firesToday,
  firingKeys,
  isDateTrigger,
  yearPeriod,
} from '../domain/automation.js';
import type { CalendarEntry } from '../domain/calendar.js';
import type { Audience, LaunchType, Pacing } from '../domain/campaign.js';
import { HeraldError } from '../domain/errors.js';
import type { CampaignStatus, Channel } from '../domain/lifecycle.js';
import { inZone, wallTime } from '../domain/schedule.js';
import { type Segment, addDays, effectiveZone, isKnownZone } from '../domain/segment.js';
import { addressOf } from '../store/addresses.js';
import { audienceParts, audienceWhere } from '../store/audience.js';
import type { Db } from '../store/database.js';
import { dialectOf, inList } from '../store/dialect.js';
import { ensurePeriodRun, enterContacts, underCap } from '../store/ledger/automation-entries.js';
import { recoverExpiredLeases } from '../store/ledger/bulk-transitions.js';
import type { CampaignRow } from '../store/schema.js';
import { compileSegment, dateAttributeSql } from '../store/segment-sql.js';
import type { Clock } from './clock.js';

/** Live automations are evaluated at most once per this much clock time each. */
const evaluateEveryMs = 60_000;
/**
 * Between full passes a date trigger looks only at the zones where its hour came since the
 * last pass (those are the only contacts a clock tick makes due), which cuts most passes
 * over 10,000 contacts from about 21 ms to a few. A full pass (every zone past the hour
 * today) runs at start and at least this often, for contacts whose data made them due
 * later in the day (an import of today's birthdays, a contact added to the list).
 */
const fullPassEveryMs = 6 * 3_600_000;

/**
 * Runs automations (DESIGN §2; seed 000's Live/Unpublished): date triggers (birthdays,
 * renewals) are evaluated as time passes, events arrive through the API. Contacts enter
 * with one set-based statement per period and zone group (store/ledger/automation-entries);
 * the dispatcher sends their messages like any run's. Only `live` automations let contacts
 * in or messages out: unpublishing stops both, publishing again resumes, and the ledger's
 * per-period key means nobody gets a message twice for it.
 */
export class Automations {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #lastEvaluated = new Map<string, number>();
  readonly #lastFullPass = new Map<string, number>();
  #pass: { readonly at: number; readonly done: Promise<number> } | null = null;
  #hasLive = true;
  #liveCheckedAt = 0;

  constructor(deps: { db: Db; clock: Clock; log: Logger }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#log = deps.log;
  }

  /**
   * Whether a live automation may exist: one did at the last pass, or that pass is more than
   * 5 s old (a worker that does not hold the schedule lock never passes). The dispatcher's
   * claim loop asks for automation runs only then, so sends without automations pay no
   * extra query per batch.
   */
  get hasLive(): boolean {
    return this.#hasLive || Date.now() - this.#liveCheckedAt > 5000;
  }

  /**
   * One pass: every live automation with a date trigger lets in the contacts whose day it
   * is and whose local hour has come; expired leases of automation runs go back to pending
   * (`keepOwners`: the caller's live batches). Returns how many messages were queued.
   */
  async tick(keepOwners: readonly string[] = []): Promise<number> {
    // One pass at a time: a caller arriving during a pass for the same instant (the engine's
    // loop, a test) joins it and learns when its contacts are in, instead of finding the pass
    // throttled and empty; a pass for an earlier instant is let finish, then a new one runs.
    const now = this.#clock.now();
    while (this.#pass && this.#pass.at !== now.getTime()) await this.#pass.done.catch(() => 0);
    if (!this.#pass) {
      const done = this.#tick(now, keepOwners).finally(() => {
        this.#pass = null;
      });
      this.#pass = { at: now.getTime(), done };
    }
    return this.#pass.done;
  }

  async #tick(now: Date, keepOwners: readonly string[]): Promise<number> {
    const automations = await this.#db
      .selectFrom('campaigns')
      .selectAll()
      .where('status', 'in', ['live', 'unpublished'])
      .where('kind', '=', 'automation')
      .execute();
    this.#hasLive = automations.some((c) => c.status === 'live');
    this.#liveCheckedAt = Date.now();
    let queued = 0;
    for (const campaign of automations) {
      await this.#recoverLeases(campaign, now, keepOwners);
      if (campaign.status !== 'live' || !campaign.trigger) continue;
      const trigger = JSON.parse(campaign.trigger) as Trigger;
      if (trigger.type === 'event') continue;
      const last = this.#lastEvaluated.get(campaign.id);
      if (last !== undefined && now.getTime() - last < evaluateEveryMs && now.getTime() >= last) continue;
      this.#lastEvaluated.set(campaign.id, now.getTime());
      const lastFull = this.#lastFullPass.get(campaign.id);
      const full = last === undefined || lastFull === undefined || now.getTime() - lastFull >= fullPassEveryMs || now.getTime() < last;
      if (full) this.#lastFullPass.set(campaign.id, now.getTime());
      try {
        queued +=
          trigger.type === 'segment_entry'
            ? await this.#evaluateSegment(campaign, trigger, now)
            : await this.#evaluateDate(campaign, trigger, now, full ? null : last!);
      } catch (err) {
        this.#log.error({ err, campaign: campaign.id }, 'could not evaluate an automation; will try again');
        this.#lastEvaluated.delete(campaign.id);
        this.#lastFullPass.delete(campaign.id);
      }
    }
    return queued;
  }

  async #recoverLeases(campaign: CampaignRow, now: Date, keepOwners: readonly string[]): Promise<void> {
    const busy = await this.#db
      .selectFrom('runs')
      .innerJoin('run_counters', 'run_counters.run_id', 'runs.id')
      .select('runs.id')
      .where('runs.campaign_id', '=', campaign.id)
      .where('run_counters.sending', '>', 0)
      .execute();
    for (const run of busy) await recoverExpiredLeases(this.#db, { runId: run.id, campaignId: campaign.id, now, keepOwners });
  }

  /**
   * Date triggers: for each zone of the workspace's contacts (and the workspace's own, for
   * contacts without a known zone), whether the chosen hour has come there today, since the
   * automation was published (and, between full passes, since `since`); the zones
   * where it has are grouped by their local year (two around New Year), and each group is
   * one INSERT … SELECT into that year's run: contacts of those zones for whom today
   * (their own) is the day, in the audience, under the frequency cap. A contact whose day
   * it is enters once, at the first evaluation at or after the hour; the year's run keeps
   * them from entering again.
   */
  async #evaluateDate(campaign: CampaignRow, trigger: DateTrigger, now: Date, since: number | null): Promise<number> {
    const workspaceZone = await this.#zoneOf(campaign.workspace_id);
    const fallback = effectiveZone(null, workspaceZone);
    const rows = await this.#db
      .selectFrom('contacts')
      .select('time_zone')
      .distinct()
      .where('workspace_id', '=', campaign.workspace_id)
      .where('time_zone', 'is not', null)
      .execute();
    const known = rows.map((r) => r.time_zone!).filter((z) => isKnownZone(z));
    const byYear = new Map<number, { zones: string[]; fallback: boolean }>();
    // Live since its last publish: a contact whose hour passed before that waits for next year, as
    // with a local-time send launched after the hour (Braze); a restart after downtime still catches up.
    const liveSince = campaign.launched_at ? Date.parse(campaign.launched_at) : 0;
    const due = (zone: string) => {
      const local = DateTime.fromJSDate(now, { zone });
      if (local.hour < trigger.hour) return null;
      const at = wallTime(local.year, local.month, local.day, trigger.hour * 60, zone).getTime();
      return at >= liveSince && (since === null || at > since) ? local.year : null;
    };
    for (const zone of known) {
      const year = due(zone);
      if (year === null) continue;
      const group = byYear.get(year) ?? { zones: [], fallback: false };
      group.zones.push(zone);
      byYear.set(year, group);
    }
    const fallbackYear = due(fallback);
    if (fallbackYear !== null) {
      const group = byYear.get(fallbackYear) ?? { zones: [], fallback: false };
      group.fallback = true;
      byYear.set(fallbackYear, group);
    }
    if (byYear.size === 0) return 0;

    const scope = { workspaceId: campaign.workspace_id, now, defaultTimeZone: workspaceZone };
    const fires = await compileSegment(this.#db, firesToday(trigger), scope);
    const audience = await this.#audience(campaign, now, workspaceZone);
    const pacing = JSON.parse(campaign.pacing) as Pacing;
    let queued = 0;
    for (const [year, group] of byYear) {
      const inZones: RawBuilder<boolean>[] = [];
      if (group.zones.length) inZones.push(inList(sql.ref('c.time_zone'), group.zones));
      if (group.fallback) inZones.push(sql<boolean>`(c.time_zone is null or not ${inList(sql.ref('c.time_zone'), known)})`);
      const runId = await ensurePeriodRun(this.#db, {
        workspaceId: campaign.workspace_id,
        campaignId: campaign.id,
        channel: campaign.channel,
        period: yearPeriod(year),
        now,
      });
      queued += await enterContacts(this.#db, {
        runId,
        workspaceId: campaign.workspace_id,
        campaignId: campaign.id,
        channel: campaign.channel as Channel,
        where: sql<boolean>`(${sql.join(inZones, sql` or `)}) and ${fires} and ${audience}`,
        capDays: pacing.frequencyCapDays ?? null,
        now,
      });
    }
    return queued;
  }

  /**
   * Segment entry: contacts in the segment now who were not at the last evaluation enter
   * (one INSERT … SELECT into today's run, under the entry conditions and the cap); then
   * the membership is taken again (new members in, leavers out) in the same transaction
   * order. The first evaluation after a publish only takes the membership: those already
   * in the segment then do not enter.
   */
  async #evaluateSegment(campaign: CampaignRow, trigger: Extract<Trigger, { type: 'segment_entry' }>, now: Date): Promise<number> {
    const db = this.#db;
    const workspaceZone = await this.#zoneOf(campaign.workspace_id);
    const segment = await db
      .selectFrom('segments')
      .select('rule')
      .where('workspace_id', '=', campaign.workspace_id)
      .where('id', '=', trigger.segmentId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    const scope = { workspaceId: campaign.workspace_id, now, defaultTimeZone: workspaceZone };
    // A deleted segment lets nobody in, and everybody leaves.
    const inSegment = segment ? await compileSegment(db, JSON.parse(segment.rule) as Segment, scope) : sql<boolean>`1 = 0`;
    const notMember = sql<boolean>`not exists (select 1 from automation_members am where am.campaign_id = ${campaign.id} and am.contact_id = c.id)`;
    const state = await db.selectFrom('automation_state').select('evaluated_at').where('campaign_id', '=', campaign.id).executeTakeFirst();
    const baseline = !state || (campaign.launched_at !== null && state.evaluated_at < campaign.launched_at);
    let queued = 0;
    if (!baseline) {
      const audience = await this.#audience(campaign, now, workspaceZone);
      const entering = sql<boolean>`${inSegment} and ${notMember} and ${audience}`;
      const any = await db
        .selectFrom('contacts as c')
        .select('c.id')
        .where('c.workspace_id', '=', campaign.workspace_id)
        .where(entering)
        .limit(1)
        .executeTakeFirst();
      if (any) {
        const runId = await ensurePeriodRun(db, {
          workspaceId: campaign.workspace_id,
          campaignId: campaign.id,
          channel: campaign.channel,
          period: eventPeriod(now),
          now,
        });
        queued = await enterContacts(db, {
          runId,
          workspaceId: campaign.workspace_id,
          campaignId: campaign.id,
          channel: campaign.channel as Channel,
          where: entering,
          capDays: (JSON.parse(campaign.pacing) as Pacing).frequencyCapDays ?? null,
          now,
        });
      }
    }
    await db.transaction().execute(async (trx) => {
      await sql`
        insert into automation_members (campaign_id, contact_id, entered_at)
        select ${campaign.id}, c.id, ${now.toISOString()} from contacts c
        where c.workspace_id = ${campaign.workspace_id} and ${inSegment} and ${notMember}
      `.execute(trx);
      await sql`
        delete from automation_members
        where campaign_id = ${campaign.id} and not exists (
          select 1 from contacts c where c.id = automation_members.contact_id and c.workspace_id = ${campaign.workspace_id} and ${inSegment}
        )
      `.execute(trx);
      await trx
        .insertInto('automation_state')
        .values({ campaign_id: campaign.id, evaluated_at: now.toISOString() })
        .onConflict((oc) => oc.column('campaign_id').doUpdateSet({ evaluated_at: now.toISOString() }))
        .execute();
    });
    return queued;
  }

  /** The entry conditions: the automation's lists, segments and rule, as for a broadcast's audience. */
  async #audience(campaign: CampaignRow, now: Date, timeZone: string): Promise<RawBuilder<boolean>> {
    const audience = JSON.parse(campaign.audience) as Audience;
    const parts = await audienceParts(this.#db, { workspaceId: campaign.workspace_id, audience, now, timeZone });
    return audienceWhere(parts);
  }

  async #zoneOf(workspaceId: string): Promise<string> {
    const ws = await this.#db.selectFrom('workspaces').select('time_zone').where('id', '=', workspaceId).executeTakeFirst();
    return ws?.time_zone ?? 'UTC';
  }

  /**
   * An API event (`POST /v1/events`): every live automation of the workspace triggered by
   * this name lets the contact in, when the contact meets its entry conditions and its
   * frequency cap; at most once per contact per automation per day (the day's run).
   */
  async recordEvent(workspaceId: string, event: AutomationEvent): Promise<EventResult> {
    const now = this.#clock.now();
    const contact = await this.#findContact(workspaceId, event.contact);
    const automations = await this.#db
      .selectFrom('campaigns')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'automation')
      .where('status', '=', 'live')
      .execute();
    const matching = automations.filter((c) => {
      const trigger = c.trigger ? (JSON.parse(c.trigger) as Trigger) : null;
      return trigger?.type === 'event' && trigger.name === event.name;
    });
    const workspaceZone = await this.#zoneOf(workspaceId);
    const results: EventResult['automations'] = [];
    for (const campaign of matching) {
      const audience = await this.#audience(campaign, now, workspaceZone);
      const pacing = JSON.parse(campaign.pacing) as Pacing;
      // Asked first, so that a day whose events let nobody in leaves no empty run behind.
      const reason = await this.#whyNot(campaign, contact, audience, pacing.frequencyCapDays ?? null, now);
      if (reason) {
        results.push({ campaignId: campaign.id, queued: false, reason });
        continue;
      }
      const runId = await ensurePeriodRun(this.#db, {
        workspaceId,
        campaignId: campaign.id,
        channel: campaign.channel,
        period: eventPeriod(now),
        now,
      });
      const queued = await enterContacts(this.#db, {
        runId,
        workspaceId,
        campaignId: campaign.id,
        channel: campaign.channel as Channel,
        where: sql<boolean>`c.id = ${contact} and ${audience}`,
        capDays: pacing.frequencyCapDays ?? null,
        event: { name: event.name, properties: event.properties ?? {} },
        now,
      });
      // Nobody new: the contact already has today's message (once a day per automation).
      results.push({ campaignId: campaign.id, queued: queued > 0, reason: queued > 0 ? null : 'FREQUENCY_CAP' });
    }
    return { contactId: contact, name: event.name, automations: results };
  }

  async #findContact(workspaceId: string, ref: AutomationEvent['contact']): Promise<number> {
    let q = this.#db.selectFrom('contacts').select('id').where('workspace_id', '=', workspaceId);
    if (ref.id !== undefined) q = q.where('id', '=', ref.id);
    else if (ref.email !== undefined) q = q.where('email', '=', ref.email.trim().toLowerCase());
    else if (ref.externalId !== undefined) q = q.where('external_id', '=', ref.externalId);
    else
      throw HeraldError.of('VALIDATION_FAILED', 'body/contact needs one of id, email or externalId', {
        errors: [{ field: 'body/contact', message: 'needs one of id, email or externalId' }],
      });
    const found = await q.executeTakeFirst();
    if (!found) throw HeraldError.of('NOT_FOUND', 'No such contact in this workspace.', { field: 'contact' });
    return found.id;
  }

  /** Why the contact would not enter the automation now, or null when they would. */
  async #whyNot(campaign: CampaignRow, contactId: number, audience: RawBuilder<boolean>, capDays: number | null, now: Date) {
    const row = await this.#db
      .selectFrom('contacts as c')
      .select([
        sql<number>`case when ${audience} then 1 else 0 end`.as('inside'),
        sql<string | null>`${addressOf(campaign.channel as Channel, dialectOf(this.#db))}`.as('address'),
        sql<number>`case when ${underCap(campaign.id, capDays, now)} then 1 else 0 end`.as('under'),
      ])
      .where('c.id', '=', contactId)
      .executeTakeFirstOrThrow();
    if (!Number(row.inside)) return 'NOT_IN_AUDIENCE';
    if (row.address === null) return 'NO_ADDRESS';
    if (!Number(row.under)) return 'FREQUENCY_CAP';
    return null;
  }

  /**
   * Calendar entries of live automations with date triggers: per day of the range, how
   * many contacts of the audience the trigger fires for, shown at the chosen hour in the
   * workspace's zone (each contact gets it at that hour in their own). One grouped query
   * per automation, over the attribute's values.
   */
  async calendar(workspaceId: string, from: Date, to: Date, zone: string): Promise<CalendarEntry[]> {
    const automations = await this.#db
      .selectFrom('campaigns')
      .selectAll()
      .where('workspace_id', '=', workspaceId)
      .where('kind', '=', 'automation')
      .where('status', '=', 'live')
      .where('archived', '=', 0)
      .execute();
    const out: CalendarEntry[] = [];
    for (const c of automations) {
      const trigger = c.trigger ? (JSON.parse(c.trigger) as Trigger) : null;
      if (!trigger || !isDateTrigger(trigger)) continue;
      const date = dateAttributeSql(this.#db, trigger.attribute);
      const key = trigger.type === 'date_anniversary' ? sql<string>`substr(${date}, 6, 5)` : date;
      const audience = await this.#audience(c, from, zone);
      const rows = await this.#db
        .selectFrom('contacts as c')
        .select([key.as('k'), sql<number>`count(*)`.as('n')])
        .where('c.workspace_id', '=', workspaceId)
        .where(audience)
        .where(sql<boolean>`${date} is not null`)
        // By position: PostgreSQL does not match a select expression and a GROUP BY that bind their parameters apart.
        .groupBy(sql`1`)
        .execute();
      const counts = new Map(rows.map((r) => [String(r.k), Number(r.n)]));
      const first = DateTime.fromJSDate(from, { zone }).toISODate()!;
      for (let day = first; ; day = addDays(day, 1)) {
        const [y, m, d] = day.split('-').map(Number) as [number, number, number];
        const at = wallTime(y, m, d, trigger.hour * 60, zone);
        if (at >= to) break;
        if (at < from) continue;
        const expected = firingKeys(trigger, day).reduce((n, k) => n + (counts.get(k) ?? 0), 0);
        if (expected === 0) continue;
        out.push({
          campaignId: c.id,
          name: c.name,
          description: c.description,
          kind: c.kind,
          channel: c.channel as Channel,
          status: c.status as CampaignStatus,
          launchType: c.launch_type as LaunchType,
          entry: 'automation',
          at: at.toISOString(),
          atLocal: inZone(at, zone),
          expected,
        });
      }
    }
    return out;
  }
}
