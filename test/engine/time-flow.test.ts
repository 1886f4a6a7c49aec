import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DateTime } from 'luxon';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type SandboxSmtpServer, startSandboxSmtp } from '../../src/channels/email-smtp/sandbox.js';
import { loadConfig } from '../../src/config.js';
import type { Campaign } from '../../src/domain/campaign.js';
import { inQuietHours } from '../../src/domain/schedule.js';
import { ManualClock } from '../../src/engine/clock.js';
import { type Herald, type HeraldSender, startHerald, startWorker } from '../../src/runtime.js';
import type { DatabaseLocation } from '../../src/store/database.js';
import { createApiKey, createWorkspace } from '../../src/store/workspaces.js';
import { type TestDialect, dialects, freshDatabase } from '../dialects.js';
import { type Api, type TestHerald, act, apiFor, seedCampaign, startTestHerald, waitFor } from '../harness.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

/**
 * A Herald that can be stopped and started again on the same database and the same
 * sandbox mailbox, as a process restart would: SQLite in a file, or a PostgreSQL
 * database of its own; the mailbox is an external sandbox server both starts send to.
 */
async function restartable(dialect: TestDialect, clock: ManualClock) {
  const fresh = await freshDatabase(dialect);
  const dir = mkdtempSync(join(tmpdir(), 'herald-time-'));
  const location: DatabaseLocation = dialect === 'sqlite' ? { dialect: 'sqlite', path: join(dir, 'herald.db') } : fresh.location;
  const smtp: SandboxSmtpServer = await startSandboxSmtp({ port: 0 });
  const config = loadConfig({
    HERALD_SANDBOX: 'on',
    HERALD_SANDBOX_SMTP: `127.0.0.1:${smtp.port}`,
    HERALD_LEASE_MS: '2000',
    HERALD_RETRY_BASE_MS: '20',
    LOG_LEVEL: 'silent',
  });
  const start = () => startHerald({ ...config, database: location }, { log: pino({ level: 'silent' }), clock });
  let herald: Herald = await start();
  let worker: HeraldSender | null = null;
  const ws = await createWorkspace(herald.db, { name: 'Time', timeZone: 'America/New_York', now: clock.now() });
  const key = await createApiKey(herald.db, { workspaceId: ws.id, name: 'test', now: clock.now() });
  return {
    smtp,
    get herald() {
      return herald;
    },
    api: (async (...args: Parameters<Api>) => apiFor(herald, key)(...args)) as Api,
    /** A second engine on the same database, as a `herald worker` process. */
    async addWorker() {
      worker = await startWorker({ ...config, database: location }, { log: pino({ level: 'silent' }), clock });
    },
    async restart(between?: () => void | Promise<void>) {
      await herald.close();
      await between?.();
      herald = await start();
    },
    async close() {
      await worker?.close();
      await herald.close();
      await smtp.close();
      await fresh.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const tick = async (h: Herald) => {
  h.engine.notify();
  await new Promise((r) => setTimeout(r, 5));
};

/** Moves the clock 15 minutes at a time, letting the engine send whatever came due at each step. */
async function stepQuarterHours(t: TestHerald, clock: ManualClock, campaignId: string, steps: number) {
  for (let step = 0; step < steps; step++) {
    clock.advance(15 * 60_000);
    await tick(t.herald);
    await waitFor(t.api, campaignId, (c) => c.counts.inFlight === 0 && c.counts.pending === c.counts.waiting, 10_000);
  }
}

/**
 * Every sent message with its contact's zone and local date, checked to have gone in the first
 * quarter hour after 10:00 local (the clock moves in 15-minute steps); `fallbackZone` for contacts without one.
 */
async function sentAtTen(h: Herald, fallbackZone: string) {
  const sends = await h.db
    .selectFrom('messages')
    .innerJoin('contacts', 'contacts.id', 'messages.contact_id')
    .select(['messages.sent_at', 'contacts.time_zone'])
    .execute();
  return sends.map((m) => {
    const local = DateTime.fromISO(m.sent_at!, { zone: m.time_zone ?? fallbackZone });
    expect(local.hour * 60 + local.minute).toBeGreaterThanOrEqual(600);
    expect(local.hour * 60 + local.minute).toBeLessThan(615);
    return { ...m, localDate: local.toISODate()! };
  });
}

describe.each(dialects)('time (%s)', (dialect) => {
  it('a weekly recurring campaign over 10 weeks makes 10 runs, each sent once, across engine restarts around occurrences and with two workers', async () => {
    const clock = new ManualClock('2026-02-16T12:00:00Z');
    const h = await restartable(dialect, clock);
    try {
      const { campaign } = await seedCampaign(h.api, {
        contacts: 25,
        campaign: { kind: 'recurring', recurrence: { cron: '0 9 * * 1' } },
      });
      expect(campaign).toMatchObject({ kind: 'recurring', launchType: 'recurring', timeZone: 'America/New_York', sendAt: null });
      const scheduled = await act(h.api, campaign.id, 'schedule');
      expect(scheduled.status).toBe(200);
      // Mondays at 09:00 in the workspace's zone (New York, UTC-5 until 8 March).
      expect(scheduled.body).toMatchObject({
        status: 'scheduled',
        sendAt: '2026-02-16T14:00:00.000Z',
        sendAtLocal: '2026-02-16T09:00:00-05:00',
      });

      for (let week = 0; week < 10; week++) {
        const before = (await h.api<Campaign>('GET', `/v1/campaigns/${campaign.id}`)).body;
        expect(before.status).toBe('scheduled');
        const due = new Date(before.sendAt!);
        if (week % 3 === 1) {
          // Killed a minute before the occurrence, started again 20 minutes after it (within the grace window).
          clock.set(due.getTime() - 60_000);
          await h.restart(() => clock.set(due.getTime() + 20 * 60_000));
        } else if (week % 3 === 2) {
          // Stopped in the middle of a run and started again.
          clock.set(due.getTime() + 1000);
          await tick(h.herald);
          await waitFor(h.api, campaign.id, (c) => c.status === 'sending' || c.counts.sent > 25 * week);
          await h.restart();
        } else {
          clock.set(due.getTime() + 1000);
        }
        if (week === 5) await h.addWorker();
        await tick(h.herald);
        const after = await waitFor(h.api, campaign.id, (c) => c.status === 'scheduled' && c.sendAt !== before.sendAt);
        expect(after.counts).toMatchObject({ total: 25 * (week + 1), sent: 25 * (week + 1), pending: 0, inFlight: 0 });
        // Between occurrences the campaign waits; a day later nothing else has happened.
        clock.advance(DAY);
        await tick(h.herald);
      }

      const runs = (await h.api('GET', `/v1/campaigns/${campaign.id}/runs?limit=50`)).body.data as {
        number: number;
        occurrenceAt: string;
        outcome: string;
        counts: { total: number; sent: number };
      }[];
      expect(runs).toHaveLength(10);
      expect(runs.map((r) => r.number)).toEqual([10, 9, 8, 7, 6, 5, 4, 3, 2, 1]);
      for (const r of runs) expect(r).toMatchObject({ outcome: 'fully_sent', counts: { total: 25, sent: 25 } });
      // Every occurrence is Monday 09:00 New York time, before and after the DST change of 8 March.
      const local = runs.map((r) => DateTime.fromISO(r.occurrenceAt, { zone: 'America/New_York' }));
      expect(local.every((d) => d.weekday === 1 && d.hour === 9 && d.minute === 0)).toBe(true);
      expect(new Set(runs.map((r) => r.occurrenceAt)).size).toBe(10);
      // The database itself refuses a second run of an occurrence.
      const first = await h.herald.db.selectFrom('runs').selectAll().where('number', '=', 1).executeTakeFirstOrThrow();
      await expect(
        h.herald.db
          .insertInto('runs')
          .values({ ...first, id: undefined, number: 99 } as never)
          .execute(),
      ).rejects.toThrow(/unique|UNIQUE/);
      expect(runs.map((r) => new Date(r.occurrenceAt).getUTCHours()).sort()).toEqual([13, 13, 13, 13, 13, 13, 13, 14, 14, 14]);
      // Each contact received each occurrence exactly once: 250 messages, no duplicate Message-ID.
      expect(h.smtp.mailbox.summary({ campaignId: campaign.id })).toEqual({ received: 250, unique: 250, duplicates: 0 });
    } finally {
      await h.close();
    }
  }, 240_000);

  it('a schedule missed past the grace window while Herald was down fails with SCHEDULE_PASSED; within it, it starts late', async () => {
    const clock = new ManualClock('2026-03-01T08:00:00Z');
    const h = await restartable(dialect, clock);
    try {
      const ws = await h.api('PATCH', '/v1/workspace', { scheduleGraceMinutes: 30 });
      expect(ws.body).toMatchObject({ timeZone: 'America/New_York', scheduleGraceMinutes: 30 });
      const late = await seedCampaign(h.api, { contacts: 5, campaign: { name: 'late', sendAt: '2026-03-01T10:00' } });
      const ok = await seedCampaign(h.api, { contacts: 5, campaign: { name: 'ok', sendAt: '2026-03-01T11:00' } });
      // A wall time without an offset is read in the workspace's zone.
      expect(late.campaign).toMatchObject({ sendAt: '2026-03-01T15:00:00.000Z', sendAtLocal: '2026-03-01T10:00:00-05:00' });
      expect((await act(h.api, late.campaign.id, 'schedule')).body.status).toBe('scheduled');
      expect((await act(h.api, ok.campaign.id, 'schedule')).body.status).toBe('scheduled');
      const rescheduled = await act(h.api, ok.campaign.id, 'reschedule', { sendAt: '2026-03-01T10:50' });
      expect(rescheduled.body.sendAt).toBe('2026-03-01T15:50:00.000Z');

      // Down from 09:00 to 11:00 local: `late` is 60 minutes late, `ok` 10.
      await h.restart(() => clock.set('2026-03-01T16:00:00Z'));
      await tick(h.herald);
      const failed = await waitFor(h.api, late.campaign.id, (c) => c.status === 'failed');
      expect(failed.failureReasons).toEqual([
        expect.objectContaining({ code: 'SCHEDULE_PASSED', detail: expect.stringMatching(/30-minute grace/) }),
      ]);
      expect(failed.counts.total).toBe(0);
      expect(failed.allowedActions).toEqual(expect.arrayContaining(['retry', 'schedule', 'edit']));
      const sent = await waitFor(h.api, ok.campaign.id, (c) => c.status === 'completed');
      expect(sent.counts.sent).toBe(5);

      // The two answers to the alert: a new time…
      const again = await act(h.api, late.campaign.id, 'schedule', { sendAt: '2026-03-01T09:00' });
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('SCHEDULE_PASSED');
      const picked = await act(h.api, late.campaign.id, 'schedule', { sendAt: '2026-03-01T12:00' });
      expect(picked.body).toMatchObject({ status: 'scheduled', failureReasons: [] });
      // …or stop it and send now.
      await act(h.api, late.campaign.id, 'stop');
      clock.set('2026-03-01T18:00:00Z');
      const restart = await act(h.api, late.campaign.id, 'restart');
      expect(restart.status).toBe(409);
      expect(restart.body.code).toBe('SCHEDULE_PASSED');
      expect((await act(h.api, late.campaign.id, 'restart', { sendNow: true })).status).toBe(200);
      await tick(h.herald);
      expect((await waitFor(h.api, late.campaign.id, (c) => c.status === 'completed')).counts.sent).toBe(5);
    } finally {
      await h.close();
    }
  }, 120_000);

  it('a recurring campaign skips occurrences missed past the grace window, says so, and restarts with SCHEDULE_PASSED', async () => {
    const clock = new ManualClock('2026-02-16T12:00:00Z');
    const h = await restartable(dialect, clock);
    try {
      const { campaign } = await seedCampaign(h.api, {
        contacts: 3,
        campaign: { kind: 'recurring', recurrence: { cron: '0 9 * * *', timeZone: 'Europe/Paris', maxRuns: 5 } },
      });
      await act(h.api, campaign.id, 'schedule');
      // Down for two and a half days: two occurrences missed, the third 4 hours late: all skipped.
      await h.restart(() => clock.set('2026-02-19T12:00:00Z'));
      await tick(h.herald);
      const skipped = await waitFor(h.api, campaign.id, (c) => c.sendAt === '2026-02-20T08:00:00.000Z');
      expect(skipped).toMatchObject({ status: 'scheduled', counts: { total: 0 } });
      expect(skipped.failureReasons[0]).toMatchObject({ code: 'SCHEDULE_PASSED', detail: expect.stringMatching(/^3 occurrence/) });
      const events = (await h.api('GET', `/v1/campaigns/${campaign.id}/events`)).body.data;
      expect(events.at(-1)).toMatchObject({ action: 'skip_occurrence', actor: 'engine', reason: 'SCHEDULE_PASSED' });

      // Stopped while waiting, restarted after the next occurrence passed: the alert names the rule's next one.
      await act(h.api, campaign.id, 'stop');
      clock.set('2026-02-20T10:00:00Z');
      const refused = await act(h.api, campaign.id, 'restart');
      expect(refused.body).toMatchObject({ code: 'SCHEDULE_PASSED', nextOccurrence: '2026-02-21T08:00:00.000Z' });
      const resumed = await act(h.api, campaign.id, 'restart', { sendAt: refused.body.nextOccurrence });
      expect(resumed.body).toMatchObject({ status: 'scheduled', sendAt: '2026-02-21T08:00:00.000Z' });
    } finally {
      await h.close();
    }
  }, 120_000);

  it('a recurring campaign completes after its last run (maxRuns), each run keeping its own outcome', async () => {
    const clock = new ManualClock('2026-06-01T00:00:00Z');
    t = await startTestHerald({ dialect, clock });
    const { campaign } = await seedCampaign(t.api, {
      contacts: 4,
      campaign: { kind: 'recurring', recurrence: { cron: '30 6 * * *', timeZone: 'UTC', maxRuns: 2 } },
    });
    expect((await act(t.api, campaign.id, 'schedule')).body).toMatchObject({ status: 'scheduled', sendAt: '2026-06-01T06:30:00.000Z' });
    clock.set('2026-06-01T06:30:01Z');
    await tick(t.herald);
    const waiting = await waitFor(t.api, campaign.id, (c) => c.status === 'scheduled' && c.sendAt === '2026-06-02T06:30:00.000Z');
    expect(waiting).toMatchObject({ outcome: null, counts: { sent: 4 } });
    clock.set('2026-06-02T06:30:01Z');
    await tick(t.herald);
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    expect(done).toMatchObject({ outcome: 'fully_sent', counts: { sent: 8 } });
    const runs = (await t.api('GET', `/v1/campaigns/${campaign.id}/runs`)).body.data;
    expect(runs.map((r: { occurrenceAt: string; outcome: string }) => [r.occurrenceAt, r.outcome])).toEqual([
      ['2026-06-02T06:30:00.000Z', 'fully_sent'],
      ['2026-06-01T06:30:00.000Z', 'fully_sent'],
    ]);
  });

  it('sends at 10:00 in each contact’s zone (the workspace’s without one), across the US DST change', async () => {
    const clock = new ManualClock('2026-03-07T00:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_BATCH_SIZE: '10' } });
    await t.api('PATCH', '/v1/workspace', { timeZone: 'Europe/Paris' });
    const zones = ['America/New_York', 'America/Los_Angeles', 'Europe/London', 'Asia/Tokyo', 'Australia/Sydney', null];
    const { campaign } = await seedCampaign(t.api, { contacts: 0, campaign: { delivery: { localTime: '10:00' } } });
    const contacts = zones.flatMap((zone, z) =>
      Array.from({ length: 5 }, (_, i) => ({ email: `z${z}-${i}@example.test`, ...(zone ? { timeZone: zone } : {}) })),
    );
    await t.api('POST', '/v1/contacts/bulk', { contacts, listIds: campaign.audience.listIds });
    await act(t.api, campaign.id, 'launch');
    const waiting = await waitFor(t.api, campaign.id, (c) => c.status === 'sending' && c.counts.total === 30);
    expect(waiting.counts).toMatchObject({ pending: 30, waiting: 30, sent: 0 });

    // Step through two days, 15 minutes at a time.
    await stepQuarterHours(t, clock, campaign.id, 2 * 96);
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    expect(done.counts).toMatchObject({ sent: 30, waiting: 0 });
    const sends = await sentAtTen(t.herald, 'Europe/Paris');
    // New York's 10:00 on 8 March is already daylight time (UTC-4).
    const ny = sends.filter((m) => m.time_zone === 'America/New_York').map((m) => m.sent_at!.slice(0, 13));
    expect(new Set(ny)).toEqual(new Set(['2026-03-07T15']));
  }, 180_000);

  it('a stopped local-time campaign, restarted, keeps each recipient’s 10:00; a time passed while stopped waits for the next day', async () => {
    const clock = new ManualClock('2026-06-10T00:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_BATCH_SIZE: '10' } });
    const zones = ['Asia/Tokyo', 'Europe/London', 'America/New_York', 'America/Los_Angeles'];
    const { campaign } = await seedCampaign(t.api, { contacts: 0, campaign: { delivery: { localTime: '10:00' } } });
    const contacts = zones.flatMap((zone, z) =>
      Array.from({ length: 4 }, (_, i) => ({ email: `r${z}-${i}@example.test`, timeZone: zone })),
    );
    await t.api('POST', '/v1/contacts/bulk', { contacts, listIds: campaign.audience.listIds });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.status === 'sending' && c.counts.total === 16);
    // Tokyo's 10:00 is 01:00 UTC: its four go, then the campaign is stopped until London's 10:00 (09:00 UTC) has passed.
    clock.set('2026-06-10T01:05:00Z');
    await tick(t.herald);
    await waitFor(t.api, campaign.id, (c) => c.counts.sent === 4 && c.counts.inFlight === 0);
    await act(t.api, campaign.id, 'stop');
    clock.set('2026-06-10T12:00:00Z');
    const restarted = await act(t.api, campaign.id, 'restart');
    expect(restarted.status).toBe(200);
    // Nobody is due at the restart: New York and Los Angeles keep today's 10:00, London waits for tomorrow's.
    await tick(t.herald);
    const waiting = await waitFor(t.api, campaign.id, (c) => c.status === 'sending' && c.counts.pending === 12);
    expect(waiting.counts).toMatchObject({ sent: 4, waiting: 12, cancelled: 0 });
    await stepQuarterHours(t, clock, campaign.id, 24 * 4);
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    expect(done.counts).toMatchObject({ sent: 16, waiting: 0 });
    const days = new Map<string, Set<string>>();
    for (const m of await sentAtTen(t.herald, 'UTC')) days.set(m.time_zone!, (days.get(m.time_zone!) ?? new Set()).add(m.localDate));
    expect(Object.fromEntries([...days].map(([zone, d]) => [zone, [...d]]))).toEqual({
      'Asia/Tokyo': ['2026-06-10'],
      'Europe/London': ['2026-06-11'],
      'America/New_York': ['2026-06-10'],
      'America/Los_Angeles': ['2026-06-10'],
    });
    // Each recipient once at the mailbox.
    const received = (await t.api('GET', '/v1/sandbox/messages?limit=100')).body as { data: { to: string | string[] }[] };
    expect(new Set(received.data.flatMap((m) => [m.to].flat())).size).toBe(16);
    expect(received.data.length).toBe(16);
  }, 180_000);

  it('with quiet hours 21:00–08:00 sends nothing to anyone inside their quiet hours, even after a pause', async () => {
    const clock = new ManualClock('2026-03-28T18:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_BATCH_SIZE: '7' } });
    const zones = ['Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Pacific/Auckland', 'America/Sao_Paulo', 'UTC'];
    const { campaign } = await seedCampaign(t.api, {
      contacts: 0,
      campaign: { delivery: { quietHours: { start: '21:00', end: '08:00' } }, pacing: { autoPause: { enabled: false } } },
    });
    const contacts = zones.flatMap((zone, z) =>
      Array.from({ length: 10 }, (_, i) => ({ email: `q${z}-${i}@example.test`, timeZone: zone })),
    );
    await t.api('POST', '/v1/contacts/bulk', { contacts, listIds: campaign.audience.listIds });
    await act(t.api, campaign.id, 'launch');
    // Everything due now has been sent (recorded, not only claimed), the rest waits.
    await waitFor(t.api, campaign.id, (c) => c.status === 'sending' && c.counts.inFlight === 0 && c.counts.pending === c.counts.waiting);
    // A pause lets the due messages of some zones wait into their quiet hours; claims check again.
    await act(t.api, campaign.id, 'pause');
    clock.advance(3 * HOUR);
    await act(t.api, campaign.id, 'resume');
    for (let step = 0; step < 30 * 4; step++) {
      clock.advance(15 * 60_000);
      await tick(t.herald);
      await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0 && c.counts.pending === c.counts.waiting, 10_000);
    }
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    expect(done.counts.sent).toBe(60);
    const sends = await t.herald.db
      .selectFrom('messages')
      .innerJoin('contacts', 'contacts.id', 'messages.contact_id')
      .select(['messages.sent_at', 'contacts.time_zone', 'messages.attempts'])
      .execute();
    const quiet = { start: '21:00', end: '08:00' };
    expect(
      sends.filter((m) => inQuietHours(new Date(m.sent_at!), quiet, m.time_zone!)).map((m) => `${m.time_zone} ${m.sent_at} ${m.attempts}`),
    ).toEqual([]);
    // A deferral is not an attempt.
    expect(sends.every((m) => m.attempts === 1)).toBe(true);
  }, 180_000);
});
