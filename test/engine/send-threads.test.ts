import { afterEach, describe, expect, it } from 'vitest';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);

describe('rendering and sending in send threads (HERALD_SEND_THREADS)', () => {
  it.each(['http', 'smtp'])('sends every recipient once over %s, personalised, and records each outcome', async (transport) => {
    t = await startTestHerald({ env: { HERALD_SEND_THREADS: '2', HERALD_EMAIL_TRANSPORT: transport, HERALD_BATCH_SIZE: '50' } });
    // Both sandboxes refuse reader 7's address for good (a permanent failure).
    const emailOf = (i: number) => (i === 7 ? 'reader7+fail@example.test' : `reader${i}@example.test`);
    const { campaign } = await seedCampaign(t.api, { contacts: 400, emailOf });
    expect((await act(t.api, campaign.id, 'launch')).status).toBe(200);
    const done = await waitFor(t.api, campaign.id, finished);

    expect(done.counts).toMatchObject({ total: 400, sent: 399, failed: 1, pending: 0, inFlight: 0 });
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent' });
    const mailbox = t.herald.mailbox!;
    expect(mailbox.summary({ campaignId: campaign.id })).toEqual({ received: 399, unique: 399, duplicates: 0 });
    const [latest] = mailbox.latest({ campaignId: campaign.id, limit: 1 });
    expect(latest!.subject).toMatch(/^Hi R\d+$/);
    const failed = await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=failed`);
    const code = transport === 'http' ? 'HTTP_EMAIL_INACTIVE_RECIPIENT' : expect.any(String);
    expect(failed.body.data).toEqual([
      expect.objectContaining({ address: 'reader7+fail@example.test', attempts: 1, error: expect.objectContaining({ code }) }),
    ]);
  });
});
