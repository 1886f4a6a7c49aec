import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingEmail, type SendResult } from '../../src/channels/channel.js';
import {
  HttpEmailAdapter,
  jsonArrayBytes,
  toWireEmail,
  verdictOfErrorCode,
  verdictOfStatus,
} from '../../src/channels/email-http/adapter.js';
import {
  type HttpEmailConfig,
  httpEmailConfigFromEnv,
  httpEmailWebhookAuthFromEnv,
  sandboxHttpEmailConfig,
} from '../../src/channels/email-http/config.js';
import {
  basicAuthMatches,
  httpEmailReceipts,
  parseHttpEmailReceipt,
  parseHttpEmailReceiptRequest,
} from '../../src/channels/email-http/receipts.js';
import { type SandboxHttpEmailServer, startSandboxHttpEmail } from '../../src/channels/email-http/sandbox.js';
import { fatalOf } from './provider-fatal.js';

function email(id: number, to = `user${id}@example.test`, runId = 7): OutgoingEmail {
  return {
    messageId: id,
    runId,
    headerMessageId: `<herald.${runId}.${id}@example.test>`,
    from: { name: 'News, "Weekly"', address: 'news@example.test' },
    replyTo: null,
    to,
    subject: `Hello ${id}`,
    html: `<p>Hello ${id}</p>`,
    text: `Hello ${id}`,
    headers: { 'X-Herald-Workspace': 'ws_1', 'X-Herald-Campaign': 'cmp_1', 'X-Herald-Message': `${runId}.${id}` },
  };
}

const many = (n: number, from = 1) => Array.from({ length: n }, (_, i) => email(from + i));

/** A stand-in provider answering each request from a script, for failures the sandbox does not make. */
async function startStub(answer: (n: number, res: import('node:http').ServerResponse) => void): Promise<{ url: string; server: Server }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => answer(++n, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

let sandbox: SandboxHttpEmailServer | undefined;
let stub: Server | undefined;
const adapters: HttpEmailAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  await sandbox?.close();
  stub?.closeAllConnections();
  await new Promise<void>((resolve) => (stub ? stub.close(() => resolve()) : resolve()));
  sandbox = undefined;
  stub = undefined;
});

function adapterFor(url: string, overrides: Partial<HttpEmailConfig> = {}): HttpEmailAdapter {
  const a = new HttpEmailAdapter({ ...sandboxHttpEmailConfig(url), ...overrides });
  adapters.push(a);
  return a;
}

describe('sending through the sandbox HTTP email API', () => {
  it('maps each message of a mixed batch to its own outcome, in order', async () => {
    sandbox = await startSandboxHttpEmail();
    const results = await adapterFor(sandbox.url).send([
      email(1),
      email(2, 'gone+fail@example.test'),
      email(3, 'not-an-address'),
      email(4),
    ]);
    expect(results).toEqual([
      { messageId: 1, ok: true, providerId: expect.stringMatching(/^[0-9a-f-]{36}$/) },
      expect.objectContaining({ messageId: 2, ok: false, kind: 'permanent', code: 'HTTP_EMAIL_INACTIVE_RECIPIENT' }),
      expect.objectContaining({ messageId: 3, ok: false, kind: 'permanent', code: 'HTTP_EMAIL_INVALID_MESSAGE' }),
      { messageId: 4, ok: true, providerId: expect.any(String) },
    ]);
    expect(sandbox.mailbox.summary()).toEqual({ received: 2, unique: 2, duplicates: 0 });
    const [latest] = sandbox.mailbox.latest({ limit: 1 });
    expect(latest).toMatchObject({
      messageId: '<herald.7.4@example.test>',
      from: 'news@example.test',
      to: ['user4@example.test'],
      subject: 'Hello 4',
      workspaceId: 'ws_1',
      campaignId: 'cmp_1',
    });
  });

  it('throws HTTP_EMAIL_AUTH with no results when the provider refuses the token, and delivers nothing', async () => {
    sandbox = await startSandboxHttpEmail({ token: 'right' });
    const err = await fatalOf(adapterFor(sandbox.url, { token: 'wrong' }).send(many(3)));
    expect(err.code).toBe('HTTP_EMAIL_AUTH');
    expect(err.results).toEqual([]);
    expect(sandbox.mailbox.summary().received).toBe(0);
  });

  it('answers transient for every message of a batch the provider refuses with 503, and waits out its Retry-After', async () => {
    sandbox = await startSandboxHttpEmail({ retryAfterSeconds: 1 });
    const adapter = adapterFor(sandbox.url);
    const results = await adapter.send([email(1), email(2, 'busy+tempfail@example.test'), email(3)]);
    expect(results.map((r) => (r.ok ? 'ok' : `${r.kind}:${r.code}`))).toEqual(Array(3).fill('transient:HTTP_EMAIL_UNAVAILABLE'));
    // The engine schedules the retry no earlier than the provider asked.
    expect(results.every((r) => !r.ok && r.retryAfterMs! >= 900 && r.retryAfterMs! <= 1000)).toBe(true);
    expect(sandbox.mailbox.summary().received).toBe(0);

    const started = Date.now();
    expect(await adapter.send([email(1)])).toEqual([expect.objectContaining({ ok: true })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(sandbox.requests).toBe(2);
  });

  it('does not call again inside a Retry-After longer than it may wait: transient at once', async () => {
    sandbox = await startSandboxHttpEmail({ failRate: 1, retryAfterSeconds: 120 });
    const adapter = adapterFor(sandbox.url, { maxRetryWaitMs: 1_000 });
    expect((await adapter.send(many(2))).every((r) => !r.ok && r.kind === 'transient')).toBe(true);
    const second = await adapter.send(many(2, 10));
    expect(second).toEqual([
      expect.objectContaining({
        messageId: 10,
        ok: false,
        kind: 'transient',
        code: 'HTTP_EMAIL_THROTTLED',
        retryAfterMs: expect.any(Number),
      }),
      expect.objectContaining({
        messageId: 11,
        ok: false,
        kind: 'transient',
        code: 'HTTP_EMAIL_THROTTLED',
        retryAfterMs: expect.any(Number),
      }),
    ]);
    expect((second[0] as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect(sandbox.requests).toBe(1);
  });

  it('splits 1,200 messages into 3 requests of at most 500 and answers in input order', async () => {
    sandbox = await startSandboxHttpEmail();
    const batch = many(1200);
    const results = await adapterFor(sandbox.url).send(batch);
    expect(sandbox.requests).toBe(3);
    expect(results.map((r) => r.messageId)).toEqual(batch.map((m) => m.messageId));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(sandbox.mailbox.summary()).toEqual({ received: 1200, unique: 1200, duplicates: 0 });
  });

  it('with a batch size of 1, posts each message alone to the single-message endpoint, concurrently, outcomes in order', async () => {
    sandbox = await startSandboxHttpEmail({ latencyMs: 30 });
    // In front of the sandbox, a proxy counting the requests it holds at once.
    let open = 0;
    let most = 0;
    const target = sandbox.url;
    stub = createServer((req, res) => {
      most = Math.max(most, ++open);
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const headers = { 'Content-Type': 'application/json', 'X-Postmark-Server-Token': String(req.headers['x-postmark-server-token']) };
        void fetch(`${target}${req.url}`, { method: 'POST', headers, body: Buffer.concat(chunks) }).then(async (r) => {
          const body = await r.text();
          open--;
          res.writeHead(r.status, { 'Content-Type': 'application/json' }).end(body);
        });
      });
    });
    await new Promise<void>((resolve) => stub!.listen(0, '127.0.0.1', () => resolve()));
    const s = { url: `http://127.0.0.1:${(stub.address() as AddressInfo).port}` };
    const adapter = adapterFor(s.url, { batchSize: 1, concurrency: 8 });
    const results = await adapter.send([email(1), email(2, 'gone+fail@example.test'), email(3, 'not-an-address'), ...many(13, 4)]);
    expect(sandbox.requests).toBe(16);
    expect(most).toBe(8);
    expect(results.map((r) => r.messageId)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(results[0]).toEqual({ messageId: 1, ok: true, providerId: expect.stringMatching(/^[0-9a-f-]{36}$/) });
    expect(results[1]).toMatchObject({ ok: false, kind: 'permanent', code: 'HTTP_EMAIL_INACTIVE_RECIPIENT' });
    expect(results[2]).toMatchObject({ ok: false, kind: 'permanent', code: 'HTTP_EMAIL_INVALID_MESSAGE' });
    expect(results.slice(3).every((r) => r.ok)).toBe(true);
    expect(sandbox.mailbox.summary()).toEqual({ received: 14, unique: 14, duplicates: 0 });
  });

  it('answers transient for a single message the provider refuses with 503', async () => {
    sandbox = await startSandboxHttpEmail();
    const [result] = await adapterFor(sandbox.url, { batchSize: 1 }).send([email(1, 'later+tempfail@example.test')]);
    expect(result).toMatchObject({ messageId: 1, ok: false, kind: 'transient', code: 'HTTP_EMAIL_UNAVAILABLE', retryAfterMs: 1000 });
  });

  it('counts a re-send of the same Message-ID as a duplicate in the mailbox', async () => {
    sandbox = await startSandboxHttpEmail();
    const adapter = adapterFor(sandbox.url);
    await adapter.send(many(3));
    await adapter.send([email(2)]);
    expect(sandbox.mailbox.summary()).toEqual({ received: 4, unique: 3, duplicates: 1 });
  });

  it('keeps the results of requests that completed before a fatal answer, and starts no request after it', async () => {
    const s = await startStub((n, res) => {
      if (n === 1) {
        const answers = Array.from({ length: 500 }, (_, i) => ({ ErrorCode: 0, Message: 'OK', MessageID: `p${i}` }));
        res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(answers));
      } else res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"ErrorCode":10,"Message":"Bad or missing API token"}');
    });
    stub = s.server;
    const err = await fatalOf(adapterFor(s.url, { concurrency: 1 }).send(many(1500)));
    expect(err.code).toBe('HTTP_EMAIL_AUTH');
    expect(err.results).toHaveLength(500);
    expect(err.results.every((r: SendResult) => r.ok)).toBe(true);
  });

  it('throws on a fatal code inside the answers, carrying the messages the same answer accepted', async () => {
    const s = await startStub((_n, res) =>
      res.writeHead(200).end('[{"ErrorCode":0,"MessageID":"a"},{"ErrorCode":405,"Message":"Not allowed to send"}]'),
    );
    stub = s.server;
    const err = await fatalOf(adapterFor(s.url).send(many(2)));
    expect(err.code).toBe('HTTP_EMAIL_ACCOUNT');
    expect(err.results).toEqual([
      { messageId: 1, ok: true, providerId: 'a' },
      expect.objectContaining({ messageId: 2, ok: false, code: 'HTTP_EMAIL_ACCOUNT' }),
    ]);
  });

  it('reports a provider that cannot be reached as transient for every message', async () => {
    const s = await startStub(() => undefined);
    const { url } = s;
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    const results = await adapterFor(url).send(many(2));
    expect(results).toEqual([
      expect.objectContaining({ messageId: 1, ok: false, kind: 'transient', code: 'HTTP_EMAIL_NETWORK' }),
      expect.objectContaining({ messageId: 2, ok: false, kind: 'transient', code: 'HTTP_EMAIL_NETWORK' }),
    ]);
  });

  it('gives up on a request with no answer after the timeout, as transient', async () => {
    const s = await startStub(() => undefined);
    stub = s.server;
    const results = await adapterFor(s.url, { timeoutMs: 200 }).send(many(2));
    expect(results.map((r) => (r.ok ? 'ok' : r.code))).toEqual(['HTTP_EMAIL_TIMEOUT', 'HTTP_EMAIL_TIMEOUT']);
  });

  it('treats a 200 whose answers are missing or unreadable as transient, message by message', async () => {
    const s = await startStub((_n, res) => res.writeHead(200).end('[{"ErrorCode":0,"MessageID":"a"}]'));
    stub = s.server;
    const results = await adapterFor(s.url).send(many(2));
    expect(results).toEqual([
      { messageId: 1, ok: true, providerId: 'a' },
      expect.objectContaining({ messageId: 2, ok: false, kind: 'transient', code: 'HTTP_EMAIL_BAD_RESPONSE' }),
    ]);
  });
});

describe('our message in the provider’s shape', () => {
  it('carries the Message-ID header, the ledger key in Metadata and a quoted sender name', () => {
    const wire = toWireEmail({ ...email(5), html: null, replyTo: 'reply@example.test' }, 'broadcast');
    expect(wire).toEqual({
      From: '"News, \\"Weekly\\"" <news@example.test>',
      To: 'user5@example.test',
      Subject: 'Hello 5',
      TextBody: 'Hello 5',
      ReplyTo: 'reply@example.test',
      Headers: [
        { Name: 'Message-ID', Value: '<herald.7.5@example.test>' },
        { Name: 'X-Herald-Workspace', Value: 'ws_1' },
        { Name: 'X-Herald-Campaign', Value: 'cmp_1' },
        { Name: 'X-Herald-Message', Value: '7.5' },
      ],
      MessageStream: 'broadcast',
      Metadata: { herald_message: '7.5' },
    });
  });

  it('posts a batch as exactly the UTF-8 JSON array of its messages, whatever their text', async () => {
    const bodies: { bytes: Buffer; length: string | undefined; type: string | undefined }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push({ bytes: Buffer.concat(chunks), length: req.headers['content-length'], type: req.headers['content-type'] });
        const sent = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown[];
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(sent.map((_, i) => ({ ErrorCode: 0, Message: 'OK', MessageID: `p-${i}` }))));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    stub = server;
    const adapter = new HttpEmailAdapter({ ...sandboxHttpEmailConfig(`http://127.0.0.1:${(server.address() as AddressInfo).port}`) });
    adapters.push(adapter);
    const texts = ['Grüße, Zoë', '雪だるま ☃ and 🎉', 'quote " backslash \\ tab \t', 'line\u2028separator\u2029', '</script>', ''];
    const batch = texts.map((t, i) => ({ ...email(i + 1), subject: `Hi ${t}`, html: `<p>${t}</p>`, text: t }));
    const results = await adapter.send(batch);

    expect(results.every((r) => r.ok)).toBe(true);
    expect(bodies).toHaveLength(1);
    const { bytes, length, type } = bodies[0]!;
    expect(type).toBe('application/json');
    expect(Number(length)).toBe(bytes.length);
    expect(bytes.toString('utf8')).toBe(JSON.stringify(batch.map((m) => toWireEmail(m, 'broadcast'))));
  });

  it('builds the body bytes of any array exactly as JSON.stringify would', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.string({ unit: 'grapheme' }), fc.dictionary(fc.string(), fc.string({ unit: 'binary' })))),
        (items) => {
          expect(jsonArrayBytes(items, (x) => x).equals(Buffer.from(JSON.stringify(items), 'utf8'))).toBe(true);
        },
      ),
    );
  });
});

describe('provider answers map to our outcome kinds', () => {
  it.each([
    [
      { ErrorCode: 0, MessageID: 'm1' },
      { verdict: 'accepted', providerId: 'm1' },
    ],
    [
      { ErrorCode: 406, Message: 'inactive' },
      { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_INACTIVE_RECIPIENT' },
    ],
    [
      { ErrorCode: 300, Message: 'invalid' },
      { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_INVALID_MESSAGE' },
    ],
    [
      { ErrorCode: 10, Message: 'token' },
      { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH' },
    ],
    [
      { ErrorCode: 400, Message: 'no signature' },
      { verdict: 'fatal', code: 'HTTP_EMAIL_SENDER' },
    ],
    [
      { ErrorCode: 405, Message: 'no credits' },
      { verdict: 'fatal', code: 'HTTP_EMAIL_ACCOUNT' },
    ],
    [
      { ErrorCode: 100, Message: 'maintenance' },
      { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_MAINTENANCE' },
    ],
    [
      { ErrorCode: 411, Message: 'attachment' },
      { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_REJECTED' },
    ],
    [{ Message: 'no code' }, { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_REJECTED' }],
  ])('ErrorCode %o → %o', (answer, expected) => {
    expect(verdictOfErrorCode(answer)).toMatchObject(expected);
  });

  it.each([
    [401, '{"ErrorCode":10,"Message":"Bad or missing API token"}', { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH' }],
    [403, '<html>forbidden</html>', { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH' }],
    [422, '{"ErrorCode":10,"Message":"token"}', { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH' }],
    [422, '{"ErrorCode":410,"Message":"Too many batch messages"}', { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_REJECTED' }],
    [422, '{"ErrorCode":405,"Message":"no credits"}', { verdict: 'fatal', code: 'HTTP_EMAIL_ACCOUNT' }],
    [429, '', { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_THROTTLED' }],
    [500, 'oops', { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_UNAVAILABLE' }],
    [503, '{"ErrorCode":100}', { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_UNAVAILABLE' }],
    [404, 'not found', { verdict: 'fatal', code: 'HTTP_EMAIL_ENDPOINT' }],
    [301, '', { verdict: 'fatal', code: 'HTTP_EMAIL_ENDPOINT' }],
    [400, 'bad', { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_REJECTED' }],
  ])('HTTP %i %s → %o', (status, body, expected) => {
    expect(verdictOfStatus(status, body)).toMatchObject(expected);
  });
});

describe('HTTP email configuration from the environment', () => {
  it('is off without EMAIL_HTTP_URL', () => {
    expect(httpEmailConfigFromEnv({})).toBeNull();
  });

  it('applies the defaults', () => {
    expect(httpEmailConfigFromEnv({ EMAIL_HTTP_URL: 'https://api.postmarkapp.com/', EMAIL_HTTP_TOKEN: 't' })).toEqual({
      baseUrl: 'https://api.postmarkapp.com',
      token: 't',
      batchSize: 500,
      concurrency: 4,
      messageStream: 'broadcast',
      timeoutMs: 30_000,
      maxRetryWaitMs: 10_000,
    });
  });

  it.each([
    [{ EMAIL_HTTP_URL: 'https://api.example.test' }, /EMAIL_HTTP_TOKEN/],
    [{ EMAIL_HTTP_URL: 'not a url', EMAIL_HTTP_TOKEN: 't' }, /EMAIL_HTTP_URL/],
    [{ EMAIL_HTTP_URL: 'http://api.example.test', EMAIL_HTTP_TOKEN: 't' }, /EMAIL_HTTP_URL must use https/],
    [{ EMAIL_HTTP_URL: 'https://api.example.test', EMAIL_HTTP_TOKEN: 't', EMAIL_HTTP_BATCH: '501' }, /EMAIL_HTTP_BATCH/],
    [{ EMAIL_HTTP_URL: 'https://api.example.test', EMAIL_HTTP_TOKEN: 't', EMAIL_HTTP_CONCURRENCY: '0' }, /EMAIL_HTTP_CONCURRENCY/],
    [{ EMAIL_HTTP_URL: 'https://api.example.test', EMAIL_HTTP_TOKEN: 't', EMAIL_HTTP_TIMEOUT_MS: 'x' }, /EMAIL_HTTP_TIMEOUT_MS/],
  ])('refuses %o, naming the variable', (env, message) => {
    expect(() => httpEmailConfigFromEnv(env)).toThrow(message);
  });

  it('allows plain http to loopback only', () => {
    expect(httpEmailConfigFromEnv({ EMAIL_HTTP_URL: 'http://127.0.0.1:9000', EMAIL_HTTP_TOKEN: 't' })?.baseUrl).toBe(
      'http://127.0.0.1:9000',
    );
  });
});

describe('provider receipts read into our events', () => {
  const metadata = { herald_message: '7.42' };
  const message = { runId: 7, messageId: 42 };

  it.each([
    [{ RecordType: 'Delivery', MessageID: 'p1', DeliveredAt: '2025-04-05T16:33:54.9070259Z', Metadata: metadata }, 'delivered', undefined],
    [{ RecordType: 'Open', MessageID: 'p1', ReceivedAt: '2025-04-05T16:40:00Z', FirstOpen: true, Metadata: metadata }, 'opened', undefined],
    [
      { RecordType: 'Click', MessageID: 'p1', ReceivedAt: '2025-04-05T16:41:00Z', OriginalLink: 'https://x.test', Metadata: metadata },
      'clicked',
      undefined,
    ],
    [
      { RecordType: 'SpamComplaint', Type: 'SpamComplaint', MessageID: 'p1', BouncedAt: '2025-04-05T17:00:00Z', Metadata: metadata },
      'complained',
      undefined,
    ],
    [
      { RecordType: 'Bounce', Type: 'HardBounce', Inactive: true, MessageID: 'p1', BouncedAt: '2025-04-05T17:00:00Z', Metadata: metadata },
      'bounced',
      true,
    ],
    [
      { RecordType: 'Bounce', Type: 'SoftBounce', Inactive: false, MessageID: 'p1', BouncedAt: '2025-04-05T17:00:00Z', Metadata: metadata },
      'bounced',
      false,
    ],
    [
      { RecordType: 'Bounce', Type: 'Blocked', Inactive: true, MessageID: 'p1', BouncedAt: '2025-04-05T17:00:00Z', Metadata: metadata },
      'bounced',
      true,
    ],
  ])('%o → %s', (payload, type, hard) => {
    const parsed = parseHttpEmailReceipt(payload);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.events).toHaveLength(1);
    expect(parsed.events[0]).toMatchObject({ message, providerId: 'p1', type });
    expect(parsed.events[0]?.hard).toBe(hard);
    expect(parsed.events[0]?.at).toBeInstanceOf(Date);
  });

  it('falls back to the provider’s MessageID when the payload has no Herald metadata', () => {
    expect(parseHttpEmailReceipt({ RecordType: 'Delivery', MessageID: 'p9', DeliveredAt: '2025-04-05T16:33:54Z' })).toEqual({
      ok: true,
      events: [{ message: null, providerId: 'p9', type: 'delivered', at: new Date('2025-04-05T16:33:54Z') }],
    });
  });

  it('acknowledges records that mean nothing for delivery without an event', () => {
    for (const payload of [
      { RecordType: 'Bounce', Type: 'AutoResponder', MessageID: 'p1', BouncedAt: '2025-04-05T17:00:00Z' },
      { RecordType: 'SubscriptionChange', MessageID: 'p1', ChangedAt: '2025-04-05T17:00:00Z' },
    ])
      expect(parseHttpEmailReceipt(payload)).toEqual({ ok: true, events: [] });
  });

  it.each([
    [null, /object/],
    [[{ RecordType: 'Delivery' }], /object/],
    [{ MessageID: 'p1' }, /RecordType/],
    [{ RecordType: 'Delivery', MessageID: 'p1', DeliveredAt: 'yesterday' }, /DeliveredAt/],
    [{ RecordType: 'Open', ReceivedAt: '2025-04-05T16:40:00Z', Metadata: { herald_message: 'x' } }, /which message/],
  ])('refuses %o', (payload, detail) => {
    const parsed = parseHttpEmailReceipt(payload);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.detail).toMatch(detail);
  });
});

describe('webhook credentials and the receipt handler', () => {
  const auth = { user: 'postmark', password: 'a-long-webhook-password' };
  const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

  it('reads EMAIL_HTTP_WEBHOOK_USER and _PASSWORD, both or neither', () => {
    expect(httpEmailWebhookAuthFromEnv({})).toBeNull();
    expect(
      httpEmailWebhookAuthFromEnv({ EMAIL_HTTP_WEBHOOK_USER: ' postmark ', EMAIL_HTTP_WEBHOOK_PASSWORD: 'a-long-webhook-password' }),
    ).toEqual(auth);
  });

  it.each([
    [{ EMAIL_HTTP_WEBHOOK_USER: 'postmark' }, /set together/],
    [{ EMAIL_HTTP_WEBHOOK_PASSWORD: 'a-long-webhook-password' }, /set together/],
    [{ EMAIL_HTTP_WEBHOOK_USER: 'post:mark', EMAIL_HTTP_WEBHOOK_PASSWORD: 'a-long-webhook-password' }, /colon/],
    [{ EMAIL_HTTP_WEBHOOK_USER: 'postmark', EMAIL_HTTP_WEBHOOK_PASSWORD: 'short' }, /at least 16/],
  ])('refuses %o', (env, message) => {
    expect(() => httpEmailWebhookAuthFromEnv(env)).toThrow(message);
  });

  it('takes exactly the configured basic auth credentials', () => {
    expect(basicAuthMatches(basic('postmark:a-long-webhook-password'), auth)).toBe(true);
    expect(basicAuthMatches(`basic   ${Buffer.from('postmark:a-long-webhook-password').toString('base64')}`, auth)).toBe(true);
    for (const header of [
      undefined,
      '',
      basic('postmark:a-long-webhook-passwor'),
      basic('postmark:a-long-webhook-password2'),
      basic('Postmark:a-long-webhook-password'),
      basic('postmark'),
      'Bearer a-long-webhook-password',
      'Basic !!!',
    ])
      expect(basicAuthMatches(header, auth), String(header)).toBe(false);
  });

  it('verifies and reads a request as the receipt route hands it over', () => {
    const handler = httpEmailReceipts(auth);
    expect(handler).toMatchObject({ provider: 'postmark', channel: 'email' });
    const rawBody = Buffer.from(
      JSON.stringify({
        RecordType: 'Delivery',
        MessageID: 'p1',
        DeliveredAt: '2025-04-05T16:33:54Z',
        Metadata: { herald_message: '7.42' },
      }),
    );
    const request = { url: 'http://h/v1/receipts/postmark/default', method: 'POST', rawBody };
    expect(handler.verify({ ...request, headers: { authorization: basic('postmark:a-long-webhook-password') } })).toBe(true);
    expect(handler.verify({ ...request, headers: {} })).toBe(false);
    expect(handler.parse({ ...request, headers: {} })).toEqual({
      ok: true,
      events: [{ message: { runId: 7, messageId: 42 }, providerId: 'p1', type: 'delivered', at: new Date('2025-04-05T16:33:54Z') }],
    });
    expect(parseHttpEmailReceiptRequest({ ...request, headers: {}, rawBody: Buffer.from('not json') })).toMatchObject({ ok: false });
  });
});

describe('the sandbox posts Postmark webhooks back', () => {
  /** A receiver recording each webhook's Authorization header and JSON body. */
  async function startReceiver(): Promise<{ url: string; got: { authorization: string | undefined; body: Record<string, unknown> }[] }> {
    const got: { authorization: string | undefined; body: Record<string, unknown> }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({
          authorization: req.headers.authorization,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>,
        });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    stub = server;
    return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/receipts/postmark/default`, got };
  }

  it('Delivery for each accepted message, Bounce for +bounce, SpamComplaint for +complaint, with basic auth and the Metadata sent', async () => {
    const receiver = await startReceiver();
    sandbox = await startSandboxHttpEmail({
      receiptUrl: () => receiver.url,
      webhookAuth: { user: 'u', password: 'p' },
      receiptDelayMs: 1,
    });
    const results = await adapterFor(sandbox.url).send([
      email(1),
      email(2, 'ann+bounce@example.test'),
      email(3, 'bob+complaint@example.test'),
      email(4, 'cy+fail@example.test'),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, false]);
    await sandbox.drainReceipts();
    expect(receiver.got.every((g) => g.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`)).toBe(true);
    const seen = receiver.got.map((g) => [g.body.RecordType, (g.body.Metadata as Record<string, string>).herald_message]);
    expect(seen.sort()).toEqual(
      [
        ['Bounce', '7.2'],
        ['Delivery', '7.1'],
        ['Delivery', '7.3'],
        ['SpamComplaint', '7.3'],
      ].sort(),
    );
    // Each reads back into our events, naming the ledger row, as Herald's route will read it.
    const events = receiver.got.flatMap((g) => {
      const parsed = parseHttpEmailReceipt(g.body);
      return parsed.ok ? parsed.events : [];
    });
    expect(events.find((e) => e.type === 'bounced')).toMatchObject({ message: { runId: 7, messageId: 2 }, hard: true });
    expect(events.filter((e) => e.type === 'delivered')).toHaveLength(2);
    expect(events.filter((e) => e.type === 'complained')).toHaveLength(1);
    const accepted = results.filter((r) => r.ok) as Extract<SendResult, { ok: true }>[];
    expect(new Set(events.map((e) => e.providerId))).toEqual(new Set(accepted.map((r) => r.providerId)));
    expect(sandbox.receiptsPosted).toBe(4);
  });

  it('opens a readRate fraction of delivered messages', async () => {
    const receiver = await startReceiver();
    sandbox = await startSandboxHttpEmail({ receiptUrl: () => receiver.url, readRate: 0.5, receiptDelayMs: 0 });
    await adapterFor(sandbox.url).send(many(200));
    await sandbox.drainReceipts();
    const types = receiver.got.map((g) => g.body.RecordType);
    expect(types.filter((t) => t === 'Delivery')).toHaveLength(200);
    const opens = types.filter((t) => t === 'Open').length;
    expect(opens).toBeGreaterThan(60);
    expect(opens).toBeLessThan(140);
  });

  it('posts nothing without a receipt URL, and keeps at most 10,000 webhooks waiting', async () => {
    sandbox = await startSandboxHttpEmail({ receiptUrl: () => null });
    await adapterFor(sandbox.url).send(many(10));
    await sandbox.drainReceipts();
    expect(sandbox.receiptsPosted).toBe(0);
    await sandbox.close();

    const receiver = await startReceiver();
    sandbox = await startSandboxHttpEmail({ receiptUrl: () => receiver.url, receiptDelayMs: 60_000 });
    await adapterFor(sandbox.url).send(many(10_500));
    // 10,000 queued and four in the lanes, waiting out their delay.
    expect(sandbox.receiptsDropped).toBe(496);
    // close() does not wait out the delay; what was waiting is not posted.
    await sandbox.close();
    await sandbox.drainReceipts();
    expect(receiver.got).toHaveLength(0);
  });
});
