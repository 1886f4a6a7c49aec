import { createHmac } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingWebhook, type SendResult } from '../../src/channels/channel.js';
import type { ReceiptRequest, SenderIdentity } from '../../src/channels/provider.js';
import { WebhookAdapter, verdictOfAnswer } from '../../src/channels/webhook/adapter.js';
import {
  type WebhookConfig,
  defaultWebhookConfig,
  readWebhookCredentials,
  webhookConfigFromEnv,
} from '../../src/channels/webhook/config.js';
import { webhookProvider } from '../../src/channels/webhook/index.js';
import { parseWebhookReceipts, verifyWebhookReceipt } from '../../src/channels/webhook/receipts.js';
import { type WebhookSandbox, startWebhookSandbox } from '../../src/channels/webhook/sandbox.js';
import { checkWebhookSignature, signWebhook, verifyWebhookSignature } from '../../src/channels/webhook/signature.js';
import { fatalOf } from './provider-fatal.js';
import { type ReceiptSink, startReceiptSink } from './receipt-sink.js';

const secret = 'whsec_test_0123456789abcdef';

function hook(id: number, runId = 7, payload: Record<string, unknown> = {}): OutgoingWebhook {
  return {
    channel: 'webhook',
    messageId: id,
    runId,
    ledgerKey: `${runId}.${id}`,
    to: `ct_${id}`,
    payload: { event: 'campaign.message', contact: { id: `ct_${id}` }, data: { text: `Hello ${id}` }, ...payload },
  };
}

const many = (n: number, from = 1) => Array.from({ length: n }, (_, i) => hook(from + i));

interface Received {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

/** A stand-in endpoint answering each request from a script, for answers the sandbox does not give. */
async function startStub(answer: (n: number, res: ServerResponse, req: Received) => void): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks) };
      received.push(r);
      answer(received.length, res, r);
    });
  });
  await listen(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

const servers: Server[] = [];
async function listen(server: Server): Promise<void> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

let sandbox: WebhookSandbox | undefined;
const adapters: WebhookAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  await sandbox?.close();
  sandbox = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

function adapterFor(url: string, key = secret, overrides: Partial<WebhookConfig> = {}): WebhookAdapter {
  const a = new WebhookAdapter({ ...defaultWebhookConfig, ...overrides }, { credentials: { url, secret: key } });
  adapters.push(a);
  return a;
}

const outcome = (r: SendResult) => (r.ok ? 'ok' : `${r.kind}:${r.code}`);

describe('the Herald-Signature scheme', () => {
  const now = new Date('2026-12-02T10:00:00Z');
  const body = '{"event":"campaign.message","n":1}';

  it('signs t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>"> and verifies its own signature', () => {
    const header = signWebhook(secret, body, now);
    // The value any receiver computes with its own HMAC library: the scheme is the contract.
    expect(header).toBe('t=1796205600,v1=' + hmac(secret, `1796205600.${body}`));
    expect(verifyWebhookSignature(secret, header, body, now)).toBe(true);
    expect(verifyWebhookSignature(secret, header, Buffer.from(body), new Date(now.getTime() + 299_000))).toBe(true);
  });

  it('refuses another secret, a changed body and a moved timestamp', () => {
    const header = signWebhook(secret, body, now);
    expect(checkWebhookSignature('whsec_other_0123456789', header, body, now)).toMatchObject({ ok: false, reason: 'mismatch' });
    expect(checkWebhookSignature(secret, header, body.replace('1', '2'), now)).toMatchObject({ ok: false, reason: 'mismatch' });
    const moved = header.replace('t=1796205600', 't=1796205601');
    expect(checkWebhookSignature(secret, moved, body, now)).toMatchObject({ ok: false, reason: 'mismatch' });
  });

  it('refuses a replay outside the tolerance, either side of the clock', () => {
    const header = signWebhook(secret, body, now);
    expect(checkWebhookSignature(secret, header, body, new Date(now.getTime() + 301_000))).toMatchObject({ ok: false, reason: 'stale' });
    expect(checkWebhookSignature(secret, header, body, new Date(now.getTime() - 301_000))).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifyWebhookSignature(secret, header, body, new Date(now.getTime() + 30_000), 10)).toBe(false);
  });

  it.each([
    [undefined],
    [''],
    ['v1=abc'],
    ['t=1796205600'],
    ['t=soon,v1=' + 'a'.repeat(64)],
    ['t=1796205600,t=1796205600,v1=' + 'a'.repeat(64)],
    ['t=1796205600;v1=' + 'a'.repeat(64)],
  ])('calls %o malformed', (header) => {
    expect(checkWebhookSignature(secret, header, body, now)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('passes when any v1 matches (secret rotation) and ignores schemes it does not know', () => {
    const good = signWebhook(secret, body, now);
    const t = good.slice(2, good.indexOf(','));
    const v1 = good.slice(good.indexOf('v1=') + 3);
    expect(verifyWebhookSignature(secret, `t=${t},v1=${'0'.repeat(64)},v2=xyz,v1=${v1}`, body, now)).toBe(true);
    expect(verifyWebhookSignature(secret, `t=${t},v1=${v1.slice(0, 63)}g`, body, now)).toBe(false);
    expect(verifyWebhookSignature(secret, `t=${t},v1=${v1.toUpperCase()}`, body, now)).toBe(true);
  });

  it('property: any other body fails verification', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 16 }), fc.string(), fc.string(), (key, a, b) => {
        fc.pre(a !== b);
        const header = signWebhook(key, a, now);
        return verifyWebhookSignature(key, header, a, now) && !verifyWebhookSignature(key, header, b, now);
      }),
    );
  });

  it('property: flipping any bit of the raw body fails verification', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 512 }), fc.nat(), fc.integer({ min: 0, max: 7 }), (bytes, at, bit) => {
        const header = signWebhook(secret, bytes, now);
        const changed = Uint8Array.from(bytes);
        changed[at % changed.length]! ^= 1 << bit;
        return !verifyWebhookSignature(secret, header, changed, now);
      }),
    );
  });

  it('property: any other timestamp, even one inside the tolerance, fails verification', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: -300, max: 300 }), (text, shift) => {
        fc.pre(shift !== 0);
        const header = signWebhook(secret, text, now);
        const t = Number(/t=(\d+)/.exec(header)![1]);
        return !verifyWebhookSignature(secret, header.replace(`t=${t}`, `t=${t + shift}`), text, now);
      }),
    );
  });
});

function hmac(key: string, text: string): string {
  return createHmac('sha256', key).update(text).digest('hex');
}

describe('sending to an endpoint', () => {
  it('posts the payload as JSON with the signature, the ledger key as Idempotency-Key and Herald-Message', async () => {
    const stub = await startStub((_n, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"id":"evt_1"}'));
    const results = await adapterFor(`${stub.url}/in/herald?team=7`).send([hook(42)]);
    expect(results).toEqual([{ messageId: 42, ok: true, providerId: 'evt_1' }]);
    const [r] = stub.received;
    expect(r).toMatchObject({ method: 'POST', url: '/in/herald?team=7' });
    expect(JSON.parse(r!.body.toString())).toEqual(hook(42).payload);
    expect(r!.headers).toMatchObject({
      'content-type': 'application/json',
      'user-agent': 'Herald-Webhook/1',
      'idempotency-key': '7.42',
      'herald-message': '7.42',
    });
    expect(r!.headers['herald-signature']).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, r!.headers['herald-signature'] as string, r!.body)).toBe(true);
  });

  it('delivers through the sandbox, which verifies the signature and keeps what it accepted', async () => {
    sandbox = await startWebhookSandbox({ secret });
    const results = await adapterFor(sandbox.hookUrl).send(many(3));
    expect(results).toEqual([1, 2, 3].map((id) => ({ messageId: id, ok: true, providerId: expect.stringMatching(/^whmsg_\d$/) })));
    expect(sandbox.accepted).toBe(3);
    expect(sandbox.messages()).toEqual(
      [1, 2, 3].map((id) =>
        expect.objectContaining({ channel: 'webhook', to: `ct_${id}`, ledgerKey: `7.${id}`, summary: 'campaign.message' }),
      ),
    );
  });

  it('a repeated send with the same ledger key is accepted once and counted as a duplicate, with the same id', async () => {
    sandbox = await startWebhookSandbox({ secret });
    const adapter = adapterFor(sandbox.hookUrl);
    const [first] = await adapter.send([hook(5)]);
    const [again] = await adapter.send([hook(5, 7, { data: { text: 'changed on retry' } })]);
    await adapter.send([hook(6)]);
    expect(again).toEqual(first);
    expect({ accepted: sandbox.accepted, duplicates: sandbox.duplicates, requests: sandbox.requests }).toEqual({
      accepted: 2,
      duplicates: 1,
      requests: 3,
    });
    expect(sandbox.messages().map((m) => m.ledgerKey)).toEqual(['7.5', '7.6']);
  });

  it('keeps the latest messages only, oldest first, and counts them all', async () => {
    sandbox = await startWebhookSandbox({ secret, keepMessages: 4 });
    const adapter = adapterFor(sandbox.hookUrl, secret, { concurrency: 1 });
    await adapter.send(many(3));
    expect(sandbox.messages().map((m) => m.ledgerKey)).toEqual(['7.1', '7.2', '7.3']);
    await adapter.send(many(3, 4));
    expect(sandbox.messages().map((m) => m.ledgerKey)).toEqual(['7.3', '7.4', '7.5', '7.6']);
    expect(sandbox.accepted).toBe(6);
  });

  it('throws WEBHOOK_AUTH when the endpoint refuses the signature, and starts no further request', async () => {
    sandbox = await startWebhookSandbox({ secret: 'whsec_the_endpoints_own_secret' });
    const err = await fatalOf(adapterFor(sandbox.hookUrl, secret, { concurrency: 1 }).send(many(5)));
    expect(err.code).toBe('WEBHOOK_AUTH');
    expect(err.message).toMatch(/HTTP 401.*Herald-Signature/);
    expect(err.message).not.toContain(secret);
    expect(err.results).toEqual([]);
    expect({ requests: sandbox.requests, refused: sandbox.refused, accepted: sandbox.accepted }).toEqual({
      requests: 1,
      refused: 1,
      accepted: 0,
    });
  });

  it('answers permanent WEBHOOK_GONE, saying the recipient is gone, when the endpoint answers 410', async () => {
    sandbox = await startWebhookSandbox({ secret, permanentRate: 1 });
    const results = await adapterFor(sandbox.hookUrl).send([hook(1)]);
    expect(results).toEqual([
      { messageId: 1, ok: false, kind: 'permanent', code: 'WEBHOOK_GONE', detail: expect.stringContaining('410'), recipient: 'gone' },
    ]);
    expect(sandbox.accepted).toBe(0);
  });

  it('answers transient for the sandbox’s 429 and 503, with the Retry-After it gave, and a retry gets through', async () => {
    sandbox = await startWebhookSandbox({ secret, transientRate: 1, retryAfterSeconds: 0 });
    const adapter = adapterFor(sandbox.hookUrl);
    const batch = many(40);
    const first = await adapter.send(batch);
    expect(new Set(first.map(outcome))).toEqual(new Set(['transient:WEBHOOK_THROTTLED', 'transient:WEBHOOK_UNAVAILABLE']));
    sandbox.setFaults({});
    expect((await adapter.send(batch)).every((r) => r.ok)).toBe(true);
    expect({ accepted: sandbox.accepted, duplicates: sandbox.duplicates }).toEqual({ accepted: 40, duplicates: 0 });
  });

  it('fails the same messages for the same seed whatever order they arrive in', async () => {
    const failedKeys = async (batch: OutgoingWebhook[]) => {
      const s = await startWebhookSandbox({ secret, seed: 42, permanentRate: 0.3, transientRate: 0.2, retryAfterSeconds: 0 });
      const results = await adapterFor(s.hookUrl, secret, { concurrency: 8 }).send(batch);
      await s.close();
      return results.flatMap((r) => (r.ok ? [] : [`${r.messageId}:${r.kind}`])).sort();
    };
    const batch = many(200);
    const forward = await failedKeys(batch);
    const backward = await failedKeys([...batch].reverse());
    expect(backward).toEqual(forward);
    // About 20% transient and 30% of the rest permanent: 0.2 + 0.8 × 0.3 = 44% of 200.
    expect(forward.length).toBeGreaterThan(60);
    expect(forward.length).toBeLessThan(120);
  });

  it('fails the campaign with WEBHOOK_CREDENTIALS when the sender’s credentials are unusable, without calling', async () => {
    const a = new WebhookAdapter(defaultWebhookConfig, { credentials: { url: 'http://hooks.example.test/in', secret } });
    adapters.push(a);
    const err = await fatalOf(a.send([hook(1)]));
    expect(err.code).toBe('WEBHOOK_CREDENTIALS');
    expect(err.message).toMatch(/https/);
    expect(err.message).not.toContain('hooks.example.test');
  });
});

describe('endpoint answers map to our outcomes over a real socket', () => {
  const cases: [string, (res: ServerResponse) => void, Record<string, unknown>][] = [
    ['202 without a body', (res) => res.writeHead(202).end(), { ok: true, providerId: null }],
    ['200 with a numeric id', (res) => res.writeHead(200).end('{"id":981}'), { ok: true, providerId: '981' }],
    ['410', (res) => res.writeHead(410).end('unsubscribed'), { ok: false, kind: 'permanent', code: 'WEBHOOK_GONE', recipient: 'gone' }],
    [
      '422 with a long body',
      (res) => res.writeHead(422).end('x'.repeat(1000)),
      { ok: false, kind: 'permanent', code: 'WEBHOOK_REJECTED', detail: `HTTP 422: ${'x'.repeat(400)}` },
    ],
    [
      '400',
      (res) => res.writeHead(400).end('bad payload'),
      { ok: false, kind: 'permanent', code: 'WEBHOOK_REJECTED', detail: 'HTTP 400: bad payload' },
    ],
    [
      '429 with Retry-After',
      (res) => res.writeHead(429, { 'Retry-After': '2' }).end(),
      { ok: false, kind: 'transient', code: 'WEBHOOK_THROTTLED', retryAfterMs: 2000 },
    ],
    [
      '500',
      (res) => res.writeHead(500).end('oops'),
      { ok: false, kind: 'transient', code: 'WEBHOOK_UNAVAILABLE', detail: 'HTTP 500: oops' },
    ],
    ['503', (res) => res.writeHead(503).end(), { ok: false, kind: 'transient', code: 'WEBHOOK_UNAVAILABLE' }],
    ['a reset connection', (res) => res.socket?.destroy(), { ok: false, kind: 'transient', code: 'WEBHOOK_NETWORK' }],
  ];
  it.each(cases)('%s', async (_name, answer, expected) => {
    const stub = await startStub((_n, res) => answer(res));
    const [result] = await adapterFor(stub.url).send([hook(1)]);
    expect(result).toEqual({ messageId: 1, ...expected, ...(expected.ok ? {} : { detail: expected.detail ?? expect.any(String) }) });
  });

  it.each([
    [401, 'WEBHOOK_AUTH', /HTTP 401/],
    [403, 'WEBHOOK_AUTH', /HTTP 403/],
    [404, 'WEBHOOK_ENDPOINT', /HTTP 404.*url/],
  ])('HTTP %i throws %s', async (status, code, message) => {
    const stub = await startStub((_n, res) => res.writeHead(status).end());
    const err = await fatalOf(adapterFor(stub.url).send([hook(1)]));
    expect(err.code).toBe(code);
    expect(err.message).toMatch(message);
  });

  it('does not follow a redirect: fatal WEBHOOK_ENDPOINT saying where it leads, without its query', async () => {
    const target = await startStub((_n, res) => res.writeHead(200).end());
    const stub = await startStub((_n, res) => res.writeHead(308, { Location: `${target.url}/new-hook?token=s3cr3t` }).end());
    const err = await fatalOf(adapterFor(stub.url).send([hook(1)]));
    expect(err.code).toBe('WEBHOOK_ENDPOINT');
    expect(err.message).toContain(`redirects to ${target.url}/new-hook`);
    expect(err.message).not.toContain('s3cr3t');
    expect(target.received).toHaveLength(0);
  });

  it('keeps the results that completed before a fatal answer, and starts no request after it', async () => {
    const stub = await startStub((n, res) => (n <= 2 ? res.writeHead(200).end(`{"id":"e${n}"}`) : res.writeHead(401).end()));
    const err = await fatalOf(adapterFor(stub.url, secret, { concurrency: 1 }).send(many(6)));
    expect(err.code).toBe('WEBHOOK_AUTH');
    expect(err.results).toEqual([
      { messageId: 1, ok: true, providerId: 'e1' },
      { messageId: 2, ok: true, providerId: 'e2' },
    ]);
    expect(stub.received).toHaveLength(3);
  });

  it('reads no more than the start of a huge answer, and keeps 400 characters of it', async () => {
    const stub = await startStub((_n, res) => {
      res.writeHead(400);
      const chunk = 'y'.repeat(64 * 1024);
      for (let i = 0; i < 64; i++) res.write(chunk);
      res.end();
    });
    const [result] = await adapterFor(stub.url).send([hook(1)]);
    expect(result).toEqual({
      messageId: 1,
      ok: false,
      kind: 'permanent',
      code: 'WEBHOOK_REJECTED',
      detail: `HTTP 400: ${'y'.repeat(400)}`,
    });
  });

  it('fails only the message whose payload cannot be JSON, permanently', async () => {
    const stub = await startStub((_n, res) => res.writeHead(204).end());
    const results = await adapterFor(stub.url).send([hook(1, 7, { big: 1n }), hook(2)]);
    expect(results.map(outcome)).toEqual(['permanent:WEBHOOK_PAYLOAD', 'ok']);
    expect(stub.received).toHaveLength(1);
  });

  it('gives up on an endpoint that does not answer within the timeout, as transient', async () => {
    const stub = await startStub(() => undefined);
    const started = Date.now();
    const results = await adapterFor(stub.url, secret, { timeoutMs: 200 }).send(many(2));
    expect(results.map(outcome)).toEqual(['transient:WEBHOOK_TIMEOUT', 'transient:WEBHOOK_TIMEOUT']);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('reports an endpoint that refuses connections as transient, without naming it', async () => {
    const stub = await startStub(() => undefined);
    const server = servers.pop()!;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const [result] = await adapterFor(stub.url).send([hook(1)]);
    expect(result).toMatchObject({
      ok: false,
      kind: 'transient',
      code: 'WEBHOOK_NETWORK',
      detail: expect.stringContaining('ECONNREFUSED'),
    });
    expect((result as { detail: string }).detail).not.toContain('127.0.0.1');
  });

  it('waits out a short Retry-After before its next request, and answers at once inside a long one', async () => {
    let retryAfter = '1';
    const stub = await startStub((n, res) =>
      n === 1 ? res.writeHead(429, { 'Retry-After': retryAfter }).end() : res.writeHead(200).end(),
    );
    const adapter = adapterFor(stub.url);
    expect((await adapter.send([hook(1)]))[0]).toMatchObject({ kind: 'transient', retryAfterMs: 1000 });
    const started = Date.now();
    expect((await adapter.send([hook(2)]))[0]!.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    retryAfter = '120';
    const stub2 = await startStub((n, res) =>
      n === 1 ? res.writeHead(429, { 'Retry-After': retryAfter }).end() : res.writeHead(200).end(),
    );
    const slow = adapterFor(stub2.url);
    await slow.send([hook(1)]);
    expect((await slow.send([hook(2)]))[0]).toMatchObject({ ok: false, code: 'WEBHOOK_THROTTLED', retryAfterMs: expect.any(Number) });
    expect(stub2.received).toHaveLength(1);
  });

  it('holds at most `concurrency` requests in flight and answers in input order', async () => {
    let open = 0;
    let most = 0;
    const stub = await startStub((_n, res, req) => {
      most = Math.max(most, ++open);
      setTimeout(() => {
        open--;
        res.writeHead(200).end(`{"id":"${req.headers['idempotency-key'] as string}"}`);
      }, 20);
    });
    const results = await adapterFor(stub.url, secret, { concurrency: 4 }).send(many(20));
    expect(most).toBe(4);
    expect(results.map((r) => (r.ok ? r.providerId : null))).toEqual(many(20).map((m) => m.ledgerKey));
  });
});

describe('verdictOfAnswer', () => {
  it.each([
    [200, '{"id":"a"}', null, { verdict: 'accepted', providerId: 'a' }],
    [204, '', null, { verdict: 'accepted', providerId: null }],
    [200, '<html>ok</html>', null, { verdict: 'accepted', providerId: null }],
    [200, '{"id":""}', null, { verdict: 'accepted', providerId: null }],
    [301, '', '/elsewhere', { verdict: 'fatal', code: 'WEBHOOK_ENDPOINT' }],
    [302, '', null, { verdict: 'fatal', code: 'WEBHOOK_ENDPOINT' }],
    [408, '', null, { verdict: 'failed', kind: 'transient', code: 'WEBHOOK_UNAVAILABLE' }],
    [409, 'conflict', null, { verdict: 'failed', kind: 'permanent', code: 'WEBHOOK_REJECTED' }],
    [502, '', null, { verdict: 'failed', kind: 'transient', code: 'WEBHOOK_UNAVAILABLE' }],
  ])('HTTP %i %s → %o', (status, body, location, expected) => {
    expect(verdictOfAnswer(status, body, location)).toMatchObject(expected);
  });

  it('names a relative redirect by its path', () => {
    expect(verdictOfAnswer(307, '', '/v2/hook?x=1')).toMatchObject({ detail: expect.stringContaining('redirects to /v2/hook)') });
  });
});

describe('webhook sender credentials and configuration', () => {
  it.each([
    [{ url: 'https://hooks.example.com/herald', secret }, null],
    [{ url: 'http://127.0.0.1:8080/hook', secret }, null],
    [{ url: 'http://localhost/hook', secret }, null],
    [{ url: 'http://[::1]:9/hook', secret }, null],
    [{ secret }, /url is required/],
    [{ url: 'hooks.example.com', secret }, /absolute URL/],
    [{ url: 'ftp://hooks.example.com', secret }, /https/],
    [{ url: 'http://hooks.example.com/hook', secret }, /https \(plain http is allowed to loopback only\)/],
    [{ url: 'https://user:pw@hooks.example.com/hook', secret }, /user or password/],
    [{ url: 'https://hooks.example.com/hook#x', secret }, /fragment/],
    [{ url: 'https://hooks.example.com/hook' }, /secret must be at least 16/],
    [{ url: 'https://hooks.example.com/hook', secret: 'short' }, /secret must be at least 16/],
  ])('%o → %s', (credentials, problem) => {
    const read = readWebhookCredentials(credentials);
    if (problem === null) expect(read.ok).toBe(true);
    else {
      expect(read).toEqual({ ok: false, detail: expect.stringMatching(problem) });
      const secret = 'secret' in credentials ? credentials.secret : null;
      if (!read.ok && secret) expect(read.detail).not.toContain(secret);
    }
  });

  it('reads WEBHOOK_TIMEOUT_MS and WEBHOOK_CONCURRENCY over the defaults', () => {
    expect(webhookConfigFromEnv({})).toEqual({ timeoutMs: 10_000, concurrency: 16, maxRetryWaitMs: 10_000, toleranceSeconds: 300 });
    expect(webhookConfigFromEnv({ WEBHOOK_TIMEOUT_MS: '2500', WEBHOOK_CONCURRENCY: '64' })).toMatchObject({
      timeoutMs: 2500,
      concurrency: 64,
    });
    expect(() => webhookConfigFromEnv({ WEBHOOK_CONCURRENCY: '0' })).toThrow(/WEBHOOK_CONCURRENCY/);
    expect(() => webhookConfigFromEnv({ WEBHOOK_TIMEOUT_MS: 'soon' })).toThrow(/WEBHOOK_TIMEOUT_MS/);
  });
});

/** A stand-in Herald receipts route: keeps each request as the route would hand it to the provider module. */
async function startSink(status = 200): Promise<ReceiptSink> {
  const sink = await startReceiptSink('/v1/receipts/webhook/snd_1', (_n, _req, res) => res.writeHead(status).end());
  servers.push(sink.server);
  return sink;
}

const senderWith = (credentials: Record<string, string>): SenderIdentity => ({ id: 'snd_1', name: null, address: null, credentials });

describe('receipts from the endpoint', () => {
  it('the sandbox posts signed receipts that verify with the sender’s secret and parse to delivered, read and failed', async () => {
    const sink = await startSink();
    const started = await webhookProvider.startSandbox({
      receiptUrl: () => sink.url,
      receiptDelayMs: 1,
      readRate: 1,
      undeliveredRate: 0.25,
    });
    sandbox = started.server as WebhookSandbox;
    const sender = senderWith(started.credentials);
    const adapter = webhookProvider.createAdapter(started.config, sender, { receiptUrl: sink.url });
    try {
      expect((await adapter.send(many(200))).every((r) => r.ok)).toBe(true);
      await sandbox.drainReceipts();
    } finally {
      await adapter.close();
    }
    const handler = webhookProvider.receipts!;
    const events = sink.received.flatMap((request) => {
      expect(request.headers['content-type']).toBe('application/json');
      expect(handler.verify(request, started.config, sender)).toBe(true);
      const parsed = handler.parse(request);
      expect(parsed.ok).toBe(true);
      return parsed.ok ? parsed.events : [];
    });
    expect(sandbox.receiptsPosted).toBe(events.length);
    const byMessage = new Map<number, string[]>();
    for (const e of events) byMessage.set(e.message!.messageId, [...(byMessage.get(e.message!.messageId) ?? []), e.type]);
    expect([...byMessage.keys()].sort((a, b) => a - b)).toEqual(many(200).map((m) => m.messageId));
    const failed = [...byMessage.values()].filter((types) => types.join() === 'failed').length;
    const read = [...byMessage.values()].filter((types) => types.join() === 'delivered,read').length;
    expect(failed + read).toBe(200);
    expect(failed).toBeGreaterThan(25);
    expect(failed).toBeLessThan(75);
    expect(events.find((e) => e.type === 'failed')).toMatchObject({ message: { runId: 7 }, providerId: null, code: 'SANDBOX_UNDELIVERED' });
    expect(events.every((e) => e.at instanceof Date && !Number.isNaN(e.at.getTime()))).toBe(true);
  });

  it('sends no receipt for a duplicate, and none while receiptUrl is null', async () => {
    const sink = await startSink();
    let url: string | null = null;
    sandbox = await startWebhookSandbox({ secret, receiptUrl: () => url, receiptDelayMs: 1 });
    const adapter = adapterFor(sandbox.hookUrl);
    await adapter.send([hook(1)]);
    url = sink.url;
    await adapter.send([hook(2), hook(2)]);
    await adapter.send([hook(2)]);
    await sandbox.drainReceipts();
    const keys = sink.received.flatMap((r) =>
      (JSON.parse(r.rawBody.toString()) as { events: { message: string }[] }).events.map((e) => e.message),
    );
    expect(keys).toEqual(['7.2']);
    expect(sandbox.duplicates).toBe(2);
  });

  it('tries a receipt again after a 503 with Retry-After, signed anew, and gives up on a 400', async () => {
    const stub = await startStub((n, res) => res.writeHead(n === 1 ? 503 : 200, { 'Retry-After': '0' }).end());
    sandbox = await startWebhookSandbox({ secret, receiptUrl: () => `${stub.url}/v1/receipts/webhook/snd_1`, receiptDelayMs: 1 });
    const adapter = adapterFor(sandbox.hookUrl);
    await adapter.send([hook(1)]);
    await sandbox.drainReceipts();
    expect(stub.received.map((r) => r.body.toString())).toEqual(Array(2).fill(stub.received[0]!.body.toString()));
    expect(stub.received.every((r) => verifyWebhookSignature(secret, r.headers['herald-signature'] as string, r.body))).toBe(true);
    expect({ posted: sandbox.receiptsPosted, failures: sandbox.receiptFailures }).toEqual({ posted: 1, failures: 0 });

    const other = await startStub((_n, res) => res.writeHead(400).end());
    const s2 = await startWebhookSandbox({ secret, receiptUrl: () => other.url, receiptDelayMs: 1 });
    try {
      await adapterFor(s2.hookUrl).send([hook(2)]);
      await s2.drainReceipts();
      expect(other.received).toHaveLength(1);
      expect({ posted: s2.receiptsPosted, failures: s2.receiptFailures }).toEqual({ posted: 0, failures: 1 });
    } finally {
      await s2.close();
    }
  });

  it('verify refuses another secret, a changed body, a stale signature and a sender with no usable secret', () => {
    const body = Buffer.from('{"events":[{"message":"7.1","type":"delivered"}]}');
    const now = new Date();
    const request = (rawBody: Buffer, signature: string): ReceiptRequest => ({
      url: '/v1/receipts/webhook/snd_1',
      method: 'POST',
      headers: { 'herald-signature': signature, 'content-type': 'application/json' },
      rawBody,
    });
    const config = defaultWebhookConfig;
    const sender = senderWith({ url: 'https://hooks.example.com/h', secret });
    expect(verifyWebhookReceipt(request(body, signWebhook(secret, body, now)), config, sender)).toBe(true);
    // The provider's configuration plays no part: the sender's secret decides.
    expect(verifyWebhookReceipt(request(body, signWebhook(secret, body, now)), null as unknown as WebhookConfig, sender)).toBe(true);
    expect(verifyWebhookReceipt(request(body, signWebhook('whsec_someone_else_entirely', body, now)), config, sender)).toBe(false);
    expect(
      verifyWebhookReceipt(
        request(Buffer.from(body.toString().replace('delivered', 'read')), signWebhook(secret, body, now)),
        config,
        sender,
      ),
    ).toBe(false);
    expect(verifyWebhookReceipt(request(body, signWebhook(secret, body, new Date(now.getTime() - 600_000))), config, sender)).toBe(false);
    expect(verifyWebhookReceipt({ ...request(body, ''), headers: {} }, config, sender)).toBe(false);
    expect(
      verifyWebhookReceipt(request(body, signWebhook('', body, now)), config, senderWith({ url: 'https://h.example.com', secret: '' })),
    ).toBe(false);
  });

  it('parse reads every field into our events', () => {
    const now = new Date('2026-12-02T12:00:00Z');
    const body = JSON.stringify({
      events: [
        { message: '7.1', type: 'delivered', at: '2026-12-02T10:15:00Z' },
        { message: '7.1', type: 'read', at: '2026-12-02T11:15:00.123+01:00' },
        { message: '7.2', type: 'clicked' },
        { message: '8.3', type: 'failed', code: 'NO_DEVICE', detail: 'The contact has no device', extra: 'ignored' },
        { message: '8.4', type: 'unsubscribed' },
      ],
      cursor: 'ignored too',
    });
    expect(parseWebhookReceipts(Buffer.from(body), now)).toEqual({
      ok: true,
      events: [
        { message: { runId: 7, messageId: 1 }, providerId: null, type: 'delivered', at: new Date('2026-12-02T10:15:00Z') },
        { message: { runId: 7, messageId: 1 }, providerId: null, type: 'read', at: new Date('2026-12-02T10:15:00.123Z') },
        { message: { runId: 7, messageId: 2 }, providerId: null, type: 'clicked', at: now },
        {
          message: { runId: 8, messageId: 3 },
          providerId: null,
          type: 'failed',
          code: 'NO_DEVICE',
          detail: 'The contact has no device',
          at: now,
        },
        { message: { runId: 8, messageId: 4 }, providerId: null, type: 'unsubscribed', at: now },
      ],
    });
    expect(parseWebhookReceipts('{"events":[]}')).toEqual({ ok: true, events: [] });
  });

  it.each([
    ['not json', /JSON/],
    ['[]', /object/],
    ['{}', /events must be an array/],
    ['{"events":{}}', /events must be an array/],
    [JSON.stringify({ events: Array(1001).fill({ message: '7.1', type: 'delivered' }) }), /at most 1000 entries, not 1001/],
    ['{"events":[null]}', /events\[0\]: must be an object/],
    ['{"events":[{"message":"7.1","type":"delivered"},{"message":"71","type":"delivered"}]}', /events\[1\]: message must be/],
    ['{"events":[{"message":7.1,"type":"delivered"}]}', /events\[0\]: message must be/],
    ['{"events":[{"message":"7.1","type":"opened"}]}', /events\[0\]: type must be delivered, read, clicked, failed or unsubscribed/],
    ['{"events":[{"message":"7.1","type":"read","at":"yesterday"}]}', /events\[0\]: at must be an ISO 8601 time/],
    ['{"events":[{"message":"7.1","type":"read","at":"2026-12-02T10:15:00"}]}', /at must be an ISO 8601 time with a time zone/],
    ['{"events":[{"message":"7.1","type":"read","at":"2026-13-45T10:15:00Z"}]}', /at must be/],
    [`{"events":[{"message":"7.1","type":"failed","code":"${'C'.repeat(65)}"}]}`, /code must be a string of at most 64/],
    ['{"events":[{"message":"7.1","type":"failed","detail":42}]}', /detail must be a string/],
  ])('parse refuses %s', (body, detail) => {
    expect(parseWebhookReceipts(Buffer.from(body))).toEqual({ ok: false, detail: expect.stringMatching(detail) });
  });
});

describe('the webhook provider module', () => {
  it('names itself, asks senders for url and secret, and builds an idempotent one-at-a-time adapter', async () => {
    expect({ name: webhookProvider.name, channel: webhookProvider.channel, fields: webhookProvider.credentialFields }).toEqual({
      name: 'webhook',
      channel: 'webhook',
      fields: ['url', 'secret'],
    });
    // The environment names no endpoint, so sandbox mode keeps the sandbox; it only tunes the senders' own.
    expect(webhookProvider.configFromEnv({ WEBHOOK_CONCURRENCY: '8' })).toBeNull();
    const config = webhookProvider.defaultConfig!({ WEBHOOK_CONCURRENCY: '8' });
    const adapter = webhookProvider.createAdapter(config, senderWith({ url: 'https://hooks.example.com/h', secret }), { receiptUrl: null });
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 8, idempotent: true, costUnit: 'message' });
    await adapter.close();
    // A runtime without defaultConfig passes null for a sender with its own endpoint: the defaults.
    const sender = senderWith({ url: 'https://hooks.example.com/h', secret });
    const fallback = webhookProvider.createAdapter(null as unknown as WebhookConfig, sender, { receiptUrl: null });
    expect(fallback.capabilities.concurrency).toBe(16);
    await fallback.close();
  });

  it('starts a sandbox whose credentials pass the senders API check and deliver', async () => {
    const started = await webhookProvider.startSandbox({ receiptUrl: () => null });
    sandbox = started.server as WebhookSandbox;
    expect(started.credentials.url).toBe(`${started.server.url}/hook`);
    expect(readWebhookCredentials(started.credentials).ok).toBe(true);
    const adapter = webhookProvider.createAdapter(started.config, senderWith(started.credentials), { receiptUrl: null });
    adapters.push(adapter as WebhookAdapter);
    expect(await adapter.send([hook(1)])).toEqual([{ messageId: 1, ok: true, providerId: 'whmsg_1' }]);
    expect(started.server.accepted).toBe(1);
  });
});
