import { afterEach, describe, expect, it } from 'vitest';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);

describe.each(dialects)('the suppression list in a send (%s)', (dialect) => {
  it('turns suppressed recipients into suppressed rows, counts them, and never sends to them', async () => {
    t = await startTestHerald({ dialect });
    const { campaign, listId } = await seedCampaign(t.api, { contacts: 40 });
    // A contact without an email gets no row at all, suppressed or not.
    const phoneOnly = await t.api('POST', '/v1/contacts/bulk', { contacts: [{ phone: '+4915100000001' }], listIds: [listId] });
    expect(phoneOnly.status).toBe(200);
    const suppressed = ['reader3@example.test', 'READER17@example.test ', '+4915100000001'];
    const added = await t.api('POST', '/v1/suppressions', {
      suppressions: suppressed.map((address) => ({ address, reason: 'unsubscribe' })),
    });
    expect(added.body).toEqual({ created: 3, updated: 0 });

    const estimate = (await t.api('GET', `/v1/campaigns/${campaign.id}/audience/estimate`)).body;
    expect(estimate).toMatchObject({ selected: 41, willSend: 38, suppressed: 2, noAddress: 1 });

    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, finished);
    // Seed 000: suppression checks make a campaign partially sent.
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent' });
    expect(done.counts).toMatchObject({ total: 40, sent: 38, suppressed: 2, pending: 0, inFlight: 0 });
    const stats = (await t.api('GET', `/v1/campaigns/${campaign.id}/stats`)).body;
    expect(stats.states.suppressed).toBe(2);

    const rows = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=suppressed`)).body.data;
    expect(rows.map((m: { address: string }) => m.address).sort()).toEqual(['reader17@example.test', 'reader3@example.test']);
    const received = t.herald
      .mailbox!.latest({ campaignId: campaign.id, limit: 100 })
      .flatMap((m) => m.to)
      .map((a) => a.toLowerCase());
    expect(received).toHaveLength(38);
    expect(received).not.toContain('reader3@example.test');
    expect(received).not.toContain('reader17@example.test');
  });

  it('does not send to an address suppressed while the campaign was paused', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '20' } });
    const { campaign } = await seedCampaign(t.api, { contacts: 600 });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.counts.processed >= 60);
    await act(t.api, campaign.id, 'pause');
    await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);

    // Five recipients still waiting unsubscribe (say, from another campaign) during the pause.
    const waiting = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=pending&limit=5`)).body.data;
    const gone: string[] = waiting.map((m: { address: string }) => m.address);
    expect(gone).toHaveLength(5);
    await t.api('POST', '/v1/suppressions', {
      suppressions: gone.map((address) => ({ address: address.toUpperCase(), reason: 'unsubscribe' })),
    });

    await act(t.api, campaign.id, 'resume');
    const done = await waitFor(t.api, campaign.id, finished);
    expect(done).toMatchObject({ status: 'completed', outcome: 'partially_sent' });
    expect(done.counts).toMatchObject({ total: 600, sent: 595, suppressed: 5, inFlight: 0, pending: 0 });
    const mailbox = t.herald.mailbox!;
    expect(mailbox.summary({ campaignId: campaign.id })).toEqual({ received: 595, unique: 595, duplicates: 0 });
    const received = new Set(mailbox.latest({ campaignId: campaign.id, limit: 1000 }).flatMap((m) => m.to));
    for (const address of gone) expect(received.has(address)).toBe(false);
    const rows = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=suppressed`)).body.data;
    expect(rows).toHaveLength(5);
    expect(rows[0].error).toMatchObject({ code: 'ADDRESS_SUPPRESSED' });
  });
});
