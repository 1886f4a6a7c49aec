import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import webpush from 'web-push';
import { afterEach, describe, expect, it } from 'vitest';
import { appReceiptToken } from '../../src/channels/app-receipts.js';
import { type OutgoingWebPush } from '../../src/channels/channel.js';
import type { ReceiptRequest, SenderIdentity } from '../../src/channels/provider.js';
import { WebPushAdapter, parseSubscription, payloadOf, topicOf, verdictOfStatus } from '../../src/channels/webpush/adapter.js';
import {
  type WebPushConfig,
  derivedReceiptSecret,
  sandboxWebPushConfig,
  vapidCredentialsOf,
  webPushConfigFromEnv,
} from '../../src/channels/webpush/config.js';
import { webPushProvider } from '../../src/channels/webpush/index.js';
import { webPushReceipts } from '../../src/channels/webpush/receipts.js';
import {
  type WebPushSandboxOptions,
  type WebPushSandboxServer,
  checkVapid,
  decryptPushBody,
  startWebPushSandbox,
} from '../../src/channels/webpush/sandbox.js';
import { fatalOf } from './provider-fatal.js';
import { startReceiptSink } from './receipt-sink.js';

const keys = webpush.generateVAPIDKeys();
const subject = 'mailto:ops@example.test';

function sender(credentials: Record<string, string> = {}): SenderIdentity {
  return {
    id: 'snd_1',
    name: 'Shop',
    address: null,
    credentials: { vapidPublicKey: keys.publicKey, vapidPrivateKey: keys.privateKey, subject, ...credentials },
  };
}

function notification(id: number, to: string, overrides: Partial<OutgoingWebPush> = {}): OutgoingWebPush {
  return {
    channel: 'webpush',
    messageId: id,
    runId: 7,
    ledgerKey: `7.${id}`,
    to,
    title: `Sale ${id}`,
    body: 'Everything half price until Sunday',
    url: 'https://shop.example.test/sale',
    icon: 'https://shop.example.test/icon.png',
    ttlSeconds: 3600,
    ...overrides,
  };
}

/** A stand-in push service answering each request from a script, for answers the sandbox does not give. */
async function startStub(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

const servers: Server[] = [];
const sandboxes: WebPushSandboxServer[] = [];
const adapters: WebPushAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  for (const s of sandboxes.splice(0)) await s.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function sandbox(options: Partial<WebPushSandboxOptions> = {}): Promise<WebPushSandboxServer> {
  const s = await startWebPushSandbox({ receiptUrl: () => null, applicationServerKey: keys.publicKey, ...options });
  sandboxes.push(s);
  return s;
}

function adapterFor(
  overrides: Partial<WebPushConfig> = {},
  credentials: Record<string, string> = {},
  receiptUrl: string | null = null,
): WebPushAdapter {
  const a = new WebPushAdapter(sandboxWebPushConfig(overrides), sender(credentials), { receiptUrl });
  adapters.push(a);
  return a;
}

const withEndpoint = (subscription: object, endpoint: string) => JSON.stringify({ ...subscription, endpoint });

describe('sending to the sandbox push service', () => {
  it('delivers a notification the sandbox decrypts to the title, body, url and icon sent', async () => {
    const s = await sandbox();
    const to = JSON.stringify(s.createSubscription());
    const [result] = await adapterFor().send([notification(1, to)]);
    expect(result).toEqual({ messageId: 1, ok: true, providerId: expect.stringMatching(new RegExp(`^${s.url}/message/msg_\\d+$`)) });
    expect(s.accepted).toBe(1);
    const [message] = s.messages();
    expect(message).toMatchObject({
      channel: 'webpush',
      ledgerKey: '7.1',
      summary: 'Sale 1',
      ttl: 3600,
      urgency: 'normal',
      topic: '7-1',
      payload: {
        title: 'Sale 1',
        body: 'Everything half price until Sunday',
        url: 'https://shop.example.test/sale',
        icon: 'https://shop.example.test/icon.png',
        receipt: null,
      },
    });
    expect(message!.providerId).toBe(result!.ok ? result!.providerId!.split('/').pop() : null);
  });

  it('answers one result per message in input order when sending many at once', async () => {
    const s = await sandbox();
    const gone = JSON.stringify(s.createSubscription({ trigger: 'gone' }));
    const batch = Array.from({ length: 30 }, (_, i) => notification(i + 1, i === 10 ? gone : JSON.stringify(s.createSubscription())));
    const results = await adapterFor({ concurrency: 8 }).send(batch);
    expect(results.map((r) => r.messageId)).toEqual(batch.map((m) => m.messageId));
    expect(results.filter((r) => r.ok)).toHaveLength(29);
    expect(results[10]).toMatchObject({ ok: false, code: 'WEBPUSH_GONE' });
    expect(s.accepted).toBe(29);
  });

  it('signs the VAPID JWT once per push service and reuses it', async () => {
    const auths = new Set<string>();
    const stub = await startStub((req, res) => {
      auths.add(String(req.headers.authorization));
      res.writeHead(201, { Location: '/m/1' }).end();
    });
    servers.push(stub.server);
    const s = await sandbox();
    const adapter = adapterFor();
    for (let i = 1; i <= 3; i++) await adapter.send([notification(i, withEndpoint(s.createSubscription(), `${stub.url}/push/x${i}`))]);
    expect(auths.size).toBe(1);
    expect([...auths][0]).toMatch(/^vapid t=[\w-]+\.[\w-]+\.[\w-]+, k=[\w-]{87}$/);
  });

  it('answers permanent with recipient "gone" when the push service says 410', async () => {
    const s = await sandbox();
    const adapter = adapterFor();
    const gone = s.createSubscription({ trigger: 'gone' });
    const revoked = s.createSubscription();
    s.unsubscribe(revoked.endpoint);
    const results = await adapter.send([notification(1, JSON.stringify(gone)), notification(2, JSON.stringify(revoked))]);
    for (const r of results)
      expect(r).toMatchObject({
        ok: false,
        kind: 'permanent',
        code: 'WEBPUSH_GONE',
        recipient: 'gone',
        detail: expect.stringContaining('410'),
      });
    expect(s.accepted).toBe(0);
  });

  it('answers gone without a request for a subscription whose expirationTime has passed', async () => {
    const s = await sandbox();
    const expired = s.createSubscription({ expiresInMs: -1000 });
    const [result] = await adapterFor().send([notification(1, JSON.stringify(expired))]);
    expect(result).toMatchObject({ ok: false, kind: 'permanent', code: 'WEBPUSH_GONE', recipient: 'gone' });
    expect(s.requests).toBe(0);
  });

  it('answers transient with retryAfterMs on 429, and waits out the Retry-After before calling that push service again', async () => {
    const s = await sandbox({ retryAfterSeconds: 1 });
    const adapter = adapterFor();
    const [throttled] = await adapter.send([notification(1, JSON.stringify(s.createSubscription({ trigger: 'throttled' })))]);
    expect(throttled).toMatchObject({ ok: false, kind: 'transient', code: 'WEBPUSH_THROTTLED', retryAfterMs: 1000 });
    expect(throttled).not.toHaveProperty('recipient');
    const started = Date.now();
    const [next] = await adapter.send([notification(2, JSON.stringify(s.createSubscription()))]);
    expect(next).toMatchObject({ ok: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('does not call a push service inside a Retry-After longer than it may wait: transient at once', async () => {
    const s = await sandbox({ retryAfterSeconds: 120 });
    const adapter = adapterFor({ maxRetryWaitMs: 1000 });
    await adapter.send([notification(1, JSON.stringify(s.createSubscription({ trigger: 'throttled' })))]);
    const [result] = await adapter.send([notification(2, JSON.stringify(s.createSubscription()))]);
    expect(result).toMatchObject({ ok: false, kind: 'transient', code: 'WEBPUSH_THROTTLED' });
    expect((result as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect(s.requests).toBe(1);
  });

  it('answers transient on 503', async () => {
    const s = await sandbox();
    const [result] = await adapterFor().send([notification(1, JSON.stringify(s.createSubscription({ trigger: 'unavailable' })))]);
    expect(result).toMatchObject({ ok: false, kind: 'transient', code: 'WEBPUSH_UNAVAILABLE' });
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it('throws WEBPUSH_VAPID when the push service refuses the VAPID key, keeping the results answered before', async () => {
    const s = await sandbox();
    const other = webpush.generateVAPIDKeys();
    // The first subscription was made with the adapter's key, the second with the sandbox's default.
    const mine = s.createSubscription({ applicationServerKey: other.publicKey });
    const theirs = s.createSubscription();
    const adapter = adapterFor({ concurrency: 1 }, { vapidPublicKey: other.publicKey, vapidPrivateKey: other.privateKey });
    const err = await fatalOf(
      adapter.send([notification(1, JSON.stringify(mine)), notification(2, JSON.stringify(theirs)), notification(3, JSON.stringify(mine))]),
    );
    expect(err.code).toBe('WEBPUSH_VAPID');
    expect(err.message).toMatch(/403/);
    expect(err.message).not.toContain(other.privateKey);
    expect(err.results).toEqual([{ messageId: 1, ok: true, providerId: expect.any(String) }]);
    expect(s.requests).toBe(2);
  });

  it.each([
    ['no keys at all', { vapidPublicKey: '', vapidPrivateKey: '', subject: '' }, /no VAPID credentials/],
    ['a public key that is not the private key’s', { vapidPublicKey: webpush.generateVAPIDKeys().publicKey }, /not the public key/],
    ['a subject that is not mailto: or https:', { subject: 'http://shop.example.test' }, /subject/],
    ['a private key of the wrong length', { vapidPrivateKey: 'AAAA' }, /vapidPrivateKey/],
  ])('throws WEBPUSH_VAPID without a request for %s', async (_what, credentials, message) => {
    const s = await sandbox();
    const err = await fatalOf(adapterFor({}, credentials).send([notification(1, JSON.stringify(s.createSubscription()))]));
    expect(err.code).toBe('WEBPUSH_VAPID');
    expect(err.message).toMatch(message);
    expect(s.requests).toBe(0);
  });

  it.each([
    ['not JSON', 'https://fcm.googleapis.com/fcm/send/abc'],
    ['no endpoint', JSON.stringify({ keys: { p256dh: 'x', auth: 'y' } })],
    ['an http endpoint off loopback', 'http'],
    ['no keys', 'nokeys'],
    ['a p256dh that is not a P-256 point', 'badpoint'],
    ['a short auth secret', 'shortauth'],
  ])('fails a subscription with %s permanently, recipient "invalid", without a request', async (_what, address) => {
    const s = await sandbox();
    const good = s.createSubscription();
    const to =
      address === 'http'
        ? withEndpoint(good, 'http://push.example.test/x')
        : address === 'nokeys'
          ? JSON.stringify({ endpoint: good.endpoint })
          : address === 'badpoint'
            ? JSON.stringify({ ...good, keys: { ...good.keys, p256dh: Buffer.alloc(65, 4).toString('base64url') } })
            : address === 'shortauth'
              ? JSON.stringify({ ...good, keys: { ...good.keys, auth: 'AAAA' } })
              : address;
    const [result] = await adapterFor().send([notification(1, to)]);
    expect(result).toMatchObject({ ok: false, kind: 'permanent', code: 'WEBPUSH_SUBSCRIPTION_INVALID', recipient: 'invalid' });
    expect(s.requests).toBe(0);
  });

  it('fails a notification too large to encrypt into 4,096 bytes permanently, without a request', async () => {
    const s = await sandbox();
    const [result] = await adapterFor().send([notification(1, JSON.stringify(s.createSubscription()), { body: 'x'.repeat(4000) })]);
    expect(result).toMatchObject({ ok: false, kind: 'permanent', code: 'WEBPUSH_PAYLOAD_TOO_LARGE' });
    expect(s.requests).toBe(0);
  });

  it('is refused (400, permanent) when the body was encrypted for another auth secret: the sandbox really decrypts', async () => {
    const s = await sandbox();
    const subscription = s.createSubscription();
    const forged = { ...subscription, keys: { ...subscription.keys, auth: Buffer.alloc(16, 9).toString('base64url') } };
    const [result] = await adapterFor().send([notification(1, JSON.stringify(forged))]);
    expect(result).toMatchObject({ ok: false, kind: 'permanent', code: 'WEBPUSH_REJECTED', detail: expect.stringMatching(/400.*decrypt/) });
    expect(s.accepted).toBe(0);
  });

  it('counts a re-send of the same message to the same subscription as a duplicate (same Topic)', async () => {
    const s = await sandbox();
    const to = JSON.stringify(s.createSubscription());
    const adapter = adapterFor();
    await adapter.send([notification(1, to), notification(2, to)]);
    const [again] = await adapter.send([notification(1, to)]);
    expect(again).toMatchObject({ ok: true });
    expect({ accepted: s.accepted, duplicates: s.duplicates }).toEqual({ accepted: 2, duplicates: 1 });
  });

  it('draws rate faults from a seeded PRNG: the same seed fails the same number of sends', async () => {
    const outcomes: string[][] = [];
    for (let run = 0; run < 2; run++) {
      const s = await sandbox({ seed: 42, transientRate: 0.3, permanentRate: 0.2, retryAfterSeconds: 0 });
      const results = await adapterFor({ concurrency: 1 }).send(
        Array.from({ length: 40 }, (_, i) => notification(i + 1, JSON.stringify(s.createSubscription()))),
      );
      outcomes.push(results.map((r) => (r.ok ? 'ok' : r.code)));
    }
    expect(outcomes[0]).toEqual(outcomes[1]);
    const count = (code: string) => outcomes[0]!.filter((c) => c === code).length;
    expect(count('WEBPUSH_GONE')).toBeGreaterThan(0);
    expect(count('ok')).toBeGreaterThan(0);
    expect(count('WEBPUSH_THROTTLED') + count('WEBPUSH_UNAVAILABLE')).toBeGreaterThan(0);
  });

  it('changes its faults while running, and a 410 drawn from the rates drops the subscription for good', async () => {
    const s = await sandbox();
    const to = JSON.stringify(s.createSubscription());
    const adapter = adapterFor();
    expect(await adapter.send([notification(1, to)])).toMatchObject([{ ok: true }]);
    s.setFaults({ permanentRate: 1 });
    expect(await adapter.send([notification(2, to)])).toMatchObject([{ ok: false, code: 'WEBPUSH_GONE', recipient: 'gone' }]);
    s.setFaults({});
    expect(await adapter.send([notification(3, to)])).toMatchObject([{ ok: false, code: 'WEBPUSH_GONE', recipient: 'gone' }]);
    expect(await adapter.send([notification(4, JSON.stringify(s.createSubscription()))])).toMatchObject([{ ok: true }]);
  });

  it('keeps at most maxOrigins pools and still reaches an evicted push service', async () => {
    const a = await sandbox();
    const b = await sandbox();
    const adapter = adapterFor({ maxOrigins: 1 });
    for (const s of [a, b, a])
      expect(await adapter.send([notification(1, JSON.stringify(s.createSubscription()))])).toMatchObject([{ ok: true }]);
    expect([a.accepted, b.accepted]).toEqual([2, 1]);
  });

  it('answers transient when a push service does not answer in time, or cannot be reached', async () => {
    const silent = await startStub(() => undefined);
    servers.push(silent.server);
    const s = await sandbox();
    const closed = await startStub(() => undefined);
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const results = await adapterFor({ timeoutMs: 200 }).send([
      notification(1, withEndpoint(s.createSubscription(), `${silent.url}/push/x`)),
      notification(2, withEndpoint(s.createSubscription(), `${closed.url}/push/y`)),
    ]);
    expect(results).toEqual([
      expect.objectContaining({ messageId: 1, ok: false, kind: 'transient', code: 'WEBPUSH_TIMEOUT' }),
      expect.objectContaining({ messageId: 2, ok: false, kind: 'transient', code: 'WEBPUSH_NETWORK' }),
    ]);
  });
});

describe('receipts the service worker posts back', () => {
  it('arrive at Herald’s receipt URL, verify and parse into delivered and read for the ledger row', async () => {
    const sink = await startReceiptSink('/v1/receipts/webpush/snd_1');
    servers.push(sink.server);
    const s = await sandbox({ receiptUrl: () => sink.url, readRate: 1 });
    const results = await adapterFor({}, {}, sink.url).send([notification(41, JSON.stringify(s.createSubscription()))]);
    expect(results[0]).toMatchObject({ ok: true });
    await s.drainReceipts();
    expect(s.receiptsPosted).toBe(2);
    expect(sink.received).toHaveLength(2);
    const config = sandboxWebPushConfig();
    const events = sink.received.map((request) => {
      expect(request.headers['content-type']).toMatch(/^text\/plain/);
      expect(webPushReceipts.verify(request, config, sender())).toBe(true);
      const parsed = webPushReceipts.parse(request);
      expect(parsed.ok).toBe(true);
      return parsed.ok ? parsed.events[0] : null;
    });
    expect(events.map((e) => e?.type).sort()).toEqual(['delivered', 'read']);
    for (const e of events) expect(e).toMatchObject({ message: { runId: 7, messageId: 41 }, providerId: null, at: expect.any(Date) });
  });

  it('are refused when the token was tampered with, or signed for another sender', async () => {
    const sink = await startReceiptSink('/v1/receipts/webpush/snd_1');
    servers.push(sink.server);
    const s = await sandbox({ receiptUrl: () => sink.url });
    await adapterFor({}, {}, sink.url).send([notification(5, JSON.stringify(s.createSubscription()))]);
    await s.drainReceipts();
    const [request] = sink.received;
    const body = JSON.parse(request!.rawBody.toString('utf8')) as { token: string; event: string };
    const config = sandboxWebPushConfig();
    const as = (token: string): ReceiptRequest => ({ ...request!, rawBody: Buffer.from(JSON.stringify({ ...body, token })) });
    expect(webPushReceipts.verify(as(body.token), config, sender())).toBe(true);
    // Another message's ledger key under the same MAC.
    expect(webPushReceipts.verify(as(body.token.replace(/^7\.5\./, '7.6.')), config, sender())).toBe(false);
    expect(webPushReceipts.verify(as(`${body.token.slice(0, -1)}${body.token.endsWith('A') ? 'B' : 'A'}`), config, sender())).toBe(false);
    const stranger = webpush.generateVAPIDKeys();
    expect(
      webPushReceipts.verify(as(body.token), config, sender({ vapidPublicKey: stranger.publicKey, vapidPrivateKey: stranger.privateKey })),
    ).toBe(false);
    expect(webPushReceipts.verify({ ...request!, method: 'GET' }, config, sender())).toBe(false);
  });

  it('use the sender’s own receiptSecret when it has one, and one derived from the VAPID key otherwise', () => {
    const derived = vapidCredentialsOf(sandboxWebPushConfig(), sender());
    expect(derived).toMatchObject({ receiptSecret: derivedReceiptSecret(keys.privateKey) });
    const own = vapidCredentialsOf(sandboxWebPushConfig(), sender({ receiptSecret: 's3cret' }));
    expect(own).toMatchObject({ receiptSecret: 's3cret' });
    const m = notification(3, '{}');
    const payload = payloadOf(m, 'https://herald.example.test/v1/receipts/webpush/snd_1', 's3cret');
    expect(payload.receipt).toEqual({
      url: 'https://herald.example.test/v1/receipts/webpush/snd_1',
      token: appReceiptToken('s3cret', '7.3'),
    });
    expect(payloadOf(m, null, 's3cret').receipt).toBeNull();
  });

  it('are not posted for an undelivered notification, nor when the sandbox is told to send none', async () => {
    const sink = await startReceiptSink('/v1/receipts/webpush/snd_1');
    servers.push(sink.server);
    const s = await sandbox({ receiptUrl: () => sink.url });
    const quiet = await sandbox({ receiptUrl: () => null });
    const adapter = adapterFor({}, {}, sink.url);
    await adapter.send([
      notification(1, JSON.stringify(s.createSubscription({ trigger: 'undelivered' }))),
      notification(2, JSON.stringify(quiet.createSubscription())),
    ]);
    await Promise.all([s.drainReceipts(), quiet.drainReceipts()]);
    expect([s.accepted, quiet.accepted]).toEqual([1, 1]);
    expect(sink.received).toHaveLength(0);
  });
});

describe('the provider module', () => {
  it('starts a sandbox whose credentials a sender can use, end to end with receipts', async () => {
    const sink = await startReceiptSink('/v1/receipts/webpush/snd_1');
    servers.push(sink.server);
    const { server, config, credentials } = await webPushProvider.startSandbox({ receiptUrl: () => sink.url });
    const s = server as WebPushSandboxServer;
    sandboxes.push(s);
    const identity: SenderIdentity = { id: 'snd_1', name: null, address: null, credentials };
    expect(webPushProvider.credentialFields.every((f) => typeof credentials[f] === 'string')).toBe(true);
    const adapter = webPushProvider.createAdapter(config, identity, { receiptUrl: sink.url });
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 50, idempotent: false, costUnit: 'message' });
    expect(await adapter.send([notification(9, JSON.stringify(s.createSubscription()))])).toMatchObject([{ ok: true }]);
    await adapter.close();
    await s.drainReceipts();
    expect(sink.received).toHaveLength(1);
    expect(webPushProvider.receipts!.verify(sink.received[0]!, config, identity)).toBe(true);
  });
});

describe('push service answers map to our outcome kinds', () => {
  it.each([
    [201, { verdict: 'accepted', providerId: 'https://push.example.test/m/1' }],
    [202, { verdict: 'accepted' }],
    [404, { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_GONE', recipient: 'gone' }],
    [410, { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_GONE', recipient: 'gone' }],
    [413, { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_PAYLOAD_TOO_LARGE' }],
    [429, { verdict: 'failed', kind: 'transient', code: 'WEBPUSH_THROTTLED' }],
    [500, { verdict: 'failed', kind: 'transient', code: 'WEBPUSH_UNAVAILABLE' }],
    [503, { verdict: 'failed', kind: 'transient', code: 'WEBPUSH_UNAVAILABLE' }],
    [400, { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_REJECTED' }],
    [401, { verdict: 'fatal', code: 'WEBPUSH_VAPID' }],
    [403, { verdict: 'fatal', code: 'WEBPUSH_VAPID' }],
  ])('HTTP %i → %o', (status, expected) => {
    const v = verdictOfStatus(status, 'said', 'https://push.example.test/m/1');
    expect(v).toMatchObject(expected);
    if (status !== 404 && status !== 410) expect(v).not.toHaveProperty('recipient');
  });

  it('turns the ledger key into a Topic within the 32 URL-safe characters RFC 8030 allows', () => {
    const topic = topicOf({ runId: 999_999_999_999_999, messageId: 999_999_999_999_999 });
    expect(topic).toMatch(/^[A-Za-z0-9_-]{1,32}$/);
  });

  it('reads a browser’s subscription JSON', () => {
    const p256dh = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url');
    const auth = Buffer.alloc(16, 2).toString('base64url');
    expect(
      parseSubscription(
        JSON.stringify({ endpoint: 'https://fcm.googleapis.com/fcm/send/a:b', expirationTime: null, keys: { p256dh, auth } }),
      ),
    ).toEqual({
      endpoint: 'https://fcm.googleapis.com/fcm/send/a:b',
      expirationTime: null,
      keys: { p256dh, auth },
    });
  });
});

describe('the sandbox’s RFC 8292 and RFC 8291 checks', () => {
  const audience = 'http://127.0.0.1:9';
  const now = Math.floor(Date.now() / 1000);
  const header = (aud: string, exp: number) =>
    webpush.getVapidHeaders(aud, subject, keys.publicKey, keys.privateKey, 'aes128gcm', exp).Authorization;

  it('accepts a JWT signed by k for its audience, and refuses a wrong audience, an expired one or another key', () => {
    expect(checkVapid(header(audience, now + 3600), audience, now)).toEqual({ ok: true, key: keys.publicKey, exp: now + 3600 });
    expect(checkVapid(header('https://fcm.googleapis.com', now + 3600), audience, now)).toMatchObject({ ok: false, status: 403 });
    expect(checkVapid(header(audience, now - 10), audience, now)).toMatchObject({ ok: false, status: 403 });
    const other = webpush.generateVAPIDKeys().publicKey;
    expect(checkVapid(header(audience, now + 3600).replace(/k=.*$/, `k=${other}`), audience, now)).toMatchObject({
      ok: false,
      status: 403,
    });
    expect(checkVapid(undefined, audience, now)).toMatchObject({ ok: false, status: 401 });
    expect(checkVapid('WebPush abc', audience, now)).toMatchObject({ ok: false, status: 401 });
  });

  it('decrypts what web-push encrypts, across several records, and refuses a flipped byte', async () => {
    const { createECDH, randomBytes } = await import('node:crypto');
    const ecdh = createECDH('prime256v1');
    const publicKey = ecdh.generateKeys();
    const auth = randomBytes(16);
    const text = 'é'.repeat(3000); // 6,000 bytes: two 4,096-byte records
    const { cipherText } = webpush.encrypt(publicKey.toString('base64url'), auth.toString('base64url'), text, 'aes128gcm');
    const plain = decryptPushBody(cipherText, ecdh, publicKey, auth);
    expect(Buffer.isBuffer(plain) ? plain.toString('utf8') : plain).toBe(text);
    const flipped = Buffer.from(cipherText);
    flipped[100] = flipped[100]! ^ 1;
    expect(decryptPushBody(flipped, ecdh, publicKey, auth)).toMatch(/does not decrypt/);
  });
});

describe('web push configuration from the environment', () => {
  const vapidEnv = { WEBPUSH_VAPID_PUBLIC_KEY: keys.publicKey, WEBPUSH_VAPID_PRIVATE_KEY: keys.privateKey, WEBPUSH_VAPID_SUBJECT: subject };

  it('is off without any WEBPUSH_ variable', () => {
    expect(webPushConfigFromEnv({ PATH: '/bin' })).toBeNull();
  });

  it('applies the defaults and lets senders without keys use the environment’s', () => {
    const config = webPushConfigFromEnv(vapidEnv)!;
    expect(config).toEqual({
      vapidPublicKey: keys.publicKey,
      vapidPrivateKey: keys.privateKey,
      subject,
      concurrency: 50,
      timeoutMs: 15_000,
      maxRetryWaitMs: 10_000,
      maxOrigins: 32,
      urgency: 'normal',
    });
    expect(vapidCredentialsOf(config, { id: null, name: null, address: null, credentials: {} })).toMatchObject({
      publicKey: keys.publicKey,
      subject,
    });
  });

  it.each([
    [{ WEBPUSH_VAPID_PUBLIC_KEY: keys.publicKey }, /set together/],
    [{ ...vapidEnv, WEBPUSH_VAPID_PUBLIC_KEY: webpush.generateVAPIDKeys().publicKey }, /WEBPUSH_VAPID_PUBLIC_KEY is not the public key/],
    [{ ...vapidEnv, WEBPUSH_VAPID_SUBJECT: 'ops@example.test' }, /WEBPUSH_VAPID_SUBJECT must be a mailto: or https: URL/],
    [{ ...vapidEnv, WEBPUSH_CONCURRENCY: '0' }, /WEBPUSH_CONCURRENCY/],
    [{ ...vapidEnv, WEBPUSH_URGENCY: 'urgent' }, /WEBPUSH_URGENCY/],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => webPushConfigFromEnv(env)).toThrow(message);
  });
});
