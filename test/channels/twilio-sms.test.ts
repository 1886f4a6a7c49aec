import { readFileSync } from 'node:fs';
import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingSms } from '../../src/channels/channel.js';
import type { ReceiptRequest, SenderIdentity } from '../../src/channels/provider.js';
import { TwilioSmsAdapter, toMessageForm } from '../../src/channels/twilio-sms/adapter.js';
import { twilioSmsProvider } from '../../src/channels/twilio-sms/index.js';
import { parseTwilioSmsReceipt, twilioMessageStatuses, twilioSmsReceipts } from '../../src/channels/twilio-sms/receipts.js';
import {
  type TwilioConfig,
  sandboxTwilioAccountSid,
  sandboxTwilioAuthToken,
  sandboxTwilioConfig,
  twilioConfigFromEnv,
} from '../../src/channels/twilio/config.js';
import { verdictOfTwilioResponse } from '../../src/channels/twilio/errors.js';
import { type TwilioSandboxServer, startTwilioSandbox } from '../../src/channels/twilio/sandbox.js';
import { twilioSignature, verifyTwilioSignature } from '../../src/channels/twilio/signature.js';
import { fatalOf } from './provider-fatal.js';
import { startReceiptSink } from './receipt-sink.js';
import { specPath } from '../specs/spec-path.js';

const envSender: SenderIdentity = { id: null, name: null, address: '+15557654321', credentials: {} };

function sms(id: number, to = `+1555000${String(id).padStart(4, '1')}`, from = '+15557654321', runId = 7): OutgoingSms {
  return {
    channel: 'sms',
    messageId: id,
    runId,
    ledgerKey: `${runId}.${id}`,
    to,
    from,
    body: `Hello ${id} 👋`,
    segments: 1,
    encoding: 'UCS-2',
  };
}

/** A stand-in Twilio answering from a script, for failures the sandbox does not make. */
async function startStub(answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(++n, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let sandbox: TwilioSandboxServer | undefined;
const servers: Server[] = [];
const adapters: TwilioSmsAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  await sandbox?.drainReceipts();
  await sandbox?.close();
  sandbox = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

function adapterFor(config: TwilioConfig, receiptUrl: string | null = null, sender: SenderIdentity = envSender): TwilioSmsAdapter {
  const a = new TwilioSmsAdapter(config, sender, { receiptUrl });
  adapters.push(a);
  return a;
}

describe('sending SMS through the sandbox Twilio', () => {
  it('creates one Message per SMS and answers its SM sid, in order', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const results = await adapterFor(sandboxTwilioConfig(sandbox.url)).send([sms(1), sms(2), sms(3)]);
    expect(results).toEqual([1, 2, 3].map((id) => ({ messageId: id, ok: true, providerId: expect.stringMatching(/^SM[0-9a-f]{32}$/) })));
    expect(sandbox.accepted).toBe(3);
    expect(sandbox.duplicates).toBe(0);
    // Sent concurrently, so the sandbox may have taken them in any order.
    const byId = (a: { providerId: string | null }, b: { providerId: string | null }) => (a.providerId! < b.providerId! ? -1 : 1);
    expect(
      sandbox
        .messages()
        .map((m) => ({ channel: m.channel, to: m.to, summary: m.summary, providerId: m.providerId }))
        .sort(byId),
    ).toEqual(
      results
        .map((r, i) => ({ channel: 'sms', to: sms(i + 1).to, summary: `Hello ${i + 1} 👋`, providerId: r.ok ? r.providerId : null }))
        .sort(byId),
    );
  });

  it('sends a re-send again: Twilio keeps no idempotency key, and the adapter says so', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const adapter = adapterFor(sandboxTwilioConfig(sandbox.url));
    await adapter.send([sms(1)]);
    await adapter.send([sms(1)]);
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 8, idempotent: false, costUnit: 'segment' });
    expect([sandbox.accepted, sandbox.duplicates]).toEqual([2, 0]);
  });

  it('maps each recipient Twilio refuses to a permanent failure with its code, STOP marking the address blocked', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const results = await adapterFor(sandboxTwilioConfig(sandbox.url)).send([
      sms(1, '+15005550001'),
      sms(2, '+15005550002'),
      sms(3, '+15005550003'),
      sms(4, '+15005550004'),
      sms(5, '+15005550009'),
      sms(6, '12345'),
      sms(7),
    ]);
    expect(results.map((r) => (r.ok ? 'ok' : `${r.kind}:${r.code}:${r.recipient ?? '-'}`))).toEqual([
      'permanent:TWILIO_INVALID_TO:-',
      'permanent:TWILIO_UNREACHABLE:-',
      'permanent:TWILIO_REGION:-',
      'permanent:TWILIO_BLOCKED:blocked',
      'permanent:TWILIO_NOT_MOBILE:-',
      'permanent:TWILIO_INVALID_TO:-',
      'ok',
    ]);
    expect(results[0]).toMatchObject({ detail: expect.stringContaining('(Twilio error 21211)') });
    expect(sandbox.accepted).toBe(1);
  });

  it('answers transient with Retry-After on 429 and waits it out before the next request', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null, retryAfterSeconds: 1 });
    const adapter = adapterFor(sandboxTwilioConfig(sandbox.url));
    const [throttled] = await adapter.send([sms(1, '+15550000429')]);
    expect(throttled).toMatchObject({ ok: false, kind: 'transient', code: 'TWILIO_THROTTLED' });
    expect(!throttled!.ok && throttled!.retryAfterMs).toBeGreaterThanOrEqual(900);
    const started = Date.now();
    expect(await adapter.send([sms(2)])).toEqual([expect.objectContaining({ ok: true })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('answers transient at once, without calling, inside a Retry-After longer than it may wait', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null, retryAfterSeconds: 120 });
    const adapter = adapterFor({ ...sandboxTwilioConfig(sandbox.url), maxRetryWaitMs: 1_000 });
    await adapter.send([sms(1, '+15550000429')]);
    const [second] = await adapter.send([sms(2)]);
    expect(second).toMatchObject({ ok: false, kind: 'transient', code: 'TWILIO_THROTTLED' });
    expect(!second!.ok && second!.retryAfterMs).toBeGreaterThan(100_000);
    expect(sandbox.requests).toBe(1);
  });

  it('answers transient for a 503', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const [result] = await adapterFor(sandboxTwilioConfig(sandbox.url)).send([sms(1, '+15550000503')]);
    expect(result).toMatchObject({ ok: false, kind: 'transient', code: 'TWILIO_UNAVAILABLE' });
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it('throws TWILIO_AUTH with no results when Twilio refuses the credentials, and nothing is sent', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const err = await fatalOf(adapterFor(sandboxTwilioConfig(sandbox.url, sandboxTwilioAccountSid, 'wrong')).send([sms(1), sms(2)]));
    expect(err.code).toBe('TWILIO_AUTH');
    expect(err.results).toEqual([]);
    expect(err.message).not.toContain('wrong');
    expect(sandbox.accepted).toBe(0);
  });

  it('uses the sender’s own credentials over the environment’s, and refuses to send with none', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null, accountSid: `AC${'a'.repeat(32)}`, authToken: 'sender-token' });
    const envConfig = sandboxTwilioConfig(sandbox.url);
    const sender: SenderIdentity = {
      ...envSender,
      credentials: { accountSid: `AC${'a'.repeat(32)}`, authToken: 'sender-token' },
    };
    expect(await adapterFor(envConfig, null, sender).send([sms(1)])).toEqual([expect.objectContaining({ ok: true })]);
    expect((await fatalOf(adapterFor(envConfig).send([sms(2)]))).code).toBe('TWILIO_AUTH');
    const bare = { ...envConfig, accountSid: null, authToken: null };
    const none = await fatalOf(adapterFor(bare).send([sms(3)]));
    expect([none.code, none.message]).toEqual(['TWILIO_AUTH', expect.stringContaining('TWILIO_ACCOUNT_SID')]);
    expect(sandbox.requests).toBe(2);
  });

  it('throws TWILIO_SENDER when Twilio refuses the From number, keeping what it had accepted', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const adapter = adapterFor({ ...sandboxTwilioConfig(sandbox.url), concurrency: 1 });
    const err = await fatalOf(adapter.send([sms(1), sms(2, undefined, '+15005550007'), sms(3)]));
    expect(err.code).toBe('TWILIO_SENDER');
    expect(err.results).toEqual([{ messageId: 1, ok: true, providerId: expect.stringMatching(/^SM/) }]);
    expect(sandbox.requests).toBe(2);
  });

  it('throws TWILIO_ENDPOINT on a 404 (a wrong TWILIO_API_URL)', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const err = await fatalOf(adapterFor(sandboxTwilioConfig(`${sandbox.url}/wrong`)).send([sms(1)]));
    expect(err.code).toBe('TWILIO_ENDPOINT');
  });

  it('gives up on a request with no answer after the timeout, as transient', async () => {
    const s = await startStub(() => undefined);
    servers.push(s.server);
    const results = await adapterFor({ ...sandboxTwilioConfig(s.url), timeoutMs: 200 }).send([sms(1)]);
    expect(results).toEqual([expect.objectContaining({ ok: false, kind: 'transient', code: 'TWILIO_TIMEOUT' })]);
  });

  it('reports a Twilio that cannot be reached as transient', async () => {
    const s = await startStub(() => undefined);
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    const results = await adapterFor(sandboxTwilioConfig(s.url)).send([sms(1)]);
    expect(results).toEqual([expect.objectContaining({ ok: false, kind: 'transient', code: 'TWILIO_NETWORK' })]);
  });

  it('draws the fault rates from a seeded PRNG: the same seed gives the same outcomes', async () => {
    const outcomes = async () => {
      const s = await startTwilioSandbox({
        receiptUrl: () => null,
        seed: 42,
        transientRate: 0.2,
        permanentRate: 0.2,
        retryAfterSeconds: 0,
      });
      const adapter = adapterFor({ ...sandboxTwilioConfig(s.url), concurrency: 1 });
      const results = await adapter.send(Array.from({ length: 40 }, (_, i) => sms(i + 1)));
      await s.close();
      return results.map((r) => (r.ok ? 'ok' : r.code));
    };
    const first = await outcomes();
    expect(await outcomes()).toEqual(first);
    const count = (code: string) => first.filter((c) => c === code).length;
    expect(count('ok')).toBeGreaterThan(10);
    expect(count('TWILIO_THROTTLED') + count('TWILIO_UNAVAILABLE')).toBeGreaterThan(2);
    expect(count('TWILIO_INVALID_TO') + count('TWILIO_BLOCKED')).toBeGreaterThan(2);
  });

  it('changes its faults while running', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const adapter = adapterFor(sandboxTwilioConfig(sandbox.url));
    sandbox.setFaults({ permanentRate: 1 });
    expect((await adapter.send([sms(1), sms(2)])).every((r) => !r.ok && r.kind === 'permanent')).toBe(true);
    sandbox.setFaults({});
    expect((await adapter.send([sms(3)]))[0]!.ok).toBe(true);
  });
});

describe('SMS status callbacks', () => {
  it('posts sent then delivered to the StatusCallback, signed so the handler verifies it, with our ledger key', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const config = sandboxTwilioConfig(sandbox.url);
    const [result] = await adapterFor(config, collector.url).send([sms(42)]);
    await sandbox.drainReceipts();
    expect(sandbox.messages()[0]!.ledgerKey).toBe('7.42');
    expect(collector.received).toHaveLength(2);
    for (const request of collector.received) {
      expect(request.url).toBe(`${collector.url}?m=7.42`);
      expect(twilioSmsReceipts.verify(request, config, envSender)).toBe(true);
    }
    const parsed = collector.received.map((r) => twilioSmsReceipts.parse(r));
    const providerId = result!.ok ? result!.providerId : null;
    expect(parsed).toEqual([
      { ok: true, events: [] },
      { ok: true, events: [{ message: { runId: 7, messageId: 42 }, providerId, type: 'delivered', at: expect.any(Date) }] },
    ]);
  });

  it('refuses a callback whose body, URL, signature or account was tampered with', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const config = sandboxTwilioConfig(sandbox.url);
    await adapterFor(config, collector.url).send([sms(42)]);
    await sandbox.drainReceipts();
    const signed = collector.received[1]!;
    const body = signed.rawBody.toString();
    const tampered: ReceiptRequest[] = [
      { ...signed, rawBody: Buffer.from(body.replace('MessageStatus=delivered', 'MessageStatus=undelivered')) },
      { ...signed, rawBody: Buffer.from(`${body}&ErrorCode=30003`) },
      { ...signed, url: signed.url.replace('m=7.42', 'm=7.43') },
      { ...signed, headers: { ...signed.headers, 'x-twilio-signature': undefined } },
      { ...signed, method: 'GET' },
    ];
    for (const request of tampered) expect(twilioSmsReceipts.verify(request, config, envSender)).toBe(false);
    // Right signature, but under another sender's account.
    const other: SenderIdentity = { ...envSender, credentials: { accountSid: `AC${'b'.repeat(32)}`, authToken: sandboxTwilioAuthToken } };
    expect(twilioSmsReceipts.verify(signed, config, other)).toBe(false);
    expect(twilioSmsReceipts.verify(signed, { ...config, authToken: 'another' }, envSender)).toBe(false);
  });

  it('reports an undelivered message as failed with TWILIO_<ErrorCode> and its meaning', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    await adapterFor(sandboxTwilioConfig(sandbox.url), collector.url).send([sms(5, '+15550003003')]);
    await sandbox.drainReceipts();
    expect(twilioSmsReceipts.parse(collector.received[1]!)).toEqual({
      ok: true,
      events: [
        {
          message: { runId: 7, messageId: 5 },
          providerId: expect.stringMatching(/^SM/),
          type: 'failed',
          code: 'TWILIO_30003',
          detail: 'Unreachable destination handset',
          at: expect.any(Date),
        },
      ],
    });
  });

  it('with undeliveredRate 1, every accepted message comes back undelivered', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null, undeliveredRate: 1 });
    await adapterFor(sandboxTwilioConfig(sandbox.url), collector.url).send([sms(1), sms(2)]);
    await sandbox.drainReceipts();
    const events = collector.received.flatMap((r) => {
      const parsed = twilioSmsReceipts.parse(r);
      return parsed.ok ? parsed.events : [];
    });
    expect(events.map((e) => e.code)).toEqual(['TWILIO_30003', 'TWILIO_30003']);
  });

  it('without a StatusCallback, posts to the sandbox’s receipt URL and the event is keyed by MessageSid', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => collector.url, receiptDelayMs: 1 });
    const config = sandboxTwilioConfig(sandbox.url);
    const [result] = await adapterFor(config, null).send([sms(1)]);
    await sandbox.drainReceipts();
    expect(collector.received.map((r) => r.url)).toEqual([collector.url, collector.url]);
    expect(twilioSmsReceipts.verify(collector.received[1]!, config, envSender)).toBe(true);
    const parsed = twilioSmsReceipts.parse(collector.received[1]!);
    expect(parsed).toEqual({
      ok: true,
      events: [{ message: null, providerId: result!.ok ? result!.providerId : 'x', type: 'delivered', at: expect.any(Date) }],
    });
  });

  const callback = (form: Record<string, string>, url = 'https://herald.example/v1/receipts/twilio-sms/snd_1?m=3.9'): ReceiptRequest => ({
    url,
    method: 'POST',
    headers: {},
    rawBody: Buffer.from(new URLSearchParams(form).toString()),
  });
  const now = new Date('2026-03-01T12:00:00Z');

  it.each([
    ['queued', {}, []],
    ['sending', {}, []],
    ['sent', {}, []],
    ['delivered', {}, [{ type: 'delivered' }]],
    ['read', {}, [{ type: 'read' }]],
    ['undelivered', { ErrorCode: '30005' }, [{ type: 'failed', code: 'TWILIO_30005', detail: 'Unknown destination handset' }]],
    ['failed', { ErrorCode: '30008', ErrorMessage: 'Unknown error' }, [{ type: 'failed', code: 'TWILIO_30008', detail: 'Unknown error' }]],
    ['failed', {}, [{ type: 'failed', code: 'TWILIO_FAILED', detail: 'Twilio reported the message failed' }]],
    [
      'undelivered',
      { ErrorCode: '21610' },
      [{ type: 'failed', code: 'TWILIO_21610', detail: 'The recipient replied STOP', recipient: 'blocked' }],
    ],
    ['receiving', {}, []],
  ])('MessageStatus %s %o → %o', (status, extra, expected) => {
    const parsed = parseTwilioSmsReceipt(callback({ MessageSid: 'SM1', MessageStatus: status, ...extra }), now);
    expect(parsed).toEqual({
      ok: true,
      events: expected.map((e) => ({ message: { runId: 3, messageId: 9 }, providerId: 'SM1', at: now, ...e })),
    });
  });

  it.each([
    [{ MessageSid: 'SM1' }, /MessageStatus/],
    [{ MessageStatus: 'delivered' }, /which message/],
  ])('refuses %o', (form, detail) => {
    const parsed = parseTwilioSmsReceipt(callback(form, 'https://herald.example/r?m=not-a-key'));
    expect(parsed).toEqual({ ok: false, detail: expect.stringMatching(detail) });
  });
});

describe('the Twilio signature', () => {
  const url = 'https://mycompany.com/myapp.php?foo=1&bar=2';

  it('reproduces Twilio’s published vectors, a repeated name signed once per distinct value', () => {
    const form = new URLSearchParams({
      CallSid: 'CA1234567890ABCDE',
      Caller: '+14158675309',
      Digits: '1234',
      From: '+14158675309',
      To: '+18005551212',
    });
    expect(twilioSignature('12345', url, form)).toBe('RSOYDt4T1cUTdK1PDd93/VVr8B8=');
    const repeated = new URLSearchParams([
      ['Sid', 'CA123'],
      ['SidAccount', 'AC123'],
      ['Digits', '5678'],
      ['Digits', '1234'],
      ['Digits', '1234'],
    ]);
    expect(twilioSignature('12345', url, repeated)).toBe('IK+Dwps556ElfBT0I3Rgjkr1wJU=');
  });

  it('verifies with or without the default port, and fails on any other change', () => {
    const form = new URLSearchParams({ MessageSid: 'SM1', MessageStatus: 'delivered' });
    const signed = twilioSignature('tok', 'https://h.example:443/r?m=1.2', form);
    expect(verifyTwilioSignature('tok', 'https://h.example/r?m=1.2', form, signed)).toBe(true);
    expect(verifyTwilioSignature('tok', 'https://h.example:443/r?m=1.2', form, signed)).toBe(true);
    expect(verifyTwilioSignature('tok', 'https://h.example:8443/r?m=1.2', form, signed)).toBe(false);
    expect(verifyTwilioSignature('tok', 'https://h.example/r?m=1.3', form, signed)).toBe(false);
    expect(verifyTwilioSignature('other', 'https://h.example/r?m=1.2', form, signed)).toBe(false);
    expect(verifyTwilioSignature('tok', 'https://h.example/r?m=1.2', form, `${signed}x`)).toBe(false);
    expect(verifyTwilioSignature('tok', 'https://h.example/r?m=1.2', form, undefined)).toBe(false);
  });
});

describe('Twilio answers map to our outcome kinds', () => {
  const body = (code: number, message = 'm') => JSON.stringify({ code, message, more_info: 'x', status: 400 });
  it.each([
    [401, body(20003), { verdict: 'fatal', code: 'TWILIO_AUTH' }],
    [403, '<html>no</html>', { verdict: 'fatal', code: 'TWILIO_AUTH' }],
    [404, body(20404), { verdict: 'fatal', code: 'TWILIO_ENDPOINT' }],
    [404, '', { verdict: 'fatal', code: 'TWILIO_ENDPOINT' }],
    [301, '', { verdict: 'fatal', code: 'TWILIO_ENDPOINT' }],
    [429, body(20429), { verdict: 'failed', kind: 'transient', code: 'TWILIO_THROTTLED' }],
    [429, '', { verdict: 'failed', kind: 'transient', code: 'TWILIO_THROTTLED' }],
    [500, '', { verdict: 'failed', kind: 'transient', code: 'TWILIO_UNAVAILABLE' }],
    [408, '', { verdict: 'failed', kind: 'transient', code: 'TWILIO_UNAVAILABLE' }],
    [400, body(21211), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_INVALID_TO' }],
    [400, body(21614), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_NOT_MOBILE' }],
    [400, body(21408), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_REGION' }],
    [400, body(21612), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_UNREACHABLE' }],
    [400, body(21610), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_BLOCKED', recipient: 'blocked' }],
    [400, body(21606), { verdict: 'fatal', code: 'TWILIO_SENDER' }],
    [400, body(21212), { verdict: 'fatal', code: 'TWILIO_SENDER' }],
    [400, body(21659), { verdict: 'fatal', code: 'TWILIO_SENDER' }],
    [400, body(21611), { verdict: 'failed', kind: 'transient', code: 'TWILIO_QUEUE_FULL' }],
    [400, body(21999), { verdict: 'failed', kind: 'permanent', code: 'TWILIO_21999' }],
    [400, 'not json', { verdict: 'failed', kind: 'permanent', code: 'TWILIO_REJECTED' }],
  ])('HTTP %i %s → %o', (status, text, expected) => {
    expect(verdictOfTwilioResponse(status, text)).toEqual({ ...expected, detail: expect.any(String) });
  });
});

describe('Twilio configuration from the environment', () => {
  const sid = `AC${'0123456789abcdef'.repeat(2)}`;

  it('is null when Twilio is not configured, and defaults to the public API', () => {
    expect(twilioConfigFromEnv({})).toBeNull();
    expect(twilioConfigFromEnv({ TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't' })).toEqual({
      baseUrl: 'https://api.twilio.com',
      accountSid: sid,
      authToken: 't',
      concurrency: 8,
      timeoutMs: 15_000,
      maxRetryWaitMs: 10_000,
    });
    // The URL alone turns Twilio on, every sender carrying its own credentials.
    expect(twilioConfigFromEnv({ TWILIO_API_URL: 'http://127.0.0.1:9000/' })).toMatchObject({
      baseUrl: 'http://127.0.0.1:9000',
      accountSid: null,
      authToken: null,
    });
  });

  it('defaults to the public API with no account, for senders that carry their own', () => {
    expect(twilioSmsProvider.defaultConfig!({ TWILIO_CONCURRENCY: '3' })).toEqual({
      baseUrl: 'https://api.twilio.com',
      accountSid: null,
      authToken: null,
      concurrency: 3,
      timeoutMs: 15_000,
      maxRetryWaitMs: 10_000,
    });
    expect(twilioSmsProvider.defaultConfig!({ TWILIO_API_URL: 'http://127.0.0.1:9000' }).baseUrl).toBe('http://127.0.0.1:9000');
  });

  it.each([
    [{ TWILIO_ACCOUNT_SID: sid }, /TWILIO_AUTH_TOKEN/],
    [{ TWILIO_AUTH_TOKEN: 't' }, /TWILIO_ACCOUNT_SID/],
    [{ TWILIO_ACCOUNT_SID: 'ACnope', TWILIO_AUTH_TOKEN: 't' }, /Account SID/],
    [{ TWILIO_API_URL: 'http://api.example.test' }, /TWILIO_API_URL must use https/],
    [{ TWILIO_API_URL: 'https://api.example.test?x=1' }, /TWILIO_API_URL/],
    [{ TWILIO_API_URL: 'nope' }, /TWILIO_API_URL/],
    [{ TWILIO_API_URL: 'https://a.test', TWILIO_CONCURRENCY: '0' }, /TWILIO_CONCURRENCY/],
    [{ TWILIO_API_URL: 'https://a.test', TWILIO_TIMEOUT_MS: 'soon' }, /TWILIO_TIMEOUT_MS/],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => twilioConfigFromEnv(env)).toThrow(message);
  });
});

describe('the twilio-sms provider module', () => {
  it('starts a sandbox whose config and credentials send, and whose callbacks its handler verifies', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-sms/snd_1');
    servers.push(collector.server);
    const started = await twilioSmsProvider.startSandbox({ receiptUrl: () => collector.url });
    sandbox = started.server as TwilioSandboxServer;
    expect(twilioSmsProvider).toMatchObject({ name: 'twilio-sms', channel: 'sms', credentialFields: ['accountSid', 'authToken'] });
    const sender: SenderIdentity = { ...envSender, credentials: started.credentials };
    const adapter = twilioSmsProvider.createAdapter({ ...started.config, accountSid: null, authToken: null }, sender, {
      receiptUrl: collector.url,
    });
    try {
      expect(await adapter.send([sms(1)])).toEqual([expect.objectContaining({ ok: true })]);
    } finally {
      await adapter.close();
    }
    await started.server.drainReceipts();
    expect(collector.received.every((r) => twilioSmsProvider.receipts!.verify(r, started.config, sender))).toBe(true);
    expect(collector.received).toHaveLength(2);
  });
});

describe('contract with Twilio’s OpenAPI description (twilio_api_v2010.json)', () => {
  const spec = JSON.parse(readFileSync(specPath('twilio_api_v2010.json'), 'utf8'));
  const path = '/2010-04-01/Accounts/{AccountSid}/Messages.json';

  it('posts only form fields the create-Message operation defines, including every required one', () => {
    const operation = spec.paths[path]?.post;
    expect(operation?.operationId).toBe('CreateMessage');
    const schema = operation.requestBody.content['application/x-www-form-urlencoded'].schema;
    const form = toMessageForm(sms(1), 'https://herald.example/v1/receipts/twilio-sms/snd_1');
    const sent = [...new Set(form.keys())];
    expect(sent).toEqual(['To', 'From', 'Body', 'StatusCallback']);
    for (const field of sent) expect(Object.keys(schema.properties)).toContain(field);
    for (const field of schema.required ?? []) expect(sent).toContain(field);
    expect(form.get('StatusCallback')).toBe('https://herald.example/v1/receipts/twilio-sms/snd_1?m=7.1');
    expect(toMessageForm(sms(1), null).has('StatusCallback')).toBe(false);
  });

  it('maps only MessageStatus values the spec defines', () => {
    const statuses: string[] = spec.components.schemas.message_enum_status.enum;
    for (const status of twilioMessageStatuses) expect(statuses).toContain(status);
  });

  it('has the sandbox answer a create with fields of the spec’s Message resource', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const response = await fetch(`${sandbox.url}/2010-04-01/Accounts/${sandboxTwilioAccountSid}/Messages.json`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${sandboxTwilioAccountSid}:${sandboxTwilioAuthToken}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ To: '+15551234567', From: 'Herald', Body: 'Hi €' }).toString(),
    });
    expect(response.status).toBe(201);
    const message = (await response.json()) as Record<string, unknown>;
    const properties = Object.keys(spec.components.schemas['api.v2010.account.message'].properties);
    for (const field of Object.keys(message)) expect(properties).toContain(field);
    expect(message).toMatchObject({ status: 'queued', num_segments: '1', from: 'Herald', sid: expect.stringMatching(/^SM/) });
  });

  it('has the sandbox answer errors in Twilio’s shape', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const post = (body: Record<string, string>) =>
      fetch(`${sandbox!.url}/2010-04-01/Accounts/${sandboxTwilioAccountSid}/Messages.json`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${Buffer.from(`${sandboxTwilioAccountSid}:${sandboxTwilioAuthToken}`).toString('base64')}`,
          'Content-Type': 'application/x-www-form-urlencoded',
        },
        body: new URLSearchParams(body).toString(),
      }).then(async (r) => [r.status, await r.json()]);
    expect(await post({ From: '+15551234567', Body: 'x' })).toEqual([400, expect.objectContaining({ code: 21604, status: 400 })]);
    expect(await post({ To: '+15551234567', Body: 'x' })).toEqual([400, expect.objectContaining({ code: 21603 })]);
    expect(await post({ To: '+15551234567', From: '+15557654321' })).toEqual([400, expect.objectContaining({ code: 21602 })]);
    expect(await post({ To: '+15551234567', From: '+15557654321', Body: 'x'.repeat(1601) })).toEqual([
      400,
      expect.objectContaining({ code: 21617, more_info: 'https://www.twilio.com/docs/errors/21617' }),
    ]);
  });
});
