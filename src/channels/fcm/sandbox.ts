import { createPublicKey, generateKeyPair, randomBytes, verify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { parseLedgerKey } from '../receipts.js';
import { Ring } from '../sandbox-kit/ring.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';
import type { RpcErrorBody } from './adapter.js';
import { fcmScope } from './config.js';

/**
 * The sandbox FCM (DESIGN §1): a loopback server speaking the FCM HTTP v1 protocol and
 * Google's OAuth 2 token endpoint, with a service account of its own (a fresh RSA key per
 * start) that it hands out as the sender's credentials. It checks what FCM checks — the
 * JWT's signature, issuer, audience, scope and lifetime; the bearer token; the message's
 * shape — and answers FCM's google.rpc error bodies. Instead of reaching a phone it keeps
 * the latest messages and, acting as the app, posts the app receipts the notification
 * carries (app-receipts.ts) to its `heraldReceiptUrl`.
 *
 * Failures on demand, exact for tests, by the registration token's prefix:
 *
 * - `unregistered-…` → 404 UNREGISTERED          - `invalid-…`     → 400 INVALID_ARGUMENT (message.token)
 * - `mismatch-…`     → 403 SENDER_ID_MISMATCH    - `quota-…`       → 429 QUOTA_EXCEEDED with Retry-After
 * - `unavailable-…`  → 503 UNAVAILABLE           - `internal-…`    → 500 INTERNAL
 * - `apns-auth-…`    → 401 THIRD_PARTY_AUTH_ERROR - `undelivered-…` → accepted, never shown (no receipt)
 *
 * and by the SandboxFaults rates, drawn from a seeded PRNG so a run repeats exactly:
 * transientRate → 503 UNAVAILABLE, permanentRate → 404 UNREGISTERED, undeliveredRate →
 * accepted without a receipt, readRate → a `read` receipt after the `delivered` one.
 *
 * Plain node:http, like the email sandbox: a benchmark pushes many messages through it.
 */

export interface FcmSandboxOptions extends SandboxOptions {
  /** The clock for access-token and JWT lifetimes (tests pass a controllable one). Default Date.now. */
  readonly now?: () => number;
  /** expires_in of the access tokens it issues (default 3599, as Google). */
  readonly tokenLifetimeSeconds?: number;
  /** Retry-After on a 429, in seconds (default 1). */
  readonly retryAfterSeconds?: number;
  /** Seed of the fault PRNG (default 1). */
  readonly seed?: number;
  readonly projectId?: string;
}

export interface FcmSandboxServer extends SandboxServer {
  /** The service account key file's JSON text (token_uri points at this sandbox): the sender's `serviceAccount`. */
  readonly serviceAccount: string;
  readonly projectId: string;
  /** Requests to the token endpoint, whatever their answer. */
  readonly tokenRequests: number;
  /** Requests to messages:send, whatever their answer. */
  readonly sendRequests: number;
  /** Forgets every access token it issued, as if they had been revoked: the next send answers 401. */
  revokeTokens(): void;
}

/** Messages kept for messages(); older ones are forgotten (counts are kept whole). */
const keptMessages = 10_000;
/** Live access tokens kept; the oldest is forgotten first (a client then gets 401 and asks again). */
const keptTokens = 10_000;
const maxBodyBytes = 1024 * 1024;
/** Google accepts a JWT whose iat is this far in the future (clock skew). */
const skewSeconds = 300;

/** The fields of the discovery document's Message and Notification schemas. */
const messageFields = new Set(['android', 'apns', 'condition', 'data', 'fcmOptions', 'name', 'notification', 'token', 'topic', 'webpush']);
const notificationFields = new Set(['body', 'image', 'title']);
const reservedDataKey = /^(from|notification|message_type|google.*|gcm.*)$/;

/** JSON as Google's APIs answer it: with the charset in Content-Type. */
function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  replyJson(res, status, body, { 'Content-Type': 'application/json; charset=UTF-8', ...headers });
}

/** A google.rpc error body; `fcmCode` adds the FcmError detail, `field` a BadRequest field violation. */
function rpcError(code: number, status: string, message: string, fcmCode?: string, field?: string): RpcErrorBody {
  const details: NonNullable<RpcErrorBody['error']>['details'] = [
    ...(fcmCode ? [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: fcmCode }] : []),
    ...(field ? [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: [{ field, description: message }] }] : []),
  ];
  return { error: { code, message, status, ...(details.length > 0 ? { details } : {}) } };
}

const invalidArgument = (message: string, field?: string) => rpcError(400, 'INVALID_ARGUMENT', message, 'INVALID_ARGUMENT', field);

type Answer = { readonly status: number; readonly body: unknown; readonly headers?: Record<string, string> };

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Checks a message against the Message shape as FCM does; an error answer, or null when it is well formed. */
export function messageProblem(message: unknown): Answer | null {
  const bad = (text: string, field?: string): Answer => ({ status: 400, body: invalidArgument(text, field) });
  if (!isObject(message)) return bad('Invalid JSON payload received. message must be an object.', 'message');
  for (const key of Object.keys(message))
    if (!messageFields.has(key))
      return bad(`Invalid JSON payload received. Unknown name "${key}" at 'message': Cannot find field.`, 'message');
  const targets = ['token', 'topic', 'condition'].filter((k) => message[k] !== undefined);
  if (targets.length !== 1) return bad('Exactly one of token, topic or condition must be specified.', 'message');
  for (const k of targets) if (typeof message[k] !== 'string') return bad(`Invalid value at 'message.${k}': not a string.`, `message.${k}`);
  if (message.token === '') return bad('The registration token is not a valid FCM registration token', 'message.token');
  const n = message.notification;
  if (n !== undefined) {
    if (!isObject(n)) return bad("Invalid value at 'message.notification': not an object.", 'message.notification');
    for (const [key, value] of Object.entries(n)) {
      if (!notificationFields.has(key))
        return bad(
          `Invalid JSON payload received. Unknown name "${key}" at 'message.notification': Cannot find field.`,
          'message.notification',
        );
      if (typeof value !== 'string')
        return bad(`Invalid value at 'message.notification.${key}': not a string.`, `message.notification.${key}`);
    }
  }
  const d = message.data;
  if (d !== undefined) {
    if (!isObject(d)) return bad("Invalid value at 'message.data': not a map.", 'message.data');
    for (const [key, value] of Object.entries(d)) {
      if (typeof value !== 'string') return bad(`Invalid value at 'message.data[${key}]': not a string.`, `message.data[${key}]`);
      if (reservedDataKey.test(key)) return bad(`Invalid data payload key: ${key}`, 'message.data');
    }
  }
  for (const platform of ['android', 'apns', 'webpush'] as const)
    if (message[platform] !== undefined && !isObject(message[platform]))
      return bad(`Invalid value at 'message.${platform}': not an object.`, `message.${platform}`);
  const headers = isObject(message.apns) ? message.apns.headers : undefined;
  if (headers !== undefined && (!isObject(headers) || Object.values(headers).some((v) => typeof v !== 'string')))
    return bad("Invalid value at 'message.apns.headers': values must be strings.", 'message.apns.headers');
  return null;
}

/** The error FCM gives a registration token this sandbox was asked to fail (see the prefixes above), or null. */
function triggered(token: string, retryAfterSeconds: number): Answer | null {
  const retry = { 'Retry-After': String(retryAfterSeconds) };
  if (token.startsWith('unregistered-'))
    return { status: 404, body: rpcError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED') };
  if (token.startsWith('invalid-'))
    return { status: 400, body: invalidArgument('The registration token is not a valid FCM registration token', 'message.token') };
  if (token.startsWith('mismatch-'))
    return { status: 403, body: rpcError(403, 'PERMISSION_DENIED', 'SenderId mismatch', 'SENDER_ID_MISMATCH') };
  if (token.startsWith('quota-'))
    return {
      status: 429,
      body: rpcError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded for sending messages to this device.', 'QUOTA_EXCEEDED'),
      headers: retry,
    };
  if (token.startsWith('unavailable-'))
    return { status: 503, body: rpcError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE') };
  if (token.startsWith('internal-')) return { status: 500, body: rpcError(500, 'INTERNAL', 'Internal error encountered.', 'INTERNAL') };
  if (token.startsWith('apns-auth-'))
    return {
      status: 401,
      body: rpcError(401, 'UNAUTHENTICATED', 'Auth error from APNS or Web Push Service', 'THIRD_PARTY_AUTH_ERROR'),
    };
  return null;
}

/** Starts the sandbox FCM and token endpoint on loopback (port 0 picks a free one). */
export async function startSandboxFcm(options: FcmSandboxOptions): Promise<FcmSandboxServer> {
  const host = options.host ?? '127.0.0.1';
  const now = options.now ?? Date.now;
  const projectId = options.projectId ?? 'herald-sandbox';
  const clientEmail = `herald-sandbox@${projectId}.iam.gserviceaccount.com`;
  const tokenLifetime = options.tokenLifetimeSeconds ?? 3599;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const receiptDelayMs = options.receiptDelayMs ?? 5;
  const random = seededRandom(options.seed ?? 1);
  let faults: SandboxFaults = { ...options };
  const { privateKey, publicKey } = await new Promise<{ privateKey: string; publicKey: string }>((resolve, reject) =>
    generateKeyPair(
      'rsa',
      { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } },
      (err, pub, priv) => (err ? reject(err) : resolve({ privateKey: priv, publicKey: pub })),
    ),
  );
  const verifyKey = createPublicKey(publicKey);
  let tokenUri = '';

  /** Access token → when it expires (ms, sandbox clock); insertion order is issue order. */
  const tokens = new Map<string, number>();
  const recent = new Ring<SandboxMessage>(keptMessages);
  /** Ledger keys seen, per run, to count repeats (FCM delivers them again; a duplicate is the engine's doing). */
  const seen = new Map<number, Set<number>>();
  const pendingReceipts = new Set<Promise<void>>();
  let accepted = 0;
  let duplicates = 0;
  let tokenRequests = 0;
  let sendRequests = 0;
  let sequence = 0;

  const answerToken = (body: string): Answer => {
    const grant = (description: string): Answer => ({ status: 400, body: { error: 'invalid_grant', error_description: description } });
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
      return {
        status: 400,
        body: { error: 'unsupported_grant_type', error_description: `Invalid grant_type: ${form.get('grant_type') ?? ''}` },
      };
    const parts = (form.get('assertion') ?? '').split('.');
    if (parts.length !== 3) return grant('Invalid JWT: the assertion is not a JWT.');
    let header: Record<string, unknown>;
    let claims: Record<string, unknown>;
    try {
      header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    } catch {
      return grant('Invalid JWT: the header or claims are not JSON.');
    }
    if (header.alg !== 'RS256') return grant('Invalid JWT: alg must be RS256.');
    if (!verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), verifyKey, Buffer.from(parts[2]!, 'base64url')))
      return grant('Invalid JWT Signature.');
    if (claims.iss !== clientEmail) return grant('Invalid email or User ID');
    if (claims.aud !== tokenUri) return grant(`Invalid JWT: aud must be ${tokenUri}.`);
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ') : [];
    if (!scopes.includes(fcmScope) && !scopes.includes('https://www.googleapis.com/auth/cloud-platform'))
      return { status: 400, body: { error: 'invalid_scope', error_description: 'The scope does not allow sending FCM messages.' } };
    const nowSeconds = now() / 1000;
    const { iat, exp } = claims;
    if (
      typeof iat !== 'number' ||
      typeof exp !== 'number' ||
      exp - iat > 3600 ||
      exp <= iat ||
      iat > nowSeconds + skewSeconds ||
      exp < nowSeconds
    )
      return grant(
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    const accessToken = `ya29.sandbox.${randomBytes(24).toString('base64url')}`;
    for (const [token, expires] of tokens) if (expires <= now() || tokens.size >= keptTokens) tokens.delete(token);
    tokens.set(accessToken, now() + tokenLifetime * 1000);
    return { status: 200, body: { access_token: accessToken, expires_in: tokenLifetime, token_type: 'Bearer' } };
  };

  const answerSend = (project: string, authorization: string | undefined, body: string): Answer => {
    const bearer = /^Bearer (\S+)$/.exec(authorization ?? '')?.[1];
    const expires = bearer === undefined ? undefined : tokens.get(bearer);
    if (expires === undefined || expires <= now())
      return {
        status: 401,
        body: rpcError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials. Expected OAuth 2 access token.'),
        headers: { 'WWW-Authenticate': 'Bearer realm="https://accounts.google.com/", error="invalid_token"' },
      };
    if (project !== projectId)
      return {
        status: 403,
        body: rpcError(
          403,
          'PERMISSION_DENIED',
          `Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/${project}' (or it may not exist).`,
        ),
      };
    let sent: unknown;
    try {
      sent = JSON.parse(body);
    } catch {
      return { status: 400, body: invalidArgument('Invalid JSON payload received.') };
    }
    if (!isObject(sent)) return { status: 400, body: invalidArgument('Invalid JSON payload received.') };
    for (const key of Object.keys(sent))
      if (key !== 'message' && key !== 'validateOnly')
        return { status: 400, body: invalidArgument(`Invalid JSON payload received. Unknown name "${key}": Cannot find field.`) };
    const problem = messageProblem(sent.message);
    if (problem) return problem;
    const message = sent.message as {
      token?: string;
      topic?: string;
      condition?: string;
      notification?: Record<string, string>;
      data?: Record<string, string>;
    };
    const to = message.token ?? message.topic ?? message.condition ?? '';
    if (message.token !== undefined) {
      const failure = triggered(message.token, retryAfterSeconds);
      if (failure) return failure;
    }
    // validateOnly: FCM checks the message and answers without sending it.
    if (sent.validateOnly === true) return { status: 200, body: { name: `projects/${projectId}/messages/fake_message_id` } };
    if (faults.transientRate && random() < faults.transientRate)
      return { status: 503, body: rpcError(503, 'UNAVAILABLE', 'The service is currently unavailable.', 'UNAVAILABLE') };
    if (faults.permanentRate && random() < faults.permanentRate)
      return { status: 404, body: rpcError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED') };

    const name = `projects/${projectId}/messages/0:${(++sequence).toString(16).padStart(12, '0')}%sandbox`;
    const receiptToken = message.data?.heraldReceipt;
    const ledgerKey = typeof receiptToken === 'string' ? receiptToken.slice(0, Math.max(0, receiptToken.lastIndexOf('.'))) : '';
    const row = parseLedgerKey(ledgerKey);
    let repeat = false;
    if (row) {
      let run = seen.get(row.runId);
      if (!run) seen.set(row.runId, (run = new Set()));
      repeat = run.has(row.messageId);
      run.add(row.messageId);
    }
    if (repeat) duplicates++;
    else accepted++;
    recent.push({
      channel: 'push',
      to,
      ledgerKey: row ? ledgerKey : null,
      providerId: name,
      summary: message.notification?.title ?? '',
      receivedAt: new Date(now()).toISOString(),
    });

    const undelivered = to.startsWith('undelivered-') || (faults.undeliveredRate ? random() < faults.undeliveredRate : false);
    const read = !undelivered && (faults.readRate ? random() < faults.readRate : false);
    if (!undelivered && typeof receiptToken === 'string') actAsApp(receiptToken, message.data?.heraldReceiptUrl, read);
    return { status: 200, body: { name } };
  };

  /** The app shows the notification (delivered) and, for some, the person opens it (read). */
  const actAsApp = (receiptToken: string, messageUrl: string | undefined, read: boolean): void => {
    const configured = options.receiptUrl();
    if (configured === null) return;
    const url = messageUrl ?? configured;
    const post = async (event: 'delivered' | 'read') => {
      try {
        const response = await request(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ token: receiptToken, event, at: new Date(now()).toISOString() }),
        });
        await response.body.dump();
      } catch {
        // Herald is down or gone: a phone's post is lost the same way.
      }
    };
    const done: Promise<void> = new Promise<void>((resolve) => setTimeout(resolve, receiptDelayMs))
      .then(() => post('delivered'))
      .then(() => (read ? post('read') : undefined))
      .finally(() => pendingReceipts.delete(done));
    pendingReceipts.add(done);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '').split('?')[0]!;
    const sendMatch = /^\/v1\/projects\/([^/]+)\/messages:send$/.exec(path);
    const isToken = path === '/token';
    if (req.method !== 'POST' || (!sendMatch && !isToken)) {
      req.resume();
      return reply(
        res,
        404,
        rpcError(404, 'NOT_FOUND', `Sandbox: only POST /token and POST /v1/projects/{project}/messages:send are served.`),
      );
    }
    if (isToken) tokenRequests++;
    else sendRequests++;
    collectBody(req, maxBodyBytes, (body, bytes) => {
      const answer: Answer =
        bytes > maxBodyBytes
          ? { status: 413, body: invalidArgument('Request payload size exceeds the limit.') }
          : isToken
            ? answerToken(body.toString('utf8'))
            : answerSend(decodeURIComponent(sendMatch![1]!), req.headers.authorization, body.toString('utf8'));
      const latency = faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(() => reply(res, answer.status, answer.body, answer.headers), latency);
      else reply(res, answer.status, answer.body, answer.headers);
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  const url = listening.url;
  tokenUri = `${url}/token`;
  const serviceAccount = JSON.stringify({
    type: 'service_account',
    project_id: projectId,
    private_key_id: randomBytes(20).toString('hex'),
    private_key: privateKey,
    client_email: clientEmail,
    client_id: '100000000000000000000',
    auth_uri: 'https://accounts.google.com/o/oauth2/auth',
    token_uri: tokenUri,
  });

  return {
    url,
    serviceAccount,
    projectId,
    get accepted() {
      return accepted;
    },
    get duplicates() {
      return duplicates;
    },
    get tokenRequests() {
      return tokenRequests;
    },
    get sendRequests() {
      return sendRequests;
    },
    messages: () => recent.toArray(),
    setFaults(next) {
      faults = { ...next };
    },
    revokeTokens: () => tokens.clear(),
    async drainReceipts() {
      while (pendingReceipts.size > 0) await Promise.all([...pendingReceipts]);
    },
    close: () => listening.close(),
  };
}
