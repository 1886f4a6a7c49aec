import type { CalendarEntry } from '../domain/calendar.js';
import type { LaunchType } from '../domain/campaign.js';
import type { CampaignStatus, Channel } from '../domain/lifecycle.js';
import { type Recurrence, inZone, occurrencesBetween } from '../domain/schedule.js';
import type { Db } from '../store/database.js';
import type { CampaignRow } from '../store/schema.js';
import { getWorkspace } from '../store/workspaces.js';

/** At most this many entries per recurring campaign in one range (an every-minute rule would otherwise flood it). */
const occurrencesPerCampaign = 500;

/**
 * The launch calendar of a workspace between `from` (included) and `to` (excluded), in
 * time order (seed 003): launches that happened (each run, at the instant it was for),
 * one-time sends waiting for their time, recurring occurrences expanded from their rule,
 * and live automations' expected sends (see `automationEntries`). Drafts without a time
 * are left out; so are archived campaigns.
 */
export async function calendar(
  db: Db,
  args: { workspaceId: string; from: Date; to: Date; automationEntries?: (zone: string) => Promise<CalendarEntry[]> },
): Promise<CalendarEntry[]> {
  const { workspaceId } = args;
  const fromIso = args.from.toISOString();
  const toIso = args.to.toISOString();
  const zone = (await getWorkspace(db, workspaceId))?.time_zone ?? 'UTC';
  const entry = (c: CampaignRow, kind: CalendarEntry['entry'], at: Date, extra: Partial<CalendarEntry> = {}): CalendarEntry => ({
    campaignId: c.id,
    name: c.name,
    description: c.description,
    kind: c.kind,
    channel: c.channel as Channel,
    status: c.status as CampaignStatus,
    launchType: c.launch_type as LaunchType,
    entry: kind,
    at: at.toISOString(),
    atLocal: inZone(at, zone),
    ...extra,
  });

  const runs = await db
    .selectFrom('runs')
    .innerJoin('campaigns', 'campaigns.id', 'runs.campaign_id')
    .selectAll('campaigns')
    .select(['runs.number as run_number', 'runs.occurrence_at'])
    .where('runs.workspace_id', '=', workspaceId)
    .where('campaigns.archived', '=', 0)
    .where('campaigns.kind', '!=', 'automation')
    .where('runs.occurrence_at', '>=', fromIso)
    .where('runs.occurrence_at', '<', toIso)
    .execute();
  const out = runs.map((r) => entry(r, 'run', new Date(r.occurrence_at!), { runNumber: r.run_number }));

  // Waiting one-time sends (and failed or stopped ones that never ran: their time is still the plan);
  // waiting recurring campaigns, whose send_at is their next occurrence.
  const waiting = await db
    .selectFrom('campaigns')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('archived', '=', 0)
    .where('send_at', 'is not', null)
    .where((eb) =>
      eb.or([
        eb.and([eb('kind', '=', 'broadcast'), eb('current_run_id', 'is', null), eb('send_at', '>=', fromIso), eb('send_at', '<', toIso)]),
        eb.and([eb('kind', '=', 'recurring'), eb('status', '=', 'scheduled'), eb('send_at', '<', toIso)]),
      ]),
    )
    .execute();
  for (const c of waiting) {
    const next = new Date(c.send_at!);
    if (c.kind === 'broadcast') {
      out.push(entry(c, 'scheduled', next));
      continue;
    }
    const rule = JSON.parse(c.recurrence ?? 'null') as Recurrence | null;
    if (next >= args.from) out.push(entry(c, 'occurrence', next));
    if (!rule) continue;
    const runsSoFar = Number(
      (
        await db
          .selectFrom('runs')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('campaign_id', '=', c.id)
          .executeTakeFirstOrThrow()
      ).n,
    );
    // The stored next occurrence counts as one run to come when the rule has a maximum.
    const later = occurrencesBetween(
      rule,
      zone,
      new Date(Math.max(args.from.getTime(), next.getTime() + 1000)),
      args.to,
      occurrencesPerCampaign,
      runsSoFar + 1,
    );
    for (const at of later) out.push(entry(c, 'occurrence', at));
  }
  if (args.automationEntries) out.push(...(await args.automationEntries(zone)));
  return out.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.campaignId < b.campaignId ? -1 : 1));
}
