import { type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingViber, ProviderFatalError, type SendResult } from '../../src/channels/channel.js';
import type { SenderIdentity } from '../../src/channels/provider.js';
import {
  ViberAdapter,
  parseViberJson,
  setWebhook,
  toWireViber,
  verdictOfAnswer,
  verdictOfHttpStatus,
} from '../../src/channels/viber/adapter.js';
import { type ViberConfig, sandboxViberConfig, sandboxViberToken, viberConfigFromEnv } from '../../src/channels/viber/config.js';
import { viberProvider } from '../../src/channels/viber/index.js';
import { parseViberCallback, viberReceipts, viberSignature } from '../../src/channels/viber/receipts.js';
import { type ViberSandbox, type ViberSandboxOptions, startViberSandbox } from '../../src/channels/viber/sandbox.js';
import { fatalOf } from './provider-fatal.js';
import { startReceiptSink } from './receipt-sink.js';

function viber(id: number, overrides: Partial<OutgoingViber> = {}): OutgoingViber {
  return {
    channel: 'viber',
    messageId: id,
    runId: 7,
    ledgerKey: `7.${id}`,
    to: `user${id}==`,
    senderName: 'Herald News',
    senderAvatar: 'https://cdn.example.test/avatar.jpg',
    text: `Hello ${id}`,
    imageUrl: null,
    button: null,
    ...overrides,
  };
}

const sender = (authToken?: string, name: string | null = 'Herald'): SenderIdentity => ({
  id: 'snd_1',
  name,
  address: null,
  credentials: authToken === undefined ? {} : { authToken },
});

/** A stand-in Viber answering each request from a script, for answers the sandbox does not make. */
async function startStub(answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(++n, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const servers: Server[] = [];
const sandboxes: ViberSandbox[] = [];
const adapters: ViberAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  for (const s of sandboxes.splice(0)) await s.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function sandboxWith(options: Partial<ViberSandboxOptions> = {}, receiptUrl: string | null = null): Promise<ViberSandbox> {
  const s = await startViberSandbox({ receiptUrl: () => receiptUrl, receiptDelayMs: 1, ...options });
  sandboxes.push(s);
  return s;
}

function adapterFor(url: string, token = sandboxViberToken, overrides: Partial<ViberConfig> = {}): ViberAdapter {
  const a = new ViberAdapter({ ...sandboxViberConfig(url, 'not-the-env-token'), ...overrides }, sender(token));
  adapters.push(a);
  return a;
}

const failure = (r: SendResult | undefined) => (r && !r.ok ? r : expect.unreachable(`expected a failure, got ${JSON.stringify(r)}`));

describe('sending through the sandbox Viber API', () => {
  it('sends text, picture and button messages, each accepted with its own message token', async () => {
    const sandbox = await sandboxWith();
    const results = await adapterFor(sandbox.url).send([
      viber(1),
      viber(2, { imageUrl: 'https://cdn.example.test/sale.jpg', text: 'Sale' }),
      viber(3, { button: { text: 'Open <shop>', url: 'https://shop.example.test/?a=1&b=2' } }),
      viber(4, { text: 'x'.repeat(1000), button: { text: 'Read more', url: 'https://shop.example.test/' } }),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true]);
    const kept = sandbox.messages();
    expect(kept.map((m) => [m.to, m.ledgerKey, m.summary.slice(0, 14)])).toEqual([
      ['user1==', '7.1', 'Hello 1'],
      ['user2==', '7.2', '[picture] Sale'],
      ['user3==', '7.3', '[rich media] H'],
      ['user4==', '7.4', 'xxxxxxxxxxxxxx'],
    ]);
    expect(results.map((r) => (r.ok ? r.providerId : null))).toEqual(kept.map((m) => m.providerId));
    expect(sandbox.accepted).toBe(4);
    expect(sandbox.duplicates).toBe(0);
  });

  it('keeps the 64-bit message token exact, where a JS number would round it', async () => {
    const sandbox = await sandboxWith();
    const [result] = await adapterFor(sandbox.url).send([viber(1)]);
    const providerId = result?.ok ? result.providerId : null;
    expect(providerId).toBe('4912661846655238145');
    expect(String(Number(providerId))).not.toBe(providerId);
    expect(sandbox.messages()[0]?.providerId).toBe(providerId);
  });

  it('answers permanent with recipient blocked for receiverNotSubscribed, and Viber says unsubscribed about the address', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const sandbox = await sandboxWith({}, collector.url);
    const [result] = await adapterFor(sandbox.url).send([viber(1, { to: 'gone+unsubscribed==' })]);
    expect(failure(result)).toMatchObject({ messageId: 1, kind: 'permanent', code: 'VIBER_NOT_SUBSCRIBED', recipient: 'blocked' });
    await sandbox.drainReceipts();
    expect(collector.received).toHaveLength(1);
    const parsed = viberReceipts.parse(collector.received[0]!);
    expect(parsed).toEqual({
      ok: true,
      events: [
        {
          message: null,
          providerId: null,
          type: 'unsubscribed',
          recipient: 'blocked',
          address: 'gone+unsubscribed==',
          at: expect.any(Date),
        },
      ],
    });
    expect(sandbox.accepted).toBe(0);
  });

  it('answers transient for tooManyRequests (status 12) and for HTTP 503, permanent for an unregistered receiver', async () => {
    const sandbox = await sandboxWith();
    const results = await adapterFor(sandbox.url).send([
      viber(1, { to: 'a+throttled==' }),
      viber(2, { to: 'b+unavailable==' }),
      viber(3, { to: 'c+unregistered==' }),
      viber(4),
    ]);
    expect(failure(results[0])).toMatchObject({ kind: 'transient', code: 'VIBER_THROTTLED' });
    expect(failure(results[1])).toMatchObject({ kind: 'transient', code: 'VIBER_UNAVAILABLE' });
    expect(failure(results[2])).toMatchObject({ kind: 'permanent', code: 'VIBER_NOT_REGISTERED', recipient: 'invalid' });
    expect(results[3]).toMatchObject({ messageId: 4, ok: true });
  });

  it('throws VIBER_AUTH for a token Viber refuses, and nothing is accepted', async () => {
    const sandbox = await sandboxWith();
    const err = await fatalOf(adapterFor(sandbox.url, 'wrong-token').send([viber(1), viber(2)]));
    expect(err.code).toBe('VIBER_AUTH');
    expect(err.results).toEqual([]);
    expect(sandbox.accepted).toBe(0);
  });

  it('throws VIBER_AUTH without calling when neither the sender nor the environment has a token', async () => {
    const sandbox = await sandboxWith();
    const a = new ViberAdapter(sandboxViberConfig(sandbox.url, ''), sender());
    adapters.push(a);
    expect((await fatalOf(a.send([viber(1)]))).code).toBe('VIBER_AUTH');
    expect(sandbox.requests).toBe(0);
  });

  it('uses the environment token when the sender has none', async () => {
    const sandbox = await sandboxWith();
    const a = new ViberAdapter(sandboxViberConfig(sandbox.url), sender());
    adapters.push(a);
    expect((await a.send([viber(1)]))[0]?.ok).toBe(true);
  });

  it('after a fatal message keeps the results sent before it and sends nothing after it', async () => {
    const sandbox = await sandboxWith();
    const err = await fatalOf(
      adapterFor(sandbox.url, sandboxViberToken, { concurrency: 1 }).send([viber(1), viber(2, { senderName: 'N'.repeat(29) }), viber(3)]),
    );
    expect(err.code).toBe('VIBER_SENDER_NAME');
    expect(err.results).toEqual([{ messageId: 1, ok: true, providerId: expect.stringMatching(/^\d{19}$/) }]);
    expect(sandbox.accepted).toBe(1);
  });

  it('fails a message with neither text nor image as permanent without a request', async () => {
    const sandbox = await sandboxWith();
    const [result] = await adapterFor(sandbox.url).send([viber(1, { text: null })]);
    expect(failure(result)).toMatchObject({ kind: 'permanent', code: 'VIBER_EMPTY_MESSAGE' });
    expect(sandbox.requests).toBe(0);
  });

  it('with fault rates, repeats the same choices for the same seed, and setFaults turns them off', async () => {
    const outcomes = async (seed: number) => {
      const sandbox = await sandboxWith({ seed, transientRate: 0.3, permanentRate: 0.2 });
      const a = adapterFor(sandbox.url, sandboxViberToken, { concurrency: 1 });
      const results = await a.send(Array.from({ length: 100 }, (_, i) => viber(i + 1)));
      sandbox.setFaults({});
      const after = await a.send([viber(101), viber(102)]);
      return { codes: results.map((r) => (r.ok ? 'ok' : r.code)), after: after.map((r) => r.ok) };
    };
    const first = await outcomes(42);
    expect(await outcomes(42)).toEqual(first);
    const throttled = first.codes.filter((c) => c === 'VIBER_THROTTLED').length;
    const unsubscribed = first.codes.filter((c) => c === 'VIBER_NOT_SUBSCRIBED').length;
    expect(throttled).toBeGreaterThan(15);
    expect(throttled).toBeLessThan(45);
    expect(unsubscribed).toBeGreaterThan(5);
    expect(first.after).toEqual([true, true]);
    expect((await outcomes(43)).codes).not.toEqual(first.codes);
  });

  it('keeps only the latest 10,000 messages, newest last', async () => {
    const sandbox = await sandboxWith({ receiptDelayMs: 0 });
    const bulk = adapterFor(sandbox.url);
    for (let from = 1; from <= 10_000; from += 2_000) await bulk.send(Array.from({ length: 2_000 }, (_, i) => viber(from + i)));
    // The last five one at a time, so their order of arrival is known.
    await adapterFor(sandbox.url, sandboxViberToken, { concurrency: 1 }).send(Array.from({ length: 5 }, (_, i) => viber(10_001 + i)));
    expect(sandbox.accepted).toBe(10_005);
    const kept = sandbox.messages();
    expect(kept).toHaveLength(10_000);
    expect(new Set(kept.map((m) => m.ledgerKey)).size).toBe(10_000);
    expect(kept.slice(-5).map((m) => m.ledgerKey)).toEqual(['7.10001', '7.10002', '7.10003', '7.10004', '7.10005']);
  });
});

describe('answers the sandbox does not make', () => {
  async function oneAnswer(status: number, body: string): Promise<SendResult[] | ProviderFatalError> {
    const stub = await startStub((_, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(body);
    });
    servers.push(stub.server);
    return adapterFor(stub.url)
      .send([viber(1)])
      .catch((e: ProviderFatalError) => e);
  }

  it('reads a token from any Viber answer exactly', async () => {
    expect(await oneAnswer(200, '{"status":0,"status_message":"ok","message_token":5741311803571721087,"chat_hostname":"SN-1_"}')).toEqual([
      { messageId: 1, ok: true, providerId: '5741311803571721087' },
    ]);
  });

  it.each([
    [10, 'webhookNotSet', 'VIBER_WEBHOOK'],
    [7, 'publicAccountBlocked', 'VIBER_ACCOUNT'],
    [9, 'publicAccountSuspended', 'VIBER_ACCOUNT'],
  ])('throws on status %i (%s) as %s', async (status, message, code) => {
    const err = await oneAnswer(200, JSON.stringify({ status, status_message: message }));
    expect(err).toBeInstanceOf(ProviderFatalError);
    expect((err as ProviderFatalError).code).toBe(code);
  });

  it('treats a 200 it cannot read as transient, and a wrong URL (404) as fatal', async () => {
    expect(failure(((await oneAnswer(200, '<html>proxy</html>')) as SendResult[])[0])).toMatchObject({
      kind: 'transient',
      code: 'VIBER_BAD_RESPONSE',
    });
    expect(((await oneAnswer(404, 'not found')) as ProviderFatalError).code).toBe('VIBER_ENDPOINT');
  });

  it('gives up on a request with no answer after the timeout, as transient', async () => {
    const stub = await startStub(() => undefined);
    servers.push(stub.server);
    const [result] = await adapterFor(stub.url, sandboxViberToken, { timeoutMs: 200 }).send([viber(1)]);
    expect(failure(result)).toMatchObject({ kind: 'transient', code: 'VIBER_TIMEOUT' });
  });

  it('reports Viber that cannot be reached as transient', async () => {
    const stub = await startStub(() => undefined);
    const url = stub.url;
    await new Promise<void>((resolve) => stub.server.close(() => resolve()));
    const [result] = await adapterFor(url).send([viber(1)]);
    expect(failure(result)).toMatchObject({ kind: 'transient', code: 'VIBER_NETWORK' });
  });
});

describe('Viber callbacks at the webhook', () => {
  it('posts delivered then seen, signed so verify() accepts them, and parse() names the sent message', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const sandbox = await sandboxWith({}, collector.url);
    const [result] = await adapterFor(sandbox.url).send([viber(1, { to: 'reader+seen==' })]);
    await sandbox.drainReceipts();
    const config = sandboxViberConfig(sandbox.url, 'env-token-unused');
    const providerId = result?.ok ? result.providerId : null;
    expect(collector.received.map((r) => viberReceipts.verify(r, config, sender(sandboxViberToken)))).toEqual([true, true]);
    expect(
      collector.received.flatMap((r): readonly unknown[] => {
        const parsed = viberReceipts.parse(r);
        return parsed.ok ? parsed.events : [parsed.detail];
      }),
    ).toEqual([
      { message: null, providerId, type: 'delivered', at: expect.any(Date) },
      { message: null, providerId, type: 'read', at: expect.any(Date) },
    ]);
  });

  it('rejects a tampered body, a wrong token and a missing signature', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const sandbox = await sandboxWith({}, collector.url);
    await adapterFor(sandbox.url).send([viber(1)]);
    await sandbox.drainReceipts();
    const received = collector.received[0]!;
    const config = sandboxViberConfig(sandbox.url, '');
    const tampered = { ...received, rawBody: Buffer.from(received.rawBody.toString().replace('delivered', 'seen')) };
    expect(viberReceipts.verify(received, config, sender(sandboxViberToken))).toBe(true);
    expect(viberReceipts.verify(tampered, config, sender(sandboxViberToken))).toBe(false);
    expect(viberReceipts.verify(received, config, sender('another-bot'))).toBe(false);
    expect(viberReceipts.verify({ ...received, headers: {} }, config, sender(sandboxViberToken))).toBe(false);
    expect(viberReceipts.verify(received, config, sender())).toBe(false);
  });

  it('posts failed for an undelivered message, with Viber’s description as the detail', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const sandbox = await sandboxWith({}, collector.url);
    await adapterFor(sandbox.url).send([viber(1, { to: 'x+undelivered==' })]);
    await sandbox.drainReceipts();
    expect(viberReceipts.parse(collector.received[0]!)).toMatchObject({
      ok: true,
      events: [{ type: 'failed', code: 'VIBER_FAILED', detail: 'Sandbox: the message could not be delivered' }],
    });
  });

  it('setWebhook points the bot at a URL for the five events, and the webhook check parses to no events', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const sandbox = await sandboxWith();
    const config = sandboxViberConfig(sandbox.url, '');
    expect(await setWebhook(config, sender(sandboxViberToken), collector.url)).toEqual({
      ok: true,
      eventTypes: ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed'],
    });
    expect(sandbox.webhookUrl).toBe(collector.url);
    await sandbox.drainReceipts();
    expect(collector.received).toHaveLength(1);
    expect(viberReceipts.parse(collector.received[0]!)).toEqual({ ok: true, events: [] });
    expect(await setWebhook(config, sender(sandboxViberToken), 'not a url')).toMatchObject({ ok: false, code: 'VIBER_INVALID_URL' });
    expect(await setWebhook(config, sender('wrong'), collector.url)).toMatchObject({ ok: false, code: 'VIBER_AUTH' });
  });
});

describe('our message in Viber’s shape', () => {
  it('a text message carries the receiver, the sender, the ledger key as tracking data and the text', () => {
    expect(toWireViber(viber(1))).toEqual({
      ok: true,
      wire: {
        receiver: 'user1==',
        min_api_version: 1,
        sender: { name: 'Herald News', avatar: 'https://cdn.example.test/avatar.jpg' },
        tracking_data: '7.1',
        type: 'text',
        text: 'Hello 1',
      },
    });
  });

  it('an image makes a picture with the text as its caption', () => {
    const out = toWireViber(viber(1, { imageUrl: 'https://cdn.example.test/a.png', text: null, senderAvatar: null }));
    expect(out).toMatchObject({
      ok: true,
      wire: { type: 'picture', media: 'https://cdn.example.test/a.png', text: '', sender: { name: 'Herald News' } },
    });
    expect(out.ok && 'avatar' in out.wire.sender).toBe(false);
  });

  it('a button makes a one-card rich media message of at most 7 rows, with escaped text and an alt_text', () => {
    const out = toWireViber(
      viber(1, {
        imageUrl: 'https://cdn.example.test/a.png',
        text: 'Tom & <Jerry>',
        button: { text: 'Buy', url: 'https://shop.example.test/' },
      }),
    );
    if (!out.ok) throw new Error(out.detail);
    const card = out.wire.rich_media!;
    expect(out.wire).toMatchObject({ type: 'rich_media', min_api_version: 2, alt_text: 'Tom & <Jerry>\nhttps://shop.example.test/' });
    expect(card.ButtonsGroupRows).toBe(card.Buttons.reduce((n, b) => n + b.Rows, 0));
    expect(card.ButtonsGroupRows).toBeLessThanOrEqual(7);
    expect(card.Buttons.map((b) => [b.ActionType, b.ActionBody])).toEqual(Array(3).fill(['open-url', 'https://shop.example.test/']));
    expect(card.Buttons[1]?.Text).toBe('Tom &amp; &lt;Jerry&gt;');
    expect(card.Buttons[2]?.Text).toContain('Buy');
  });

  it('a text too long for a card goes as text with a one-button keyboard', () => {
    const out = toWireViber(viber(1, { text: 'y'.repeat(300), button: { text: 'Go', url: 'https://x.example.test/' } }));
    expect(out).toMatchObject({
      ok: true,
      wire: {
        type: 'text',
        text: 'y'.repeat(300),
        keyboard: { Type: 'keyboard', Buttons: [{ ActionType: 'open-url', ActionBody: 'https://x.example.test/' }] },
      },
    });
  });

  it('takes the sender resource’s name when the message has none, counting characters not UTF-16 units', () => {
    expect(toWireViber(viber(1, { senderName: ' ' }), 'Fallback')).toMatchObject({ ok: true, wire: { sender: { name: 'Fallback' } } });
    expect(toWireViber(viber(1, { senderName: '😀'.repeat(28) }))).toMatchObject({ ok: true });
    expect(toWireViber(viber(1, { senderName: 'a'.repeat(29) }))).toMatchObject({ ok: false, fatal: true, code: 'VIBER_SENDER_NAME' });
    expect(toWireViber(viber(1, { senderName: '' }))).toMatchObject({ ok: false, fatal: true });
  });

  it('refuses texts over Viber’s limits as permanent', () => {
    expect(toWireViber(viber(1, { text: 'z'.repeat(7001) }))).toMatchObject({ ok: false, fatal: false, code: 'VIBER_INVALID_MESSAGE' });
    expect(toWireViber(viber(1, { text: 'z'.repeat(769), imageUrl: 'https://a.test/i.png' }))).toMatchObject({ ok: false, fatal: false });
  });
});

describe('Viber statuses map to our outcome kinds', () => {
  it.each([
    [1, 'failed', 'permanent', 'VIBER_INVALID_URL'],
    [2, 'fatal', undefined, 'VIBER_AUTH'],
    [3, 'failed', 'permanent', 'VIBER_BAD_DATA'],
    [4, 'failed', 'permanent', 'VIBER_MISSING_DATA'],
    [5, 'failed', 'permanent', 'VIBER_NOT_REGISTERED'],
    [6, 'failed', 'permanent', 'VIBER_NOT_SUBSCRIBED'],
    [7, 'fatal', undefined, 'VIBER_ACCOUNT'],
    [8, 'fatal', undefined, 'VIBER_ACCOUNT'],
    [9, 'fatal', undefined, 'VIBER_ACCOUNT'],
    [10, 'fatal', undefined, 'VIBER_WEBHOOK'],
    [11, 'failed', 'permanent', 'VIBER_NO_SUITABLE_DEVICE'],
    [12, 'failed', 'transient', 'VIBER_THROTTLED'],
    [13, 'failed', 'permanent', 'VIBER_API_VERSION'],
    [24, 'fatal', undefined, 'VIBER_ACCOUNT'],
    [99, 'failed', 'permanent', 'VIBER_REJECTED'],
  ])('status %i → %s %s %s', (status, verdict, kind, code) => {
    const v = verdictOfAnswer({ status, status_message: 'said' });
    expect(v).toMatchObject({ verdict, code, detail: `said (Viber status ${status})`, ...(kind ? { kind } : {}) });
  });

  it('marks only receiverNotSubscribed as blocked', () => {
    expect(verdictOfAnswer({ status: 6 })).toMatchObject({ recipient: 'blocked' });
    expect(verdictOfAnswer({ status: 3 })).not.toHaveProperty('recipient');
  });

  it('maps HTTP statuses from the edge', () => {
    expect(verdictOfHttpStatus(503, '')).toMatchObject({ verdict: 'failed', kind: 'transient' });
    expect(verdictOfHttpStatus(429, '')).toMatchObject({ verdict: 'failed', kind: 'transient', code: 'VIBER_THROTTLED' });
    expect(verdictOfHttpStatus(401, '')).toMatchObject({ verdict: 'fatal', code: 'VIBER_AUTH' });
    expect(verdictOfHttpStatus(301, '', 'https://elsewhere.test/')).toMatchObject({ verdict: 'fatal', code: 'VIBER_ENDPOINT' });
    expect(verdictOfHttpStatus(400, 'no')).toMatchObject({ verdict: 'failed', kind: 'permanent' });
  });
});

describe('reading Viber’s JSON without losing token digits', () => {
  it('quotes message_token keys only, wherever they sit, and leaves look-alikes inside strings alone', () => {
    expect(parseViberJson('{ "a": {"message_token" : 18446744073709551615 }, "s": "x,\\"message_token\\":1" }')).toEqual({
      a: { message_token: '18446744073709551615' },
      s: 'x,"message_token":1',
    });
  });

  it('round-trips every unsigned 64-bit token exactly', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (n) => {
        const body = Buffer.from(`{"event":"delivered","timestamp":1457764197627,"message_token":${n},"user_id":"u"}`);
        const parsed = parseViberCallback(body);
        return parsed.ok && parsed.events[0]?.providerId === String(n);
      }),
    );
  });
});

describe('Viber callbacks read into our events', () => {
  const parse = (body: unknown) => parseViberCallback(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)));
  const at = 1457764197627;

  it('reads delivered, seen (as read) and failed by message token, at the callback’s time', () => {
    expect(parse(`{"event":"delivered","timestamp":${at},"message_token":4912661846655238145,"user_id":"u=="}`)).toEqual({
      ok: true,
      events: [{ message: null, providerId: '4912661846655238145', type: 'delivered', at: new Date(at) }],
    });
    expect(parse({ event: 'seen', timestamp: at, message_token: 5, user_id: 'u' })).toMatchObject({
      ok: true,
      events: [{ type: 'read', providerId: '5' }],
    });
    expect(parse({ event: 'failed', timestamp: at, message_token: 5, user_id: 'u', desc: 'unreachable' })).toMatchObject({
      ok: true,
      events: [{ type: 'failed', detail: 'unreachable' }],
    });
  });

  it('reads unsubscribed as an event about the address, with no message', () => {
    expect(parse({ event: 'unsubscribed', timestamp: at, user_id: 'jc9HsWTZ2Yf2NkRZ8KcNug==', message_token: 1 })).toEqual({
      ok: true,
      events: [
        {
          message: null,
          providerId: null,
          type: 'unsubscribed',
          recipient: 'blocked',
          address: 'jc9HsWTZ2Yf2NkRZ8KcNug==',
          at: new Date(at),
        },
      ],
    });
  });

  it('acknowledges subscribed, webhook, conversation_started, message and unknown events without events', () => {
    for (const event of ['subscribed', 'webhook', 'conversation_started', 'message', 'something_new'])
      expect(parse({ event, timestamp: at, message_token: 1, user: { id: 'u' } })).toEqual({ ok: true, events: [] });
  });

  it('refuses bodies that say nothing readable', () => {
    for (const body of [
      'not json',
      '[]',
      'null',
      '{}',
      '{"event":""}',
      `{"event":"delivered","message_token":1}`,
      `{"event":"seen","timestamp":${at}}`,
      `{"event":"unsubscribed","timestamp":${at}}`,
    ])
      expect(parse(body)).toMatchObject({ ok: false });
  });

  it('never throws, whatever JSON arrives', () => {
    fc.assert(fc.property(fc.json(), (text) => typeof parseViberCallback(Buffer.from(text)).ok === 'boolean'));
    const events = fc.constantFrom('delivered', 'seen', 'failed', 'unsubscribed', 'subscribed', 'webhook', '__proto__', 'constructor');
    fc.assert(
      fc.property(
        fc.record(
          { event: events, timestamp: fc.jsonValue(), message_token: fc.jsonValue(), user_id: fc.jsonValue(), desc: fc.jsonValue() },
          { requiredKeys: ['event'] },
        ),
        (body) => {
          const parsed = parseViberCallback(Buffer.from(JSON.stringify(body)));
          return parsed.ok ? parsed.events.every((e) => !Number.isNaN(e.at.getTime())) : typeof parsed.detail === 'string';
        },
      ),
    );
  });
});

describe('Viber configuration from the environment', () => {
  it('is off when neither VIBER_API_URL nor VIBER_AUTH_TOKEN is set', () => {
    expect(viberConfigFromEnv({})).toBeNull();
  });

  it('applies the defaults, with the token as every sender’s fallback', () => {
    expect(viberConfigFromEnv({ VIBER_AUTH_TOKEN: ' tok ' })).toEqual({
      baseUrl: 'https://chatapi.viber.com',
      authToken: 'tok',
      concurrency: 25,
      timeoutMs: 15_000,
    });
    expect(viberConfigFromEnv({ VIBER_API_URL: 'https://viber.proxy.test/base/', VIBER_CONCURRENCY: '5' })).toMatchObject({
      baseUrl: 'https://viber.proxy.test/base',
      authToken: null,
      concurrency: 5,
    });
  });

  it('allows plain http to loopback only, and refuses a bad number', () => {
    expect(viberConfigFromEnv({ VIBER_API_URL: 'http://127.0.0.1:9000' })?.baseUrl).toBe('http://127.0.0.1:9000');
    expect(() => viberConfigFromEnv({ VIBER_API_URL: 'http://viber.example.test' })).toThrow(/https/);
    expect(() => viberConfigFromEnv({ VIBER_AUTH_TOKEN: 't', VIBER_CONCURRENCY: '0' })).toThrow(/VIBER_CONCURRENCY/);
  });
});

describe('the Viber provider module', () => {
  it('starts a sandbox whose config and credentials send through createAdapter, and whose receipts verify', async () => {
    const collector = await startReceiptSink('/v1/receipts/viber/snd_1', (_n, _req, res) => res.end());
    servers.push(collector.server);
    const { server, config, credentials } = await viberProvider.startSandbox({ receiptUrl: () => collector.url, receiptDelayMs: 1 });
    sandboxes.push(server as ViberSandbox);
    const s: SenderIdentity = { id: 'snd_9', name: 'Shop', address: null, credentials };
    const adapter = viberProvider.createAdapter(config, s, { receiptUrl: collector.url });
    adapters.push(adapter as ViberAdapter);
    expect([viberProvider.name, viberProvider.channel, viberProvider.credentialFields]).toEqual(['viber', 'viber', ['authToken']]);
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 25, idempotent: false, costUnit: 'message', receiptsByProviderId: true });
    expect((await adapter.send([viber(1)]))[0]?.ok).toBe(true);
    await server.drainReceipts();
    expect(collector.received.map((r) => viberProvider.receipts!.verify(r, config, s))).toEqual([true]);
    expect(viberSignature(credentials.authToken!, collector.received[0]!.rawBody)).toBe(
      collector.received[0]!.headers['x-viber-content-signature'],
    );
  });
});
