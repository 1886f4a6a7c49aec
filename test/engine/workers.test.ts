import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { type HeraldSender, startWorker as startSender } from '../../src/runtime.js';
import { pgAvailable } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald | undefined;
const workers: HeraldSender[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) await w.close();
  await t?.close();
  t = undefined;
});

/** A `herald worker` in-process: the engine alone, on the test's database and sandbox. */
async function startWorker(databaseUrl: string, smtpPort: number): Promise<HeraldSender> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    HERALD_SANDBOX: 'on',
    HERALD_SANDBOX_SMTP: `smtp://127.0.0.1:${smtpPort}`,
    HERALD_BATCH_SIZE: '25',
    HERALD_LEASE_MS: '2000',
  });
  const worker = await startSender(config, { log: pino({ level: 'silent' }) });
  workers.push(worker);
  return worker;
}

describe.skipIf(!pgAvailable)('several workers on one PostgreSQL', () => {
  it('share a campaign without claiming any message twice', async () => {
    t = await startTestHerald({ dialect: 'postgres', env: { HERALD_BATCH_SIZE: '25' } });
    const location = t.herald.config.database;
    const url = location.dialect === 'postgres' ? location.url : '';
    const smtpPort = t.herald.sandboxSmtp!.port;
    const extra = [await startWorker(url, smtpPort), await startWorker(url, smtpPort)];

    const { campaign } = await seedCampaign(t.api, { contacts: 3000 });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed', 60_000);

    expect(done).toMatchObject({ outcome: 'fully_sent', counts: { total: 3000, sent: 3000 } });
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 3000, unique: 3000, duplicates: 0 });
    const shares = [t.herald.engine.handedOver, ...extra.map((w) => w.engine.handedOver)];
    expect(shares.reduce((a, b) => a + b, 0)).toBe(3000);
    // Every worker took part: SKIP LOCKED let them claim side by side.
    for (const share of shares) expect(share).toBeGreaterThan(0);
    // Its own wait allows 60 s for three processes on a loaded 2-core machine; the default 30 s would not.
  }, 120_000);

  it('fire a scheduled campaign once, whichever worker holds the schedule lock', async () => {
    t = await startTestHerald({ dialect: 'postgres' });
    const location = t.herald.config.database;
    const url = location.dialect === 'postgres' ? location.url : '';
    await startWorker(url, t.herald.sandboxSmtp!.port);
    await startWorker(url, t.herald.sandboxSmtp!.port);
    const { campaign } = await seedCampaign(t.api, { contacts: 50 });
    await act(t.api, campaign.id, 'schedule', { sendAt: new Date(Date.now() + 1500).toISOString() });
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed', 30_000);
    expect(done.counts.sent).toBe(50);
    const events = (await t.api('GET', `/v1/campaigns/${campaign.id}/events`)).body.data.map((e: { action: string }) => e.action);
    expect(events.filter((a: string) => a === 'start')).toHaveLength(1);
    expect(t.herald.mailbox!.summary({ campaignId: campaign.id })).toEqual({ received: 50, unique: 50, duplicates: 0 });
  });
});
