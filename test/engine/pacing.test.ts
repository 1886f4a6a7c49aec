import { afterEach, describe, expect, it } from 'vitest';
import { parseRateLimit } from '../../src/config.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);

/** The most messages the sandbox received in any window of `ms`, over the arrival times. */
function busiestWindow(times: number[], ms: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let best = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j]! - sorted[i]! >= ms) i++;
    best = Math.max(best, j - i + 1);
  }
  return best;
}

describe.each(dialects)('pacing (%s)', (dialect) => {
  it('holds a sender to its own rate limit', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '20' } });
    const { campaign, senderId } = await seedCampaign(t.api, { contacts: 150 });
    const limited = await t.api('PATCH', `/v1/senders/${senderId}`, { rateLimit: { perSecond: 50 } });
    expect(limited.body.rateLimit).toEqual({ perSecond: 50 });
    const started = Date.now();
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', counts: { sent: 150 } });
    // 150 messages at 50 a second: the first 50 at once, then at least two more seconds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(2_000);
    const arrivals = t.herald.mailbox!.latest({ campaignId: campaign.id, limit: 1000 }).map((m) => Date.parse(m.receivedAt));
    expect(arrivals).toHaveLength(150);
    // Grants hold to 50 in every second, in slices of a tenth of that (5) spaced evenly per
    // send slot; at the receiver, arrivals may drift by up to one slice per slot (2 here).
    expect(busiestWindow(arrivals, 1000)).toBeLessThanOrEqual(50 + 2 * 5);
    // And the long run keeps the rate: no three seconds hold more than three seconds' worth and a slice per slot.
    expect(busiestWindow(arrivals, 3000)).toBeLessThanOrEqual(150);
  });

  it('a campaign held back by its rate limit does not hold back the others', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '10' } });
    const slow = await seedCampaign(t.api, { contacts: 20, emailOf: (i) => `slow${i}@example.test` });
    await t.api('PATCH', `/v1/senders/${slow.senderId}`, { rateLimit: { perMinute: 1 } });
    const fast = await seedCampaign(t.api, { contacts: 300, emailOf: (i) => `fast${i}@example.test` });
    await act(t.api, slow.campaign.id, 'launch');
    await act(t.api, fast.campaign.id, 'launch');
    const done = await waitFor(t.api, fast.campaign.id, finished, 15_000);
    expect(done.counts.sent).toBe(300);
    expect((await t.api('GET', `/v1/campaigns/${slow.campaign.id}`)).body.counts.sent).toBe(1);
  });

  it('refuses a malformed rate rule with a 400', async () => {
    t = await startTestHerald({ dialect });
    const { senderId } = await seedCampaign(t.api, { contacts: 1 });
    const bad = await t.api('PATCH', `/v1/senders/${senderId}`, { rateLimit: { perSecond: 0 } });
    expect(bad.status).toBe(400);
    const noDate = await t.api('PATCH', `/v1/senders/${senderId}`, {
      rateLimit: { warmup: { startPerHour: 500, growth: 2, periodHours: 24, since: 'soon' } },
    });
    expect(noDate.status).toBe(400);
  });
});

describe('email over the HTTP batch API (sandbox)', () => {
  it('sends a campaign in batches of 500 per request', async () => {
    t = await startTestHerald({ env: { HERALD_EMAIL_TRANSPORT: 'http' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 1200 });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent', counts: { sent: 1200 } });
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 1200, unique: 1200, duplicates: 0 });
  });
});

describe('HERALD_EMAIL_RATE_LIMIT', () => {
  it('reads per-second, per-minute and per-hour limits, and names the variable when wrong', () => {
    expect(parseRateLimit('X', '100/s, 5000/m,100000/h')).toEqual({ perSecond: 100, perMinute: 5000, perHour: 100000 });
    expect(parseRateLimit('X', undefined)).toBeNull();
    expect(() => parseRateLimit('HERALD_EMAIL_RATE_LIMIT', '100 per second')).toThrow(/HERALD_EMAIL_RATE_LIMIT/);
    expect(() => parseRateLimit('HERALD_EMAIL_RATE_LIMIT', '0/s')).toThrow(/HERALD_EMAIL_RATE_LIMIT/);
  });
});
