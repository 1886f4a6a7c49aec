import { DateTime } from 'luxon';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';
import { dialects } from '../dialects.js';

const HOUR = 3_600_000;

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const zones = [
  'Pacific/Pago_Pago', // UTC-11
  'Pacific/Honolulu',
  'America/Anchorage',
  'America/Los_Angeles',
  'America/Denver',
  'America/Chicago',
  'America/New_York',
  'America/St_Johns', // -3:30, DST
  'America/Sao_Paulo',
  'Atlantic/Azores',
  'Europe/London',
  'Europe/Paris',
  'Africa/Cairo',
  'Asia/Kolkata', // +5:30
  'Asia/Kathmandu', // +5:45
  'Asia/Shanghai',
  'Asia/Tokyo',
  'Australia/Sydney', // southern DST
  'Pacific/Auckland',
  'Pacific/Kiritimati', // UTC+14
];

/** A small deterministic generator, so a failure can be reproduced. */
/** An automation on the seeded campaign's template and sender, for the contacts of `listId`. */
function createAutomation(
  t: TestHerald,
  draft: { templateId: string | null; senderId: string | null },
  listId: string,
  name: string,
  trigger: Record<string, unknown>,
) {
  return t.api('POST', '/v1/campaigns', {
    name,
    kind: 'automation',
    templateId: draft.templateId,
    senderId: draft.senderId,
    audience: { listIds: [listId] },
    trigger,
  });
}

function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

/** A contact's birthday in `year` at `hour` local, an independent reading of the rule (29 February → 28 February in 2026 and 2027). */
function birthdayInstant(birthday: string, zone: string, hour: number, year: number): number {
  const [month, day] = birthday.slice(5).split('-').map(Number) as [number, number];
  const d = month === 2 && day === 29 ? 28 : day;
  return DateTime.fromObject({ year, month, day: d, hour }, { zone }).toMillis();
}

describe.each(dialects)('automations (%s)', (dialect) => {
  it('a birthday automation over 10,000 contacts in 20 zones, simulated over a year, sends each contact one message at 09:00 local and none while unpublished', async () => {
    const clock = new ManualClock('2026-01-01T00:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_BATCH_SIZE: '100' } });
    const { campaign: draft, listId } = await seedCampaign(t.api, { contacts: 0 });
    const next = random(42);
    const people = Array.from({ length: 10_000 }, (_, i) => {
      const month = 1 + Math.floor(next() * 12);
      const day = i % 400 === 0 ? 29 : 1 + Math.floor(next() * 28);
      const birthday = `${1960 + Math.floor(next() * 45)}-${String(i % 400 === 0 ? 2 : month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
      return { email: `p${i}@example.test`, timeZone: zones[i % zones.length]!, attributes: { birthday } };
    });
    for (let i = 0; i < people.length; i += 5000) {
      const r = await t.api('POST', '/v1/contacts/bulk', { contacts: people.slice(i, i + 5000), listIds: [listId] });
      expect(r.status).toBe(200);
    }
    const created = await createAutomation(t, draft, listId, 'Happy birthday', {
      type: 'date_anniversary',
      attribute: 'birthday',
      hour: 9,
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'automation', status: 'draft', launchType: 'triggered' });
    const id = created.body.id as string;
    expect((await act(t.api, id, 'publish')).body.status).toBe('live');

    // A quarter past the hour: no zone of these has 09:00 then, so what is due before was sent before.
    const unpublishAt = Date.parse('2026-03-10T12:15:00Z');
    const republishAt = Date.parse('2026-03-20T12:15:00Z');
    const end = Date.parse('2027-01-01T00:00:00Z');
    const db = t.herald.db;
    const outstanding = async () => {
      const row = await db
        .selectFrom('run_counters')
        .innerJoin('runs', 'runs.id', 'run_counters.run_id')
        .select(sql<number>`coalesce(sum(run_counters.pending + run_counters.sending), 0)`.as('n'))
        .where('runs.campaign_id', '=', id)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    };
    for (; clock.now().getTime() < end; clock.advance(HOUR)) {
      const now = clock.now().getTime();
      if (now === republishAt) expect((await act(t.api, id, 'publish')).body.status).toBe('live');
      const queued = await t.herald.automations.tick();
      if (now > unpublishAt && now < republishAt) expect(queued).toBe(0);
      // The engine's own loop may have evaluated first: wait for whatever is outstanding.
      t.herald.engine.notify();
      // Sent within the hour it was queued in: the clock stands still until the engine is done.
      for (let wait = 0; (await outstanding()) > 0; wait++) {
        if (wait > 5000) throw new Error(`sends did not finish at ${clock.now().toISOString()}`);
        await new Promise((r) => setTimeout(r, 2));
      }
      if (now === unpublishAt - 15 * 60_000) {
        clock.advance(15 * 60_000);
        expect((await act(t.api, id, 'unpublish')).body.status).toBe('unpublished');
      }
    }

    const sent = await db
      .selectFrom('messages')
      .innerJoin('runs', 'runs.id', 'messages.run_id')
      .innerJoin('contacts', 'contacts.id', 'messages.contact_id')
      .select(['contacts.email', 'contacts.time_zone', 'contacts.attributes', 'messages.sent_at', 'messages.state', 'runs.occurrence_at'])
      .where('runs.campaign_id', '=', id)
      .execute();
    const byEmail = new Map<string, (typeof sent)[number][]>();
    for (const m of sent) byEmail.set(m.email!, [...(byEmail.get(m.email!) ?? []), m]);
    const live = (at: number) => at >= Date.parse('2026-01-01T00:00:00Z') && !(at >= unpublishAt && at < republishAt) && at < end;
    let expectedCount = 0;
    for (const p of people) {
      // The simulated year ends at midnight UTC, when 1 January has begun east of Greenwich: some 2027 birthdays fall in it too.
      const due = [2026, 2027].map((year) => birthdayInstant(p.attributes.birthday, p.timeZone, 9, year)).filter(live);
      const got = (byEmail.get(p.email) ?? []).sort((a, b) => (a.sent_at! < b.sent_at! ? -1 : 1));
      const who = `${p.email} ${p.timeZone} ${p.attributes.birthday}`;
      expect(
        got.map((m) => m.sent_at),
        who,
      ).toHaveLength(due.length);
      expectedCount += due.length;
      due.forEach((at, k) => {
        const local = DateTime.fromISO(got[k]!.sent_at!, { zone: p.timeZone });
        const planned = DateTime.fromMillis(at, { zone: p.timeZone });
        // Sent in the hour after 09:00 local on the birthday (the clock moves in hour steps).
        expect(local.hour, `${who} sent ${local.toISO()}`).toBe(9);
        expect(local.toISODate(), who).toBe(planned.toISODate());
        expect(['sent', 'delivered', 'opened', 'clicked', 'read']).toContain(got[k]!.state);
        expect(got[k]!.occurrence_at).toBe(`${planned.year}-01-01T00:00:00.000Z`);
      });
    }
    expect(sent).toHaveLength(expectedCount);
    expect(expectedCount).toBeGreaterThan(9000);
    // Nothing left the engine while the automation was unpublished.
    expect(sent.filter((m) => Date.parse(m.sent_at!) >= unpublishAt && Date.parse(m.sent_at!) < republishAt)).toEqual([]);
    expect(t.herald.mailbox!.summary({ campaignId: id })).toEqual({ received: expectedCount, unique: expectedCount, duplicates: 0 });
    // The campaign shows its ledger like a broadcast's.
    const view = (await t.api('GET', `/v1/campaigns/${id}`)).body;
    expect(view).toMatchObject({ status: 'live', counts: { sent: expectedCount, pending: 0 } });
  }, 1_200_000);

  it('a renewal reminder 7 days before the date goes out at the chosen local hour that day, once, across the EU DST change', async () => {
    const clock = new ManualClock('2026-03-20T00:00:00Z');
    t = await startTestHerald({ dialect, clock });
    await t.api('PATCH', '/v1/workspace', { timeZone: 'Europe/Paris' });
    const { campaign: draft, listId } = await seedCampaign(t.api, { contacts: 0 });
    const members = [
      { email: 'paris@example.test', attributes: { renewalDate: '2026-04-05' } }, // the workspace's zone
      { email: 'ny@example.test', timeZone: 'America/New_York', attributes: { renewalDate: '2026-04-05' } },
      { email: 'later@example.test', timeZone: 'Asia/Tokyo', attributes: { renewalDate: '2026-05-01' } },
      { email: 'none@example.test', timeZone: 'Asia/Tokyo' },
    ];
    await t.api('POST', '/v1/contacts/bulk', { contacts: members, listIds: [listId] });
    const created = await createAutomation(t, draft, listId, 'Renewal reminder', {
      type: 'date_offset',
      attribute: 'renewalDate',
      days: 7,
      direction: 'before',
      hour: 10,
    });
    await act(t.api, created.body.id, 'publish');
    for (let h = 0; h < 24 * 14; h++) {
      await t.herald.automations.tick();
      t.herald.engine.notify();
      await waitFor(t.api, created.body.id, (c) => c.counts.pending === 0 && c.counts.inFlight === 0);
      clock.advance(HOUR);
    }
    const sent = await t.herald.db
      .selectFrom('messages')
      .innerJoin('contacts', 'contacts.id', 'messages.contact_id')
      .select(['contacts.email', 'messages.sent_at'])
      .orderBy('messages.sent_at')
      .execute();
    // 29 March 10:00 in Paris is already summer time (UTC+2); New York has been on daylight time since 8 March.
    expect(sent).toEqual([
      { email: 'paris@example.test', sent_at: '2026-03-29T08:00:00.000Z' },
      { email: 'ny@example.test', sent_at: '2026-03-29T14:00:00.000Z' },
    ]);
  }, 300_000);
});
