import { afterEach, describe, expect, it } from 'vitest';
import { dialects } from '../dialects.js';
import { ManualClock } from '../../src/engine/clock.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);

describe.each(dialects)('a campaign sent over real SMTP to the sandbox (%s)', (dialect) => {
  it('goes from draft to completed and every recipient receives one personalised message', async () => {
    t = await startTestHerald({ dialect });
    const { campaign } = await seedCampaign(t.api, { contacts: 300 });
    expect(campaign.status).toBe('draft');
    expect(campaign.allowedActions).toContain('launch');

    const launched = await act(t.api, campaign.id, 'launch');
    expect(launched.status).toBe(200);
    expect(['queued', 'sending']).toContain(launched.body.status);

    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent' });
    expect(done.counts).toMatchObject({ total: 300, sent: 300, failed: 0, pending: 0, inFlight: 0 });

    const mailbox = t.herald.mailbox!;
    expect(mailbox.summary({ campaignId: campaign.id })).toEqual({ received: 300, unique: 300, duplicates: 0 });
    const [latest] = mailbox.latest({ campaignId: campaign.id, limit: 1 });
    expect(latest!.subject).toMatch(/^Hi R\d+$/);
    expect(latest!.messageId).toMatch(/^<herald\.\d+\.\d+@example\.test>$/);
    const to = new Set(mailbox.latest({ campaignId: campaign.id, limit: 1000 }).flatMap((m) => m.to));
    expect(to.size).toBe(300);

    const events = await t.api('GET', `/v1/campaigns/${campaign.id}/events`);
    expect(events.body.data.map((e: { action: string }) => e.action)).toEqual(['create', 'launch', 'begin_sending', 'complete']);
  });

  it('pauses within a batch, shows the drain, and resumes exactly where it stopped', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '20' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 1500 });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.processed >= 100);

    const paused = await act(t.api, campaign.id, 'pause');
    expect(paused.body.status).toBe('paused');
    expect(paused.body.allowedActions).toEqual(expect.arrayContaining(['resume', 'stop']));
    const drained = await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);
    // After the drain nothing new starts: the counts and the sandbox stand still.
    const received = t.herald.mailbox!.summary({ campaignId: campaign.id }).received;
    await new Promise((r) => setTimeout(r, 400));
    const still = (await t.api('GET', `/v1/campaigns/${campaign.id}`)).body;
    expect(still.counts.processed).toBe(drained.counts.processed);
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id }).received).toBe(received);
    expect(still.counts.processed).toBeLessThan(1500);

    await act(t.api, campaign.id, 'resume');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent' });
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 1500, unique: 1500, duplicates: 0 });
  });

  it('stop cancels the unsent in one step; restart sends to exactly those', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '20' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 1000 });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.processed >= 100);

    const stopped = await act(t.api, campaign.id, 'stop', { reason: 'wrong link' });
    expect(stopped.body.status).toBe('stopped');
    const halted = await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);
    expect(halted.counts.cancelled).toBeGreaterThan(0);
    expect(halted.counts.sent + halted.counts.cancelled).toBe(1000);
    expect(halted.allowedActions).toEqual(expect.arrayContaining(['restart', 'report', 'clone', 'archive']));

    const restarted = await act(t.api, campaign.id, 'restart');
    expect(restarted.body.status).toBe('sending');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent' });
    expect(done.counts).toMatchObject({ sent: 1000, cancelled: 0 });
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 1000, unique: 1000, duplicates: 0 });
    const events = (await t.api('GET', `/v1/campaigns/${campaign.id}/events`)).body.data;
    expect(events.find((e: { action: string }) => e.action === 'stop')).toMatchObject({
      from: 'sending',
      to: 'stopped',
      reason: 'wrong link',
    });
  });

  it('a stopped campaign cannot restart when the workspace turns restart off (seed 001 Cancelled)', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '10' } });
    const bad = await t.api('PATCH', '/v1/workspace', { timeZone: 'Mars/Olympus', policies: { email: { restartAfterStop: false } } });
    expect(bad.status).toBe(400);
    expect((await t.api('GET', '/v1/workspace')).body.policies).toEqual({});
    const ws = await t.api('PATCH', '/v1/workspace', { timeZone: 'Europe/Paris', policies: { email: { restartAfterStop: false } } });
    expect(ws.body).toMatchObject({ timeZone: 'Europe/Paris', policies: { email: { restartAfterStop: false } } });
    const { campaign } = await seedCampaign(t.api, { contacts: 200 });
    await act(t.api, campaign.id, 'launch');
    const stopped = await act(t.api, campaign.id, 'stop');
    expect(stopped.body.allowedActions).not.toContain('restart');
    const refused = await act(t.api, campaign.id, 'restart');
    expect(refused.status).toBe(409);
    expect(refused.body.code).toBe('ACTION_NOT_ALLOWED');
  });

  it('fails permanent bounces at once, retries transient ones, and retry-failed sends only the failed', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_MAX_ATTEMPTS: '1' } });
    // Every 10th address fails once (451) and is accepted on a later attempt; every 25th never exists (550).
    const emailOf = (i: number) =>
      i % 25 === 0 ? `gone${i}+fail@example.test` : i % 10 === 0 ? `slow${i}+flaky@example.test` : `ok${i}@example.test`;
    const { campaign } = await seedCampaign(t.api, { contacts: 200, emailOf, campaign: { pacing: { autoPause: { enabled: false } } } });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished);
    const permanent = 8; // 0, 25, …, 175
    const flaky = 20 - 4; // multiples of 10 that are not multiples of 25 (0, 50, 100, 150 are)
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent' });
    expect(done.counts).toMatchObject({ total: 200, failed: permanent + flaky, sent: 200 - permanent - flaky });
    expect(done.allowedActions).toContain('retry_failed');

    const failed = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=failed&limit=100`)).body.data;
    expect(failed).toHaveLength(permanent + flaky);
    expect(failed.find((m: { address: string }) => m.address.includes('+fail'))!.error.code).toBe('SMTP_550');
    expect(failed.find((m: { address: string }) => m.address.includes('+flaky'))!.error.code).toBe('SMTP_451');
    const before = t.herald.mailbox!.summary({ campaignId: campaign.id });

    const retried = await act(t.api, campaign.id, 'retry_failed');
    expect(retried.body.status).toBe('sending');
    const again = await waitFor(t.api, campaign.id, finished);
    expect(again).toMatchObject({ status: 'completed', outcome: 'partially_sent' });
    expect(again.counts).toMatchObject({ failed: permanent, sent: 200 - permanent });
    // Only the flaky recipients were sent again; nobody who had it already got a second copy.
    const after = t.herald.mailbox!.summary({ campaignId: campaign.id });
    expect(after.unique - before.unique).toBe(flaky);
    expect(after.duplicates).toBe(0);
  });

  it('retries transient failures with backoff until they go through', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_MAX_ATTEMPTS: '3', HERALD_RETRY_BASE_MS: '10' } });
    const emailOf = (i: number) => (i % 5 === 0 ? `slow${i}+flaky@example.test` : `ok${i}@example.test`);
    const { campaign } = await seedCampaign(t.api, { contacts: 100, emailOf, campaign: { pacing: { autoPause: { enabled: false } } } });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent' });
    const sent = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?limit=100`)).body.data;
    expect(sent.filter((m: { attempts: number }) => m.attempts === 2)).toHaveLength(20);
  });

  it('a stopped campaign keeps nothing pending, even messages whose transient failure came back after the stop', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_MAX_ATTEMPTS: '5', HERALD_RETRY_BASE_MS: '60000', HERALD_BATCH_SIZE: '25' } });
    const { campaign } = await seedCampaign(t.api, {
      contacts: 300,
      emailOf: (i) => `r${i}+tempfail@example.test`,
      campaign: { pacing: { autoPause: { enabled: false } } },
    });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.inFlight > 0);
    await act(t.api, campaign.id, 'stop');
    const halted = await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);
    expect(halted).toMatchObject({ status: 'stopped' });
    expect(halted.counts).toMatchObject({ total: 300, pending: 0, sent: 0, cancelled: 300 });
  });

  it('never re-sends a slow batch whose lease would have expired: the heartbeat keeps it', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_LEASE_MS: '300' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 1500, campaign: { pacing: { batchSize: 500 } } });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished, 60_000);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent', counts: { sent: 1500 } });
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 1500, unique: 1500, duplicates: 0 });
  });

  it('a contact deleted after the snapshot is skipped, not sent, and shown as suppressed', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '10' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 200 });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.total === 200);
    await act(t.api, campaign.id, 'pause');
    const last = (await t.api('GET', '/v1/contacts?limit=500')).body.data.at(-1);
    expect((await t.api('DELETE', `/v1/contacts/${last.id}`)).status).toBe(204);
    await act(t.api, campaign.id, 'resume');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent', counts: { sent: 199, suppressed: 1 } });
    expect(t.herald.mailbox!.summary({ to: last.email }).received).toBe(0);
    const skipped = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=suppressed`)).body.data;
    expect(skipped).toEqual([
      expect.objectContaining({ address: last.email, error: expect.objectContaining({ code: 'CONTACT_DELETED' }) }),
    ]);
  });

  it('pauses itself when the failure rate passes 5% after 100 sends, says why, and resumes with a fresh window', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '20' } });
    const emailOf = (i: number) => (i % 10 === 0 ? `gone${i}+fail@example.test` : `ok${i}@example.test`);
    const { campaign } = await seedCampaign(t.api, { contacts: 600, emailOf });
    await act(t.api, campaign.id, 'launch');
    const paused = await waitFor(t.api, campaign.id, (c) => c.status === 'paused' && c.counts.inFlight === 0);
    expect(paused.failureReasons).toEqual([
      expect.objectContaining({ code: 'FAILURE_RATE', detail: expect.stringMatching(/above the 5% limit/) }),
    ]);
    expect(paused.counts.processed).toBeGreaterThanOrEqual(100);
    expect(paused.counts.processed).toBeLessThan(600);
    const events = (await t.api('GET', `/v1/campaigns/${campaign.id}/events`)).body.data;
    expect(events.find((e: { action: string }) => e.action === 'auto_pause')).toMatchObject({
      actor: 'engine',
      from: 'sending',
      to: 'paused',
    });

    // The person looks, decides the bounces are expected, turns the rule off and resumes.
    const tuned = await t.api('PATCH', `/v1/campaigns/${campaign.id}`, {
      version: paused.version,
      pacing: { autoPause: { enabled: false } },
    });
    expect(tuned.status).toBe(200);
    const resumed = await act(t.api, campaign.id, 'resume');
    expect(resumed.body.failureReasons).toEqual([]);
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent', counts: { total: 600, failed: 60, sent: 540 } });
  });

  it('expires the messages still unsent when the campaign TTL runs out (seed 003)', async () => {
    const clock = new ManualClock('2030-01-01T09:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_BATCH_SIZE: '10' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 400, campaign: { pacing: { ttlMinutes: 60 } } });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.processed >= 50);
    await act(t.api, campaign.id, 'pause');
    const paused = await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);
    clock.advance(61 * 60_000);
    const expired = await waitFor(t.api, campaign.id, (c) => c.counts.expired > 0);
    expect(expired.counts).toMatchObject({ expired: 400 - paused.counts.processed, pending: 0 });
    await act(t.api, campaign.id, 'resume');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({
      status: 'completed',
      outcome: 'partially_sent',
      counts: { sent: paused.counts.sent, expired: 400 - paused.counts.processed },
    });
  });

  it('counts the TTL from a retry, so retried messages do not expire at once', async () => {
    const clock = new ManualClock('2030-01-01T09:00:00Z');
    t = await startTestHerald({ dialect, clock, env: { HERALD_MAX_ATTEMPTS: '1' } });
    const emailOf = (i: number) => (i % 2 === 0 ? `slow${i}+flaky@example.test` : `ok${i}@example.test`);
    const { campaign } = await seedCampaign(t.api, {
      contacts: 100,
      emailOf,
      campaign: { pacing: { ttlMinutes: 60, autoPause: { enabled: false } } },
    });
    await act(t.api, campaign.id, 'launch');
    const first = await waitFor(t.api, campaign.id, finished);
    expect(first.counts).toMatchObject({ failed: 50, sent: 50 });
    clock.advance(2 * 3_600_000);
    await act(t.api, campaign.id, 'retry_failed');
    const again = await waitFor(t.api, campaign.id, finished);
    expect(again).toMatchObject({ status: 'completed', outcome: 'fully_sent', counts: { sent: 100, expired: 0 } });
  });
});
