import { afterEach, describe, expect, it } from 'vitest';
import { type TwilioSandboxServer, startTwilioSandbox } from '../../src/channels/twilio/sandbox.js';
import { dialects } from '../dialects.js';
import { type Api, type TestHerald, act, startTestHerald, waitFor } from '../harness.js';

/**
 * Per-recipient channel fallback and provider failover (DESIGN §8, issue 5 item 7), through
 * the real API, the engine, the adapters and their loopback sandboxes, with receipts coming
 * back through the signed webhooks.
 */

const phone = (i: number) => `+1555${String(2_000_000 + i * 10 + 1)}`;
const chat = (i: number) => String(800_000_000 + i);

async function template(api: Api, body: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/v1/templates', { name: 'T', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

async function sender(api: Api, body: Record<string, unknown>): Promise<string> {
  const r = await api('POST', '/v1/senders', { name: 'S', ...body });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
}

async function listOf(api: Api, contacts: Record<string, unknown>[]): Promise<string> {
  const list = await api('POST', '/v1/lists', { name: 'Everyone' });
  const r = await api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.body.id] });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return list.body.id as string;
}

/** Every message of the campaign's current run, by address. */
async function messagesOf(api: Api, campaignId: string) {
  const r = await api('GET', `/v1/campaigns/${campaignId}/messages?limit=500`);
  return r.body.data as { address: string; channel: string; state: string; error: { code: string } | null; fallbackTrail: string | null }[];
}

async function smsCampaign(t: TestHerald, n: number) {
  const list = await listOf(
    t.api,
    Array.from({ length: n }, (_, i) => ({ firstName: `R${i}`, phone: phone(i) })),
  );
  const campaign = await t.api('POST', '/v1/campaigns', {
    name: 'SMS',
    channel: 'sms',
    templateId: await template(t.api, { channel: 'sms', content: { text: 'Hi {{ contact.firstName }}' } }),
    senderId: await sender(t.api, { channel: 'sms', address: '+15005550006' }),
    audience: { listIds: [list] },
  });
  expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
  return campaign.body.id as string;
}

describe.each(dialects)('channel fallback and provider failover (%s)', (dialect) => {
  let t: TestHerald | undefined;
  const extra: TwilioSandboxServer[] = [];
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await Promise.all(extra.splice(0).map((s) => s.close()));
  });

  const start = async (env: Record<string, string> = {}) => {
    t = await startTestHerald({ dialect, env, sandboxFaults: { readRate: 0 } });
    // Listening, so the sandboxes can post their receipts back.
    await t.herald.app.listen({ port: 0, host: '127.0.0.1' });
    return t;
  };

  it('an email campaign reaches contacts without email by SMS, those with neither by Telegram, and skips those with none', async () => {
    const h = await start();
    const contacts = [
      ...[0, 1, 2].map((i) => ({ firstName: `E${i}`, email: `e${i}@example.test`, phone: phone(i) })),
      ...[3, 4, 5].map((i) => ({ firstName: `S${i}`, phone: phone(i), telegramChatId: chat(i) })),
      ...[6, 7, 8].map((i) => ({ firstName: `T${i}`, telegramChatId: chat(i) })),
      { firstName: 'Nobody', externalId: 'none-1' },
      { firstName: 'Nobody', externalId: 'none-2' },
      // Replied STOP to SMS (the Twilio test number answers 21610): moves on to Telegram.
      { firstName: 'Stop', phone: '+15005550004', telegramChatId: chat(9) },
      // Replied STOP and has nothing further: fails, naming Twilio's code.
      { firstName: 'Stop2', phone: '+15005550004', externalId: 'stop-2' },
    ];
    const list = await listOf(h.api, contacts);
    const fallback = [
      {
        channel: 'sms',
        templateId: await template(h.api, { channel: 'sms', content: { text: 'Hi {{ contact.firstName }}' } }),
        senderId: await sender(h.api, { channel: 'sms', address: '+15005550006' }),
      },
      {
        channel: 'telegram',
        templateId: await template(h.api, { channel: 'telegram', content: { text: 'Hi {{ contact.firstName }}' } }),
        senderId: await sender(h.api, { channel: 'telegram' }),
      },
    ];
    const created = await h.api('POST', '/v1/campaigns', {
      name: 'Everywhere',
      templateId: await template(h.api, { subject: 'Hi', html: '<p>Hi {{ contact.firstName }}</p>' }),
      senderId: await sender(h.api, { fromEmail: 'news@example.test' }),
      audience: { listIds: [list] },
      fallback,
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body.fallback).toEqual(fallback);
    const id = created.body.id as string;

    // The estimate counts a contact as addressed when any of the channels reaches it.
    const estimate = await h.api('GET', `/v1/campaigns/${id}/audience/estimate`);
    expect(estimate.body).toMatchObject({ selected: 13, willSend: 11, noAddress: 2 });

    expect((await act(h.api, id, 'launch')).status).toBe(200);
    const done = await waitFor(h.api, id, (c) => c.status === 'completed');
    expect(done.outcome).toBe('partially_sent');
    expect(done.counts).toMatchObject({ total: 11, sent: 10, failed: 1, pending: 0, inFlight: 0 });
    expect(done.counts.processed).toBe(done.counts.total);

    const sandbox = (channel: string) => h.herald.providers.sandboxes().find((s) => s.channel === channel)!.server;
    expect(sandbox('sms').accepted).toBe(3);
    expect(sandbox('telegram').accepted).toBe(4);
    const byAddress = new Map((await messagesOf(h.api, id)).map((m) => [m.address, m]));
    expect(byAddress.get('e0@example.test')).toMatchObject({ channel: 'email', fallbackTrail: null });
    expect(byAddress.get(phone(3))).toMatchObject({ channel: 'sms', fallbackTrail: null });
    expect(byAddress.get(chat(6))).toMatchObject({ channel: 'telegram', fallbackTrail: null });
    // The SMS failure stays visible on the message Telegram delivered.
    expect(byAddress.get(chat(9))).toMatchObject({ channel: 'telegram', state: 'delivered', error: null });
    expect(byAddress.get(chat(9))!.fallbackTrail).toMatch(/^sms: TWILIO_BLOCKED: /);
    expect(byAddress.get('+15005550004')).toMatchObject({ channel: 'sms', state: 'failed', error: { code: 'TWILIO_BLOCKED' } });
    await waitFor(h.api, id, (c) => c.counts.delivered >= 7); // Telegram's 4 at once, SMS's 3 by receipt
  });

  it('refuses fallbacks that repeat a channel, and preflight names a fallback whose template is of another channel', async () => {
    const h = await start();
    const list = await listOf(h.api, [{ email: 'a@example.test', phone: phone(1) }]);
    const email = await template(h.api, { subject: 'Hi', html: '<p>Hi</p>' });
    const smsSender = await sender(h.api, { channel: 'sms', address: '+15005550006' });
    const base = {
      name: 'C',
      templateId: email,
      senderId: await sender(h.api, { fromEmail: 'news@example.test' }),
      audience: { listIds: [list] },
    };
    const own = await h.api('POST', '/v1/campaigns', { ...base, fallback: [{ channel: 'email', templateId: email, senderId: smsSender }] });
    expect(own.status).toBe(400);
    expect(JSON.stringify(own.body)).toMatch(/fallback\/0\/channel/);
    const wrong = await h.api('POST', '/v1/campaigns', { ...base, fallback: [{ channel: 'sms', templateId: email, senderId: smsSender }] });
    expect(wrong.status).toBe(201);
    const twice = await h.api('PATCH', `/v1/campaigns/${wrong.body.id}`, {
      version: wrong.body.version,
      fallback: [
        { channel: 'sms', templateId: email, senderId: smsSender },
        { channel: 'sms', templateId: email, senderId: smsSender },
      ],
    });
    expect(twice.status).toBe(400);
    // Seed 003: a launch that cannot start fails the campaign with its reasons.
    const launch = await act(h.api, wrong.body.id, 'launch');
    expect(launch.body).toMatchObject({ status: 'failed' });
    expect(launch.body.failureReasons).toContainEqual({
      code: 'TEMPLATE_MISSING',
      detail: `Fallback 1 (sms): Template ${email} is for email, not sms.`,
    });
  });

  it('with the primary SMS provider failing every send transiently, the campaign completes through the failover sandbox', async () => {
    const h = await start({ HERALD_SANDBOX_FAILOVER: 'on' });
    const [primary, secondary] = h.herald.providers.sandboxes().filter((s) => s.channel === 'sms');
    expect(secondary!.provider).toBe('twilio-sms-failover');
    primary!.server.setFaults({ transientRate: 1, retryAfterSeconds: 0 });
    const id = await smsCampaign(h, 40);
    expect((await act(h.api, id, 'launch')).status).toBe(200);
    const done = await waitFor(h.api, id, (c) => c.status === 'completed');
    expect(done.outcome).toBe('fully_sent');
    expect(done.counts.sent).toBe(40);
    expect(primary!.server.accepted).toBe(0);
    expect(secondary!.server.accepted).toBe(40);
    // The secondary's callbacks, signed with its own account's token, find their messages.
    await waitFor(h.api, id, (c) => c.counts.delivered === 40);
  });

  it('with the primary SMS account refused (bad credentials), the environment’s failover account sends the campaign', async () => {
    const good = await startTwilioSandbox({ receiptUrl: () => null, accountSid: `AC${'1'.repeat(32)}`, authToken: 'primary-token' });
    const failover = await startTwilioSandbox({ receiptUrl: () => null, accountSid: `AC${'2'.repeat(32)}`, authToken: 'failover-token' });
    extra.push(good, failover);
    const h = await start({
      HERALD_SANDBOX: 'off',
      TWILIO_API_URL: good.url,
      TWILIO_ACCOUNT_SID: `AC${'1'.repeat(32)}`,
      TWILIO_AUTH_TOKEN: 'not-the-token',
      TWILIO_FAILOVER_API_URL: failover.url,
      TWILIO_FAILOVER_ACCOUNT_SID: `AC${'2'.repeat(32)}`,
      TWILIO_FAILOVER_AUTH_TOKEN: 'failover-token',
    });
    const id = await smsCampaign(h, 25);
    expect((await act(h.api, id, 'launch')).status).toBe(200);
    const done = await waitFor(h.api, id, (c) => ['completed', 'failed'].includes(c.status));
    expect(done.status, JSON.stringify(done.failureReasons)).toBe('completed');
    expect(done.counts.sent).toBe(25);
    expect(good.accepted).toBe(0);
    expect(failover.accepted).toBe(25);
    await waitFor(h.api, id, (c) => c.counts.delivered === 25);
  });
});
