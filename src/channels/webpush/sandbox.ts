import { type ECDH, createDecipheriv, createECDH, createPublicKey, hkdfSync, randomBytes, verify } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { Ring } from '../sandbox-kit/ring.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';
import { type PushSubscriptionJSON, type WebPushPayload, maxPushBodyBytes } from './adapter.js';
import { fromBase64url } from './config.js';

/**
 * The sandbox push service (DESIGN §1): a loopback server speaking RFC 8030 (POST to the
 * subscription's endpoint, TTL, Topic, 201 with a Location), RFC 8292 (it checks the VAPID
 * JWT's ES256 signature, audience and expiry, and that the key is the one the subscription was
 * made with) and RFC 8291 (it decrypts every aes128gcm body with the subscription's private
 * key, so a passing test proves the adapter's encryption). Then it plays the browser's service
 * worker: it posts the notification's app receipt (delivered, and read for `readRate` of them)
 * to the receipt URL the payload names.
 *
 * Where it is stricter than a real push service: a body that does not decrypt is answered 400
 * (a real service cannot read it and would deliver it for the browser to drop), so broken
 * encryption fails loudly instead of silently.
 *
 * Faults, exactly reproducible: per subscription (`createSubscription({ trigger })`), or as
 * rates drawn from a seeded PRNG, one draw per request, so N requests always fail the same
 * number of times for a given seed:
 * - transient → 429 with Retry-After, or 503 (half each);
 * - permanent → 410, and the subscription is dropped (as the browser unsubscribed);
 * - undelivered → 201, then no receipt (the device stayed offline past the TTL).
 */

/** What a subscription does with every message it is sent, whatever the rates say. */
export type SubscriptionTrigger = 'gone' | 'throttled' | 'unavailable' | 'undelivered';

export interface WebPushSandboxOptions extends SandboxOptions {
  /** The applicationServerKey subscriptions are made with unless told another (VAPID public key, base64url). */
  readonly applicationServerKey: string;
  /** Seeds the PRNG that draws the rate faults (default 1). */
  readonly seed?: number;
  /** Retry-After, in seconds, on every 429 (default 1). */
  readonly retryAfterSeconds?: number;
  /** Subscriptions kept; minting more drops the oldest, which then answer 410 (default 100,000). */
  readonly maxSubscriptions?: number;
}

export interface CreateSubscriptionOptions {
  readonly trigger?: SubscriptionTrigger;
  /** The VAPID public key the "page" subscribed with; pushes signed by another key get 403. */
  readonly applicationServerKey?: string;
  /** The subscription expires this long from now (`expirationTime`); 410 after. */
  readonly expiresInMs?: number;
}

/** A message the sandbox accepted, with the notification the service worker decrypted. */
export interface WebPushSandboxMessage extends SandboxMessage {
  readonly channel: 'webpush';
  /** The subscription's endpoint: the readable part of the address (the keys add nothing for a person). */
  readonly to: string;
  /** The decrypted payload JSON (null for a push without a body or one that is not JSON). */
  readonly payload: WebPushPayload | null;
  readonly ttl: number;
  readonly urgency: string | null;
  readonly topic: string | null;
}

export interface WebPushSandboxServer extends SandboxServer {
  /** Mints a subscription as a browser's pushManager.subscribe() does: a P-256 key pair and a 16-byte auth secret. */
  createSubscription(options?: CreateSubscriptionOptions): PushSubscriptionJSON;
  /** Withdraws a subscription (the person revoked the permission): its endpoint answers 410 from now on. */
  unsubscribe(endpoint: string): void;
  messages(): readonly WebPushSandboxMessage[];
  /** Push requests received, whatever their answer. */
  readonly requests: number;
  /** Receipts the "service worker" posted that Herald answered with a 2xx. */
  readonly receiptsPosted: number;
}

interface Subscription {
  readonly ecdh: ECDH;
  readonly publicKey: Buffer;
  readonly auth: Buffer;
  readonly applicationServerKey: string;
  readonly trigger: SubscriptionTrigger | null;
  readonly expiresAt: number | null;
}

/** Messages (and Topic keys for duplicates) kept: the latest 10,000; older ones are only counted. */
const keep = 10_000;

type Check =
  | { readonly ok: true; readonly key: string; readonly exp: number }
  | { readonly ok: false; readonly status: 401 | 403; readonly detail: string };

const decodeJson = (part: string): Record<string, unknown> | null => {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};

/**
 * Checks `Authorization: vapid t=<JWT>, k=<key>` (RFC 8292 §3): an ES256 JWT signed by k,
 * `aud` the push service's origin, `exp` in the future and at most 24 hours away, `sub` a
 * mailto: or https: URL. 401 when the header is missing or unreadable, 403 when it is wrong.
 */
export function checkVapid(authorization: string | undefined, audience: string, nowS: number): Check {
  const m = authorization ? /^vapid\s+(.+)$/i.exec(authorization.trim()) : null;
  if (!m) return { ok: false, status: 401, detail: 'Authorization must be "vapid t=<JWT>, k=<public key>"' };
  const params = new Map(
    m[1]!.split(',').map((p) => {
      const cut = p.indexOf('=');
      return [p.slice(0, cut).trim(), p.slice(cut + 1).trim()] as const;
    }),
  );
  const token = params.get('t');
  const key = params.get('k');
  if (!token || !key) return { ok: false, status: 401, detail: 'The vapid Authorization needs both t and k' };
  const parts = token.split('.');
  const header = parts.length === 3 ? decodeJson(parts[0]!) : null;
  const claims = parts.length === 3 ? decodeJson(parts[1]!) : null;
  if (!header || !claims) return { ok: false, status: 403, detail: 't is not a JWT' };
  if (header.alg !== 'ES256') return { ok: false, status: 403, detail: 'The JWT must be signed with ES256' };
  const raw = fromBase64url(key);
  if (!raw || raw.length !== 65 || raw[0] !== 0x04) return { ok: false, status: 403, detail: 'k must be an uncompressed P-256 public key' };
  const signature = fromBase64url(parts[2]);
  let signed: boolean;
  try {
    const publicKey = createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') },
      format: 'jwk',
    });
    signed =
      signature !== null &&
      verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), { key: publicKey, dsaEncoding: 'ieee-p1363' }, signature);
  } catch {
    signed = false;
  }
  if (!signed) return { ok: false, status: 403, detail: 'The JWT signature does not verify against k' };
  if (claims.aud !== audience) return { ok: false, status: 403, detail: `The JWT aud must be ${audience}` };
  // A minute of leeway for clocks, as push services allow.
  if (typeof claims.exp !== 'number' || claims.exp <= nowS || claims.exp > nowS + 24 * 3600 + 60)
    return { ok: false, status: 403, detail: 'The JWT exp must be in the future and at most 24 hours away' };
  if (typeof claims.sub !== 'string' || !/^(mailto:|https:)/.test(claims.sub))
    return { ok: false, status: 403, detail: 'The JWT sub must be a mailto: or https: URL' };
  return { ok: true, key, exp: claims.exp };
}

const utf8 = (s: string) => Buffer.from(s, 'utf8');

/**
 * Decrypts an aes128gcm body (RFC 8188) sent to a subscription (RFC 8291 §3): the header
 * carries the salt, the record size and the sender's ephemeral public key; the key and nonce
 * come from ECDH with the subscription's private key and HKDF keyed by its auth secret.
 * Answers the plaintext, or why it cannot.
 */
export function decryptPushBody(body: Buffer, ecdh: ECDH, uaPublic: Buffer, auth: Buffer): Buffer | string {
  if (body.length < 21) return 'The body is shorter than an aes128gcm header';
  const salt = body.subarray(0, 16);
  const rs = body.readUInt32BE(16);
  const idlen = body[20]!;
  if (rs < 18) return 'The record size must be at least 18';
  if (idlen !== 65) return 'The keyid must be the sender’s 65-byte public key (RFC 8291 §4)';
  const asPublic = body.subarray(21, 86);
  let ecdhSecret: Buffer;
  try {
    ecdhSecret = ecdh.computeSecret(asPublic);
  } catch {
    return 'The keyid is not a P-256 public key';
  }
  const keyInfo = Buffer.concat([utf8('WebPush: info\0'), uaPublic, asPublic]);
  const ikm = Buffer.from(hkdfSync('sha256', ecdhSecret, auth, keyInfo, 32));
  const cek = Buffer.from(hkdfSync('sha256', ikm, salt, utf8('Content-Encoding: aes128gcm\0'), 16));
  const nonceBase = Buffer.from(hkdfSync('sha256', ikm, salt, utf8('Content-Encoding: nonce\0'), 12));
  const records = body.subarray(86);
  if (records.length === 0) return 'The body has no record';
  const plain: Buffer[] = [];
  for (let seq = 0, at = 0; at < records.length; seq++, at += rs) {
    const record = records.subarray(at, at + rs);
    const last = at + rs >= records.length;
    if (record.length < 17) return `Record ${seq} is too short`;
    const nonce = Buffer.from(nonceBase);
    // The record's sequence number XORed into the nonce's low bytes (RFC 8188 §2.3); 32 bits are plenty here.
    nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ seq) >>> 0, 8);
    let text: Buffer;
    try {
      const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
      decipher.setAuthTag(record.subarray(record.length - 16));
      text = Buffer.concat([decipher.update(record.subarray(0, record.length - 16)), decipher.final()]);
    } catch {
      return `Record ${seq} does not decrypt: wrong keys, salt or auth secret`;
    }
    let end = text.length - 1;
    while (end >= 0 && text[end] === 0) end--;
    if (end < 0 || text[end] !== (last ? 2 : 1)) return `Record ${seq} has no ${last ? 'last' : ''} record delimiter`;
    plain.push(text.subarray(0, end));
  }
  return Buffer.concat(plain);
}

function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const ledgerKeyOfTopic = (topic: string | null) => (topic && /^\d+-\d+$/.test(topic) ? topic.replace('-', '.') : null);

/** Starts the sandbox push service on loopback (port 0 picks a free one). */
export async function startWebPushSandbox(options: WebPushSandboxOptions): Promise<WebPushSandboxServer> {
  const host = options.host ?? '127.0.0.1';
  const maxSubscriptions = options.maxSubscriptions ?? 100_000;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  const receiptDelayMs = options.receiptDelayMs ?? 5;
  const random = seededRandom(options.seed ?? 1);
  const faultsOf = (f: SandboxFaults): SandboxFaults => ({
    latencyMs: f.latencyMs,
    transientRate: f.transientRate,
    permanentRate: f.permanentRate,
    undeliveredRate: f.undeliveredRate,
    readRate: f.readRate,
  });
  let faults = faultsOf(options);
  const subscriptions = new Map<string, Subscription>();
  const kept = new Ring<WebPushSandboxMessage>(keep);
  const topics = new Set<string>();
  let accepted = 0;
  let duplicates = 0;
  let requests = 0;
  let receiptsPosted = 0;
  let messageSeq = 0;
  // Receipts scheduled or posting, and who waits for them all to finish.
  const timers = new Set<NodeJS.Timeout>();
  let pending = 0;
  let drained: (() => void)[] = [];
  let url = '';

  // Verified Authorization headers until their exp: senders reuse one JWT for hours, and checking
  // its signature (~0.25 ms, a JWK import and an ECDSA verify) per request would be a third of the sandbox's CPU.
  const verified = new Map<string, Check & { ok: true }>();
  const vapidOf = (authorization: string | undefined): Check => {
    const nowS = Math.floor(Date.now() / 1000);
    const known = authorization ? verified.get(authorization) : undefined;
    if (known && known.exp > nowS) return known;
    const check = checkVapid(authorization, url, nowS);
    if (check.ok && authorization) {
      if (verified.size >= 256) verified.delete(verified.keys().next().value!);
      verified.set(authorization, check);
    }
    return check;
  };

  const settle = () => {
    if (--pending === 0) for (const resolve of drained.splice(0)) resolve();
  };

  /** Posts one receipt as a service worker's fetch() would: a text/plain JSON body, no preflight. */
  const postReceipt = (to: string, token: string, event: 'delivered' | 'read', delayMs: number) => {
    pending++;
    const timer = setTimeout(() => {
      timers.delete(timer);
      const body = JSON.stringify({ token, event, at: new Date().toISOString() });
      fetch(to, { method: 'POST', headers: { 'Content-Type': 'text/plain;charset=UTF-8' }, body, signal: AbortSignal.timeout(5_000) })
        .then(async (r) => {
          await r.arrayBuffer();
          if (r.ok) receiptsPosted++;
        })
        .catch(() => undefined) // Herald unreachable: a real worker's receipt is lost the same way.
        .finally(settle);
    }, delayMs);
    timers.add(timer);
  };

  const accept = (id: string, sub: Subscription, body: Buffer, req: IncomingMessage, res: ServerResponse) => {
    const topic = typeof req.headers.topic === 'string' ? req.headers.topic : null;
    let payload: WebPushPayload | null = null;
    if (body.length > 0) {
      if (req.headers['content-encoding'] !== 'aes128gcm') return reply(res, 400, 'Content-Encoding must be aes128gcm (RFC 8291)');
      const plain = decryptPushBody(body, sub.ecdh, sub.publicKey, sub.auth);
      if (typeof plain === 'string') return reply(res, 400, plain);
      try {
        payload = JSON.parse(plain.toString('utf8')) as WebPushPayload;
      } catch {
        payload = null;
      }
    }
    const providerId = `msg_${++messageSeq}`;
    const location = `${url}/message/${providerId}`;
    const ttl = Number(req.headers.ttl ?? 0) || 0;
    const dedupKey = topic ? `${id} ${topic}` : null;
    // RFC 8030 §5.4: a message with the Topic of one still held replaces it; count it as the repeat it is.
    if (dedupKey && topics.has(dedupKey)) {
      duplicates++;
      return reply(res, 201, '', { Location: location, TTL: String(ttl) });
    }
    if (dedupKey) {
      topics.add(dedupKey);
      if (topics.size > keep) topics.delete(topics.values().next().value!);
    }
    accepted++;
    const token = payload?.receipt?.token;
    kept.push({
      channel: 'webpush',
      to: `${url}/push/${id}`,
      ledgerKey: ledgerKeyOfTopic(topic) ?? (typeof token === 'string' ? token.slice(0, token.lastIndexOf('.')) : null),
      providerId,
      summary: typeof payload?.title === 'string' ? payload.title : '',
      receivedAt: new Date().toISOString(),
      payload,
      ttl,
      urgency: typeof req.headers.urgency === 'string' ? req.headers.urgency : null,
      topic,
    });
    reply(res, 201, '', { Location: location, TTL: String(ttl) });

    const receiptUrl = payload?.receipt?.url;
    const undelivered = sub.trigger === 'undelivered' || random() < (faults.undeliveredRate ?? 0);
    if (undelivered || typeof receiptUrl !== 'string' || typeof token !== 'string' || options.receiptUrl() === null) return;
    postReceipt(receiptUrl, token, 'delivered', receiptDelayMs);
    if (random() < (faults.readRate ?? 0)) postReceipt(receiptUrl, token, 'read', receiptDelayMs * 2);
  };

  const answer = (req: IncomingMessage, res: ServerResponse, body: Buffer) => {
    const id = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1];
    if (req.method !== 'POST' || !id) return reply(res, 404, 'Sandbox: only POST /push/<subscription> is served');
    requests++;
    const auth = vapidOf(req.headers.authorization);
    if (!auth.ok) return reply(res, auth.status, auth.detail, auth.status === 401 ? { 'WWW-Authenticate': 'vapid' } : {});
    const sub = subscriptions.get(id);
    if (!sub || (sub.expiresAt !== null && sub.expiresAt <= Date.now())) {
      subscriptions.delete(id);
      return reply(res, 410, 'The subscription has expired or been withdrawn');
    }
    if (auth.key !== sub.applicationServerKey)
      return reply(res, 403, 'The VAPID key is not the applicationServerKey this subscription was made with');
    if (body.length > maxPushBodyBytes) return reply(res, 413, `The body exceeds ${maxPushBodyBytes} bytes`);
    if (sub.trigger === 'gone') return reply(res, 410, 'Sandbox: this subscription is gone');
    if (sub.trigger === 'throttled') return reply(res, 429, 'Sandbox: too many requests', { 'Retry-After': retryAfter });
    if (sub.trigger === 'unavailable') return reply(res, 503, 'Sandbox: service unavailable');
    const draw = random();
    const transientRate = faults.transientRate ?? 0;
    if (draw < transientRate)
      return random() < 0.5
        ? reply(res, 429, 'Sandbox: too many requests', { 'Retry-After': retryAfter })
        : reply(res, 503, 'Sandbox: service unavailable');
    if (draw < transientRate + (faults.permanentRate ?? 0)) {
      subscriptions.delete(id);
      return reply(res, 410, 'Sandbox: the subscription is gone');
    }
    accept(id, sub, body, req, res);
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    // What was kept is at most maxPushBodyBytes + 1: enough for answer() to see a body too large.
    collectBody(req, maxPushBodyBytes + 1, (body) => {
      const latency = faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(() => answer(req, res, body), latency);
      else answer(req, res, body);
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  url = listening.url;

  return {
    url,
    get accepted() {
      return accepted;
    },
    get duplicates() {
      return duplicates;
    },
    get requests() {
      return requests;
    },
    get receiptsPosted() {
      return receiptsPosted;
    },
    messages: () => kept.toArray(),
    setFaults(next: SandboxFaults) {
      faults = faultsOf(next);
    },
    mintAddress(): string {
      // A contact's stored subscription, as the demo and the runtime's tests add it.
      return JSON.stringify((this as WebPushSandboxServer).createSubscription());
    },
    createSubscription(create: CreateSubscriptionOptions = {}): PushSubscriptionJSON {
      const ecdh = createECDH('prime256v1');
      const publicKey = ecdh.generateKeys();
      const auth = randomBytes(16);
      const id = randomBytes(16).toString('base64url');
      const expiresAt = create.expiresInMs === undefined ? null : Date.now() + create.expiresInMs;
      if (subscriptions.size >= maxSubscriptions) subscriptions.delete(subscriptions.keys().next().value!);
      subscriptions.set(id, {
        ecdh,
        publicKey,
        auth,
        applicationServerKey: create.applicationServerKey ?? options.applicationServerKey,
        trigger: create.trigger ?? null,
        expiresAt,
      });
      return {
        endpoint: `${url}/push/${id}`,
        expirationTime: expiresAt,
        keys: { p256dh: publicKey.toString('base64url'), auth: auth.toString('base64url') },
      };
    },
    unsubscribe(endpoint: string) {
      const id = /\/push\/([A-Za-z0-9_-]+)$/.exec(endpoint)?.[1];
      if (id) subscriptions.delete(id);
    },
    drainReceipts: () => (pending === 0 ? Promise.resolve() : new Promise<void>((resolve) => drained.push(resolve))),
    close: () => {
      for (const timer of timers) clearTimeout(timer);
      pending -= timers.size;
      timers.clear();
      if (pending <= 0) {
        pending = 0;
        for (const r of drained) r();
        drained = [];
      }
      return listening.close();
    },
  };
}
