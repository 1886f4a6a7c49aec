import { afterEach, describe, expect, it } from 'vitest';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

/**
 * Email over HTTP end to end (issue 5 item 3): campaigns through the real API, the engine, the
 * HTTP email adapter and its loopback sandbox over real sockets, with the sandbox's
 * Postmark-shaped webhooks coming back to POST /v1/receipts/postmark/default under basic auth.
 */

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe.each(dialects)('HTTP email receipts (%s)', (dialect) => {
  let t: TestHerald | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const start = async (readRate = 0) => {
    t = await startTestHerald({ dialect, env: { HERALD_EMAIL_TRANSPORT: 'http' }, sandboxFaults: { readRate } });
    // Listening, so the sandbox can post its webhooks back.
    await t.herald.app.listen({ port: 0, host: '127.0.0.1' });
    return t;
  };

  it('a campaign completes, deliveries and opens are counted, a +bounce recipient ends bounced and a +complaint one complained, both suppressed', async () => {
    const h = await start(0.5);
    const n = 40;
    const emailOf = (i: number) =>
      i === 3 ? 'reader3+bounce@example.test' : i === 5 ? 'reader5+complaint@example.test' : `reader${i}@example.test`;
    const { campaign } = await seedCampaign(h.api, { contacts: n, emailOf });
    expect((await act(h.api, campaign.id, 'launch')).status).toBe(200);
    const done = await waitFor(h.api, campaign.id, (c) => c.status === 'completed');
    expect(done.counts.sent).toBe(n);
    expect(h.herald.sandboxHttpEmail!.mailbox.summary()).toMatchObject({ received: n, unique: n });

    // Every message but the bounced and the complained one reaches `delivered` (or beyond).
    const settled = await waitFor(
      h.api,
      campaign.id,
      (c) => c.counts.delivered === n - 2 && c.counts.bounced === 1 && c.counts.complained === 1,
      20_000,
    );
    await h.herald.sandboxHttpEmail!.drainReceipts();
    const read = await waitFor(h.api, campaign.id, (c) => c.counts.opened > 0);
    expect(read.counts.opened).toBeLessThan(n);
    expect(settled.counts.delivered).toBe(n - 2);

    const bounced = await h.api('GET', `/v1/campaigns/${campaign.id}/messages?state=bounced`);
    expect(bounced.body.data.map((m: { address: string }) => m.address)).toEqual(['reader3+bounce@example.test']);
    expect((await h.api('GET', '/v1/suppressions/reader3%2Bbounce@example.test')).body).toMatchObject({ reason: 'hard_bounce' });
    expect((await h.api('GET', '/v1/suppressions/reader5%2Bcomplaint@example.test')).body).toMatchObject({ reason: 'complaint' });
    expect(h.herald.sandboxHttpEmail!.receiptsDropped).toBe(0);
  });

  it('refuses a webhook with forged basic auth (401, nothing changes), and takes the same one with the sandbox’s credentials', async () => {
    const h = await start();
    const { campaign } = await seedCampaign(h.api, { contacts: 2 });
    expect((await act(h.api, campaign.id, 'launch')).status).toBe(200);
    await waitFor(h.api, campaign.id, (c) => c.status === 'completed');
    await waitFor(h.api, campaign.id, (c) => c.counts.delivered === 2);
    await h.herald.sandboxHttpEmail!.drainReceipts();
    const m = await h.herald.db.selectFrom('messages').select(['id', 'run_id', 'address']).orderBy('id').executeTakeFirstOrThrow();
    const payload = JSON.stringify({
      RecordType: 'Bounce',
      Type: 'HardBounce',
      Inactive: true,
      MessageID: 'forged',
      BouncedAt: new Date().toISOString(),
      Email: m.address,
      Metadata: { herald_message: `${m.run_id}.${m.id}` },
    });
    const post = (headers: Record<string, string>, url = '/v1/receipts/postmark/default') =>
      h.herald.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload });

    for (const authorization of [
      basic('herald-sandbox', 'wrong-password-of-some-length'),
      basic('someone', 'herald-sandbox-webhook'),
      'Bearer herald-sandbox-webhook',
      'Basic !!!',
    ]) {
      const forged = await post({ authorization });
      expect(forged.statusCode, authorization).toBe(401);
      expect(forged.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
    }
    expect((await post({})).statusCode).toBe(401);
    const after = await h.api('GET', `/v1/campaigns/${campaign.id}`);
    expect(after.body.counts.bounced).toBe(0);
    expect((await h.api('GET', `/v1/suppressions/${encodeURIComponent(m.address!)}`)).status).toBe(404);

    // Per-sender URLs are not served: the email provider is configured per process.
    expect(
      (await post({ authorization: basic('herald-sandbox', 'herald-sandbox-webhook') }, '/v1/receipts/postmark/snd_x')).statusCode,
    ).toBe(404);
    const real = await post({ authorization: basic('herald-sandbox', 'herald-sandbox-webhook') });
    expect(real.statusCode, real.body).toBe(200);
    expect(real.json()).toEqual({ applied: 1, ignored: 0, unknown: 0 });
    expect((await h.api('GET', `/v1/campaigns/${campaign.id}`)).body.counts.bounced).toBe(1);
    expect((await h.api('GET', `/v1/suppressions/${encodeURIComponent(m.address!)}`)).body).toMatchObject({ reason: 'hard_bounce' });
  });
});

describe('postmark receipts outside sandbox mode', () => {
  let t: TestHerald | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  const env = {
    HERALD_SANDBOX: 'off',
    HERALD_EMAIL_TRANSPORT: 'http',
    EMAIL_HTTP_URL: 'http://127.0.0.1:9',
    EMAIL_HTTP_TOKEN: 'token',
  };
  const payload = JSON.stringify({ RecordType: 'Delivery', MessageID: 'p1', DeliveredAt: '2026-12-02T10:00:00Z' });

  it('answers 404 without EMAIL_HTTP_WEBHOOK_USER/_PASSWORD', async () => {
    t = await startTestHerald({ env, startEngine: false });
    const r = await t.herald.app.inject({
      method: 'POST',
      url: '/v1/receipts/postmark/default',
      headers: { 'content-type': 'application/json', authorization: basic('herald-sandbox', 'herald-sandbox-webhook') },
      payload,
    });
    expect(r.statusCode).toBe(404);
  });

  it('checks the configured credentials, not the sandbox’s', async () => {
    t = await startTestHerald({
      env: { ...env, EMAIL_HTTP_WEBHOOK_USER: 'postmark', EMAIL_HTTP_WEBHOOK_PASSWORD: 'a-long-webhook-password' },
      startEngine: false,
    });
    const post = (authorization: string) =>
      t!.herald.app.inject({
        method: 'POST',
        url: '/v1/receipts/postmark/default',
        headers: { 'content-type': 'application/json', authorization },
        payload,
      });
    expect((await post(basic('herald-sandbox', 'herald-sandbox-webhook'))).statusCode).toBe(401);
    const ok = await post(basic('postmark', 'a-long-webhook-password'));
    expect(ok.statusCode, ok.body).toBe(200);
    // A message Herald does not know: acknowledged, counted unknown.
    expect(ok.json()).toEqual({ applied: 0, ignored: 0, unknown: 1 });
  });
});
