import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { appReceiptToken } from '../../src/channels/app-receipts.js';
import { type OutgoingPush, type SendResult } from '../../src/channels/channel.js';
import { FcmAdapter, toWireMessage, verdictOfError } from '../../src/channels/fcm/adapter.js';
import { type FcmConfig, fcmConfigFromEnv, fcmScope, parseServiceAccount, sandboxFcmConfig } from '../../src/channels/fcm/config.js';
import { fcmProvider } from '../../src/channels/fcm/index.js';
import { AccessTokens, signedAssertion } from '../../src/channels/fcm/oauth.js';
import { fcmReceiptSecret } from '../../src/channels/fcm/receipts.js';
import { type FcmSandboxOptions, type FcmSandboxServer, messageProblem, startSandboxFcm } from '../../src/channels/fcm/sandbox.js';
import type { ReceiptRequest, SenderIdentity } from '../../src/channels/provider.js';
import { fatalOf } from './provider-fatal.js';
import { startReceiptSink } from './receipt-sink.js';
import { specPath } from '../specs/spec-path.js';

function push(id: number, to = `device-${id}`, over: Partial<OutgoingPush> = {}): OutgoingPush {
  return {
    channel: 'push',
    messageId: id,
    runId: 7,
    ledgerKey: `7.${id}`,
    to,
    title: `Sale ${id}`,
    body: 'Everything half price until Sunday',
    imageUrl: 'https://cdn.example.test/sale.png',
    data: { campaign: 'cmp_1', deepLink: 'shop://sale' },
    ...over,
  };
}
const many = (n: number, from = 1) => Array.from({ length: n }, (_, i) => push(from + i));

const sender = (credentials: Record<string, string>): SenderIdentity => ({ id: 'snd_1', name: null, address: null, credentials });

/** A key the sandbox has never seen, for a service account that signs with the wrong key. */
const strangerKey = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
}).privateKey;

/**
 * A stand-in FCM for answers the sandbox does not give: its token endpoint always grants, and
 * each messages:send is answered by `answer` (n counts sends), its path and body recorded.
 */
async function startStub(answer: (n: number, res: ServerResponse) => void) {
  const sends: { path: string; body: any; authorization: string | undefined }[] = [];
  let tokens = 0;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/token') {
        tokens++;
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ access_token: `stub-token-${tokens}`, expires_in: 3599, token_type: 'Bearer' }));
      }
      sends.push({
        path: req.url ?? '',
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
        authorization: req.headers.authorization,
      });
      answer(sends.length, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const serviceAccount = JSON.stringify({
    type: 'service_account',
    project_id: 'stub-project',
    private_key: strangerKey,
    client_email: 'stub@stub-project.iam.gserviceaccount.com',
    token_uri: `${url}/token`,
  });
  return { url, server, sends, serviceAccount, tokenRequests: () => tokens };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(typeof body === 'string' ? body : JSON.stringify(body));
}

const servers: Server[] = [];
const sandboxes: FcmSandboxServer[] = [];
const adapters: FcmAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  for (const s of sandboxes.splice(0)) await s.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

async function sandboxFor(options: Partial<FcmSandboxOptions> = {}) {
  const sandbox = await startSandboxFcm({ receiptUrl: () => null, ...options });
  sandboxes.push(sandbox);
  return sandbox;
}

function adapterFor(
  config: FcmConfig,
  credentials: Record<string, string>,
  options: { receiptUrl?: string | null; now?: () => number } = {},
): FcmAdapter {
  const a = new FcmAdapter(
    config,
    sender(credentials),
    { receiptUrl: options.receiptUrl ?? null },
    options.now ? { now: options.now } : {},
  );
  adapters.push(a);
  return a;
}

const outcome = (r: SendResult) => (r.ok ? 'ok' : `${r.kind}:${r.code}${r.recipient ? `:${r.recipient}` : ''}`);

describe('access tokens', () => {
  it('fetches one token for 200 concurrent sends and reuses it for the next batch', async () => {
    const sandbox = await sandboxFor();
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    const first = await adapter.send(many(200));
    expect(first.every((r) => r.ok)).toBe(true);
    await adapter.send(many(50, 201));
    expect(sandbox.tokenRequests).toBe(1);
    expect(adapter.tokenRequests).toBe(1);
    expect(sandbox.sendRequests).toBe(250);
    expect(sandbox.accepted).toBe(250);
  });

  it('refreshes the token five minutes before it expires, by the clock it is given', async () => {
    let t = Date.UTC(2026, 0, 5, 9, 0, 0);
    const clock = () => t;
    const sandbox = await sandboxFor({ now: clock });
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount }, { now: clock });
    await adapter.send([push(1)]);
    t += 54 * 60_000; // the token lives 3599 s; 54 min is before the 5-minute margin
    await adapter.send([push(2)]);
    expect(sandbox.tokenRequests).toBe(1);
    t += 2 * 60_000; // 56 min: inside the margin
    await adapter.send([push(3)]);
    expect(sandbox.tokenRequests).toBe(2);
    t += 3 * 3600_000; // long after: the sandbox would refuse the old token, the adapter never sends it
    expect((await adapter.send([push(4)]))[0]!.ok).toBe(true);
    expect(sandbox.tokenRequests).toBe(3);
    expect(sandbox.sendRequests).toBe(4);
  });

  it('fetches a new token once when FCM refuses the cached one (401), and the message goes', async () => {
    const sandbox = await sandboxFor();
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    await adapter.send([push(1)]);
    sandbox.revokeTokens();
    expect(await adapter.send(many(5, 2))).toEqual(many(5, 2).map((m) => expect.objectContaining({ messageId: m.messageId, ok: true })));
    expect(sandbox.tokenRequests).toBe(2);
    expect(sandbox.accepted).toBe(6);
  });

  it('throws FCM_AUTH when FCM refuses a fresh token too', async () => {
    const stub = await startStub((_n, res) =>
      json(res, 401, { error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' } }),
    );
    servers.push(stub.server);
    const err = await fatalOf(adapterFor(sandboxFcmConfig(stub.url), { serviceAccount: stub.serviceAccount }).send([push(1)]));
    expect(err.code).toBe('FCM_AUTH');
    expect(err.results).toEqual([]);
    expect(stub.tokenRequests()).toBe(2);
    expect(stub.sends.map((s) => s.authorization)).toEqual(['Bearer stub-token-1', 'Bearer stub-token-2']);
  });

  it('throws FCM_AUTH when the service account signs with a key Google does not know, and sends nothing', async () => {
    const sandbox = await sandboxFor();
    const wrongKey = JSON.stringify({ ...JSON.parse(sandbox.serviceAccount), private_key: strangerKey });
    const err = await fatalOf(adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: wrongKey }).send(many(3)));
    expect(err.code).toBe('FCM_AUTH');
    expect(err.message).toContain('Invalid JWT Signature');
    expect(err.results).toEqual([]);
    expect(sandbox.tokenRequests).toBe(1);
    expect(sandbox.sendRequests).toBe(0);
  });

  it('throws FCM_AUTH without calling anyone when the private key is not a key, or there is no service account', async () => {
    const sandbox = await sandboxFor();
    const broken = JSON.stringify({
      ...JSON.parse(sandbox.serviceAccount),
      private_key: '-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n',
    });
    const err = await fatalOf(adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: broken }).send([push(1)]));
    expect(err.code).toBe('FCM_AUTH');
    expect(err.message).not.toContain('bm90IGEga2V5');
    const none = await fatalOf(adapterFor(sandboxFcmConfig(sandbox.url), {}).send([push(1)]));
    expect(none.code).toBe('FCM_AUTH');
    expect(none.message).toMatch(/serviceAccount/);
    expect(sandbox.tokenRequests).toBe(0);
  });

  it('shares one token request among concurrent callers', async () => {
    const sandbox = await sandboxFor();
    const tokens = new AccessTokens(parseServiceAccount(sandbox.serviceAccount));
    const [a, b] = await Promise.all([tokens.get(), tokens.get()]);
    expect(a).toEqual({ ok: true, token: expect.stringMatching(/^ya29\.sandbox\./) });
    expect(b).toEqual(a);
    expect(tokens.requests).toBe(1);
  });

  it('the sandbox token endpoint takes only a JWT signed by its key, with iss, the messaging scope, aud = token_uri and at most an hour', async () => {
    let t = Date.UTC(2026, 0, 5, 9, 0, 0);
    const sandbox = await sandboxFor({ now: () => t });
    const key = JSON.parse(sandbox.serviceAccount);
    const account = parseServiceAccount(sandbox.serviceAccount);
    const iat = t / 1000;
    const good = { iss: account.clientEmail, scope: fcmScope, aud: account.tokenUri, iat, exp: iat + 3600 };
    const jwt = (claims: object, privateKey: string = key.private_key, alg = 'RS256') => {
      const input = `${Buffer.from(JSON.stringify({ alg, typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
      return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    };
    const exchange = async (assertion: string, grant = 'urn:ietf:params:oauth:grant-type:jwt-bearer') => {
      const res = await fetch(account.tokenUri, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: grant, assertion }),
      });
      const body = (await res.json()) as { error?: string; token_type?: string; expires_in?: number };
      return `${res.status} ${body.error ?? `${body.token_type} ${body.expires_in}`}`;
    };
    expect(await exchange(jwt(good))).toBe('200 Bearer 3599');
    expect(await exchange(signedAssertion(account, t))).toBe('200 Bearer 3599');
    expect(await exchange(jwt(good), 'client_credentials')).toBe('400 unsupported_grant_type');
    expect(await exchange(jwt(good, strangerKey))).toBe('400 invalid_grant');
    expect(await exchange(jwt(good, undefined, 'none'))).toBe('400 invalid_grant');
    expect(await exchange(jwt({ ...good, iss: 'someone@else.iam.gserviceaccount.com' }))).toBe('400 invalid_grant');
    expect(await exchange(jwt({ ...good, aud: 'https://oauth2.googleapis.com/token' }))).toBe('400 invalid_grant');
    expect(await exchange(jwt({ ...good, scope: 'https://www.googleapis.com/auth/userinfo.email' }))).toBe('400 invalid_scope');
    expect(await exchange(jwt({ ...good, exp: iat + 7200 }))).toBe('400 invalid_grant');
    t += 2 * 3600_000; // the assertion expired an hour ago
    expect(await exchange(jwt(good))).toBe('400 invalid_grant');
  });
});

describe('sending through the sandbox FCM', () => {
  it('maps each token the sandbox fails to our outcome, in input order', async () => {
    const sandbox = await sandboxFor();
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    const results = await adapter.send([
      push(1),
      push(2, 'unregistered-abc'),
      push(3, 'invalid-abc'),
      push(4, 'mismatch-abc'),
      push(5, 'unavailable-abc'),
      push(6, 'internal-abc'),
      push(7, 'device-7', { data: { from: 'shop' } }),
      push(8),
    ]);
    expect(results.map(outcome)).toEqual([
      'ok',
      'permanent:FCM_UNREGISTERED:invalid',
      'permanent:FCM_INVALID_TOKEN:invalid',
      'permanent:FCM_SENDER_ID_MISMATCH:invalid',
      'transient:FCM_UNAVAILABLE',
      'transient:FCM_INTERNAL',
      'permanent:FCM_INVALID_MESSAGE',
      'ok',
    ]);
    expect(results[0]).toEqual({ messageId: 1, ok: true, providerId: expect.stringMatching(/^projects\/herald-sandbox\/messages\/0:/) });
    expect(results[1]).toMatchObject({ detail: expect.stringContaining('UNREGISTERED') });
    expect(results.every((r) => r.ok || r.retryAfterMs === undefined)).toBe(true);
    expect(sandbox.accepted).toBe(2);
    expect(sandbox.messages().map((m) => [m.to, m.ledgerKey, m.summary])).toEqual([
      ['device-1', '7.1', 'Sale 1'],
      ['device-8', '7.8', 'Sale 8'],
    ]);
  });

  it('answers a 429 QUOTA_EXCEEDED as transient with retryAfterMs, and waits out Retry-After before the next request', async () => {
    const sandbox = await sandboxFor({ retryAfterSeconds: 1 });
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    const [quota] = await adapter.send([push(1, 'quota-abc')]);
    expect(quota).toEqual({
      messageId: 1,
      ok: false,
      kind: 'transient',
      code: 'FCM_QUOTA_EXCEEDED',
      detail: expect.stringContaining('QUOTA_EXCEEDED'),
      retryAfterMs: 1000,
    });
    const started = Date.now();
    expect((await adapter.send([push(2)]))[0]!.ok).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('does not call inside a Retry-After longer than it may wait: transient at once, with the time left', async () => {
    const sandbox = await sandboxFor({ retryAfterSeconds: 120 });
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    await adapter.send([push(1, 'quota-abc')]);
    const [next] = await adapter.send([push(2)]);
    expect(next).toMatchObject({ ok: false, kind: 'transient', code: 'FCM_QUOTA_EXCEEDED' });
    expect((next as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect(sandbox.sendRequests).toBe(1);
  });

  it('throws FCM_THIRD_PARTY_AUTH on an APNs credential error, keeping what went before and starting nothing after', async () => {
    const sandbox = await sandboxFor();
    const adapter = adapterFor({ ...sandboxFcmConfig(sandbox.url), concurrency: 1 }, { serviceAccount: sandbox.serviceAccount });
    const err = await fatalOf(adapter.send([push(1), push(2, 'apns-auth-abc'), push(3)]));
    expect(err.code).toBe('FCM_THIRD_PARTY_AUTH');
    expect(err.results).toEqual([{ messageId: 1, ok: true, providerId: expect.any(String) }]);
    expect(sandbox.sendRequests).toBe(2);
    expect(sandbox.accepted).toBe(1);
  });

  it('keeps at most `concurrency` requests in flight across send() calls', async () => {
    const sandbox = await sandboxFor({ latencyMs: 20 });
    const adapter = adapterFor({ ...sandboxFcmConfig(sandbox.url), concurrency: 4 }, { serviceAccount: sandbox.serviceAccount });
    await adapter.send([push(0)]); // the token first, so timing below is sends only
    const started = Date.now();
    const results = (await Promise.all([adapter.send(many(8, 1)), adapter.send(many(8, 9))])).flat();
    // 16 requests, 4 at a time, 20 ms each: at least 4 rounds.
    expect(Date.now() - started).toBeGreaterThanOrEqual(75);
    expect(results.every((r) => r.ok)).toBe(true);
  });

  it('counts a re-send of the same ledger key as a duplicate, not a second acceptance', async () => {
    const sandbox = await sandboxFor();
    const adapter = adapterFor(sandboxFcmConfig(sandbox.url), { serviceAccount: sandbox.serviceAccount });
    await adapter.send(many(3));
    await adapter.send([push(2)]);
    expect([sandbox.accepted, sandbox.duplicates]).toEqual([3, 1]);
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 50, idempotent: false, costUnit: 'message' });
  });

  it('draws rate faults from its seed, so the same seed fails the same messages', async () => {
    const run = async () => {
      const sandbox = await sandboxFor({ seed: 42, permanentRate: 0.2, transientRate: 0.1 });
      const adapter = adapterFor({ ...sandboxFcmConfig(sandbox.url), concurrency: 1 }, { serviceAccount: sandbox.serviceAccount });
      return (await adapter.send(many(100))).map(outcome);
    };
    const first = await run();
    expect(await run()).toEqual(first);
    const count = (o: string) => first.filter((x) => x === o).length;
    expect(count('permanent:FCM_UNREGISTERED:invalid')).toBeGreaterThan(5);
    expect(count('transient:FCM_UNAVAILABLE')).toBeGreaterThan(2);
    expect(count('ok')).toBeGreaterThan(50);
  });

  it('refuses malformed messages as FCM does: two targets, non-string values, unknown or reserved fields', () => {
    const problem = (m: unknown) => {
      const p = messageProblem(m);
      return p && (p.body as any).error.details[1].fieldViolations[0].field;
    };
    expect(messageProblem({ token: 't', notification: { title: 'a', body: 'b', image: 'c' }, data: { k: 'v' } })).toBeNull();
    expect(problem({ token: 't', topic: 'news' })).toBe('message');
    expect(problem({})).toBe('message');
    expect(problem({ token: 't', notification: { title: 3 } })).toBe('message.notification.title');
    expect(problem({ token: 't', notification: { subtitle: 'x' } })).toBe('message.notification');
    expect(problem({ token: 't', data: { n: 1 } })).toBe('message.data[n]');
    expect(problem({ token: 't', data: { google_x: 'v' } })).toBe('message.data');
    expect(problem({ token: 't', priority: 'high' })).toBe('message');
    expect(problem({ token: 't', apns: { headers: { 'apns-priority': 10 } } })).toBe('message.apns.headers');
  });
});

describe('FCM error bodies', () => {
  const rpc = (status: string, code: number, fcm?: string, message = 'x') =>
    JSON.stringify({
      error: {
        code,
        message,
        status,
        details: fcm ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: fcm }] : [],
      },
    });

  it('reads the FcmError code first, then the rpc status, then the HTTP status', () => {
    expect(verdictOfError(404, rpc('NOT_FOUND', 404, 'UNREGISTERED'))).toMatchObject({ kind: 'permanent', recipient: 'invalid' });
    expect(verdictOfError(400, rpc('INVALID_ARGUMENT', 400, 'INVALID_ARGUMENT', 'Message.data must not be empty'))).toEqual(
      expect.objectContaining({ kind: 'permanent', code: 'FCM_INVALID_MESSAGE' }),
    );
    expect(
      verdictOfError(400, rpc('INVALID_ARGUMENT', 400, undefined, 'The registration token is not a valid FCM registration token')),
    ).toMatchObject({
      code: 'FCM_INVALID_TOKEN',
      recipient: 'invalid',
    });
    expect(verdictOfError(403, rpc('PERMISSION_DENIED', 403))).toMatchObject({ verdict: 'fatal', code: 'FCM_PERMISSION' });
    expect(verdictOfError(401, rpc('UNAUTHENTICATED', 401))).toMatchObject({ verdict: 'reauthenticate' });
    expect(verdictOfError(401, rpc('UNAUTHENTICATED', 401, 'THIRD_PARTY_AUTH_ERROR'))).toMatchObject({
      verdict: 'fatal',
      code: 'FCM_THIRD_PARTY_AUTH',
    });
    expect(verdictOfError(429, '<html>slow down</html>')).toMatchObject({
      kind: 'transient',
      code: 'FCM_QUOTA_EXCEEDED',
      defaultRetryAfterMs: 60_000,
    });
    expect(verdictOfError(502, '<html>bad gateway</html>')).toMatchObject({ kind: 'transient', code: 'FCM_UNAVAILABLE' });
    expect(verdictOfError(404, '<html>no such page</html>')).toMatchObject({ verdict: 'fatal', code: 'FCM_ENDPOINT' });
    expect(verdictOfError(413, rpc('FAILED_PRECONDITION', 413))).toMatchObject({ kind: 'permanent', code: 'FCM_REJECTED' });
  });

  it('waits a minute after a 429 that gives no Retry-After', async () => {
    const stub = await startStub((_n, res) => json(res, 429, rpc('RESOURCE_EXHAUSTED', 429, 'QUOTA_EXCEEDED')));
    servers.push(stub.server);
    const [result] = await adapterFor(sandboxFcmConfig(stub.url), { serviceAccount: stub.serviceAccount }).send([push(1)]);
    expect(result).toMatchObject({ ok: false, kind: 'transient', code: 'FCM_QUOTA_EXCEEDED', retryAfterMs: 60_000 });
  });
});

describe('app receipts', () => {
  it('the sandbox, acting as the app, posts delivered and read receipts that verify and parse to the ledger rows', async () => {
    const receiver = await startReceiptSink('/v1/receipts/fcm/snd_1');
    servers.push(receiver.server);
    const started = await fcmProvider.startSandbox({ receiptUrl: () => receiver.url, readRate: 1, receiptDelayMs: 1 });
    const sandbox = started.server;
    sandboxes.push(started.server as FcmSandboxServer);
    const who = sender(started.credentials);
    const adapter = fcmProvider.createAdapter(started.config, who, { receiptUrl: receiver.url });
    adapters.push(adapter as FcmAdapter);
    expect((await adapter.send([push(1), push(2), push(3, 'undelivered-abc')])).every((r) => r.ok)).toBe(true);
    await sandbox.drainReceipts();

    const handler = fcmProvider.receipts!;
    expect(receiver.received).toHaveLength(4);
    const events = receiver.received.map((request) => {
      expect(request.method).toBe('POST');
      expect(handler.verify(request, started.config, who)).toBe(true);
      const parsed = handler.parse(request);
      if (!parsed.ok) throw new Error(parsed.detail);
      return parsed.events.map((e) => `${e.message!.runId}.${e.message!.messageId}:${e.type}`);
    });
    expect(events.flat().sort()).toEqual(['7.1:delivered', '7.1:read', '7.2:delivered', '7.2:read']);

    // Another sender's receipts, or a forged token, do not verify.
    const other = await sandboxFor();
    expect(handler.verify(receiver.received[0]!, started.config, sender({ serviceAccount: other.serviceAccount }))).toBe(false);
    const forged = {
      ...receiver.received[0]!,
      rawBody: Buffer.from(JSON.stringify({ token: '7.9.AAAAAAAAAAAAAAAAAAAAAA', event: 'read' })),
    };
    expect(handler.verify(forged, started.config, who)).toBe(false);
  });

  it('signs with credentials.receiptSecret when the sender has one, instead of the key-derived secret', async () => {
    const sandbox = await sandboxFor();
    const config = sandboxFcmConfig(sandbox.url);
    const withSecret = sender({ serviceAccount: sandbox.serviceAccount, receiptSecret: 'app-shared-secret' });
    const account = parseServiceAccount(sandbox.serviceAccount);
    expect(fcmReceiptSecret(account, withSecret)).toBe('app-shared-secret');
    const derived = fcmReceiptSecret(account, sender({ serviceAccount: sandbox.serviceAccount }));
    expect(derived).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(derived).not.toContain(account.privateKey.slice(40, 60));

    const wire = toWireMessage(push(5), 'app-shared-secret', 'https://herald.example.test/v1/receipts/fcm/snd_1');
    expect(wire.data.heraldReceipt).toBe(appReceiptToken('app-shared-secret', '7.5'));
    const request: ReceiptRequest = {
      url: 'https://herald.example.test/v1/receipts/fcm/snd_1',
      method: 'POST',
      headers: {},
      rawBody: Buffer.from(JSON.stringify({ token: wire.data.heraldReceipt, event: 'clicked' })),
    };
    expect(fcmProvider.receipts!.verify(request, config, withSecret)).toBe(true);
    expect(fcmProvider.receipts!.verify(request, config, sender({ serviceAccount: sandbox.serviceAccount }))).toBe(false);
  });
});

describe('configuration', () => {
  it('is unset without FCM variables, and reads the service account inline or from a file', async () => {
    expect(fcmConfigFromEnv({})).toBeNull();
    expect(fcmProvider.defaultConfig!({})).toEqual({
      baseUrl: 'https://fcm.googleapis.com',
      serviceAccount: null,
      concurrency: 50,
      timeoutMs: 30_000,
      maxRetryWaitMs: 10_000,
    });
    const sandbox = await sandboxFor();
    const inline = fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT: sandbox.serviceAccount, FCM_CONCURRENCY: '8' });
    expect(inline).toMatchObject({
      baseUrl: 'https://fcm.googleapis.com',
      concurrency: 8,
      serviceAccount: { projectId: 'herald-sandbox' },
    });
    const file = join(mkdtempSync(join(tmpdir(), 'herald-fcm-')), 'key.json');
    writeFileSync(file, sandbox.serviceAccount);
    const fromFile = fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT_FILE: file, FCM_API_URL: `${sandbox.url}/` });
    expect(fromFile).toMatchObject({ baseUrl: sandbox.url, serviceAccount: { clientEmail: expect.stringContaining('@herald-sandbox.') } });

    // An environment service account serves a sender that carries none.
    const adapter = adapterFor(fromFile!, {});
    expect((await adapter.send([push(1)]))[0]!.ok).toBe(true);
  });

  it('refuses plain http beyond loopback, both service-account variables, and a key file without its fields', () => {
    expect(() => fcmConfigFromEnv({ FCM_API_URL: 'http://fcm.example.test' })).toThrow(/https/);
    expect(() => fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT: '{}', FCM_SERVICE_ACCOUNT_FILE: '/x' })).toThrow(/not both/);
    expect(() => fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT: '{"project_id":"p"}' })).toThrow(
      /FCM_SERVICE_ACCOUNT has no client_email|private_key/,
    );
    expect(() => fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT: 'not json' })).toThrow(/JSON/);
    expect(() => fcmConfigFromEnv({ FCM_SERVICE_ACCOUNT_FILE: '/nonexistent/key.json' })).toThrow(/ENOENT/);
    const account = {
      project_id: 'p',
      client_email: 'a@p.iam.gserviceaccount.com',
      private_key: strangerKey,
      token_uri: 'http://evil.example.test/token',
    };
    expect(() => parseServiceAccount(JSON.stringify(account))).toThrow(/token_uri must use https/);
    expect(parseServiceAccount(JSON.stringify({ ...account, token_uri: undefined })).tokenUri).toBe('https://oauth2.googleapis.com/token');
  });
});

describe('contract with the FCM v1 discovery document', () => {
  const discovery = JSON.parse(readFileSync(specPath('fcm_v1.discovery.json'), 'utf8'));
  const method = discovery.resources.projects.resources.messages.methods.send;

  it('posts to the path of fcm.projects.messages.send, with a body whose every field the schemas define', async () => {
    expect(method.id).toBe('fcm.projects.messages.send');
    expect(method.httpMethod).toBe('POST');
    expect(method.scopes).toContain(fcmScope);
    const stub = await startStub((_n, res) => json(res, 200, { name: 'projects/stub-project/messages/0:1' }));
    servers.push(stub.server);
    const adapter = adapterFor(sandboxFcmConfig(stub.url), { serviceAccount: stub.serviceAccount }, { receiptUrl: 'https://h.test/r' });
    expect(await adapter.send([push(1)])).toEqual([{ messageId: 1, ok: true, providerId: 'projects/stub-project/messages/0:1' }]);

    const parent = 'projects/stub-project';
    expect(parent).toMatch(new RegExp(method.parameters.parent.pattern));
    expect(stub.sends[0]!.path).toBe(`/${method.path.replace('{+parent}', parent)}`);
    expect(`${discovery.rootUrl}${method.path}`).toBe('https://fcm.googleapis.com/v1/{+parent}/messages:send');

    const body = stub.sends[0]!.body;
    const schemas = discovery.schemas;
    expect(schemas[method.request.$ref].properties).toHaveProperty('message');
    for (const key of Object.keys(body)) expect(schemas.SendMessageRequest.properties).toHaveProperty(key);
    for (const key of Object.keys(body.message)) expect(schemas.Message.properties).toHaveProperty(key);
    for (const key of Object.keys(body.message.notification)) expect(schemas.Notification.properties[key]?.type).toBe('string');
    for (const key of Object.keys(body.message.android)) expect(schemas.AndroidConfig.properties).toHaveProperty(key);
    for (const key of Object.keys(body.message.android.notification))
      expect(schemas.AndroidNotification.properties[key]?.type).toBe('string');
    for (const key of Object.keys(body.message.apns)) expect(schemas.ApnsConfig.properties).toHaveProperty(key);
    expect(schemas.ApnsConfig.properties.headers).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
    expect(schemas.Message.properties.token.type).toBe('string');
    expect(schemas.Message.properties.data).toMatchObject({ type: 'object', additionalProperties: { type: 'string' } });
    expect(Object.values(body.message.data).every((v) => typeof v === 'string')).toBe(true);
    expect(body.message).toEqual({
      token: 'device-1',
      notification: { title: 'Sale 1', body: 'Everything half price until Sunday', image: 'https://cdn.example.test/sale.png' },
      data: {
        campaign: 'cmp_1',
        deepLink: 'shop://sale',
        heraldReceipt: expect.stringMatching(/^7\.1\./),
        heraldReceiptUrl: 'https://h.test/r',
      },
      android: { notification: { tag: '7.1' } },
      apns: { headers: { 'apns-collapse-id': '7.1' } },
    });
    // The response is a Message whose `name` we keep as the provider id.
    expect(schemas[method.response.$ref].properties.name.type).toBe('string');
  });
});
