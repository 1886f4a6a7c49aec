import { Pool } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import webpush from 'web-push';
import { appReceiptToken } from '../app-receipts.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingWebPush, ProviderFatalError, type SendResult } from '../channel.js';
import type { ProviderContext, SenderIdentity } from '../provider.js';
import type { RecipientVerdict } from '../receipts.js';
import { type VapidCredentials, type WebPushConfig, fromBase64url, vapidCredentialsOf } from './config.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { isLoopbackHost } from '../env-config.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate, retryAfterMs } from '../retry-after.js';
import { Slots } from '../slots.js';

/** A browser's PushSubscription as `JSON.stringify(subscription)` writes it: the address of a web push recipient. */
export interface PushSubscriptionJSON {
  readonly endpoint: string;
  readonly expirationTime?: number | null;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

/** The JSON the service worker receives, decrypted, in its `push` event. */
export interface WebPushPayload {
  readonly title: string;
  readonly body: string;
  readonly url: string | null;
  readonly icon: string | null;
  /** Where and what the service worker posts back when it shows or opens the notification; null: no receipts. */
  readonly receipt: { readonly url: string; readonly token: string } | null;
}

/** What one push service answer means for us; nothing vendor-shaped passes this point. */
export type WebPushVerdict =
  | { readonly verdict: 'accepted'; readonly providerId: string | null }
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly recipient?: 'gone';
    }
  /** The VAPID credentials are wrong for the push service: every message would fail the same way. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

/**
 * The largest encrypted body RFC 8030 §7.2 obliges a push service to take; FCM and autopush
 * refuse more with 413. aes128gcm adds 86 bytes of header, a 16-byte tag and a delimiter, so
 * about 3,990 bytes of payload JSON fit.
 */
export const maxPushBodyBytes = 4096;

/**
 * Maps a push service's status (RFC 8030 §5, RFC 8292 §4) to our verdict.
 * 404/410: the subscription expired or was withdrawn (the engine marks the device gone);
 * 413: payload too large; 429 and 5xx: try later; 401/403: the VAPID JWT was refused —
 * provider-wide, since the same key signs every message. FCM also answers 403 when a
 * subscription was made with another applicationServerKey (keys rotated since): every
 * subscription of the old key fails alike, so failing the campaign once with the reason
 * beats failing each recipient.
 */
export function verdictOfStatus(status: number, body: string, location: string | null = null): WebPushVerdict {
  const said = body.slice(0, 400).trim();
  const detail = `HTTP ${status}${said ? `: ${said}` : ''}`;
  if (status >= 200 && status < 300) return { verdict: 'accepted', providerId: location };
  if (status === 404 || status === 410)
    return {
      verdict: 'failed',
      kind: 'permanent',
      code: 'WEBPUSH_GONE',
      detail: `The subscription is gone (${detail})`,
      recipient: 'gone',
    };
  if (status === 401 || status === 403)
    return { verdict: 'fatal', code: 'WEBPUSH_VAPID', detail: `The push service refused the VAPID credentials (${detail})` };
  if (status === 413) return { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_PAYLOAD_TOO_LARGE', detail };
  if (status === 429) return { verdict: 'failed', kind: 'transient', code: 'WEBPUSH_THROTTLED', detail };
  if (status >= 500 || status === 408) return { verdict: 'failed', kind: 'transient', code: 'WEBPUSH_UNAVAILABLE', detail };
  return { verdict: 'failed', kind: 'permanent', code: 'WEBPUSH_REJECTED', detail };
}

/**
 * Reads a recipient address into a subscription, or says what is wrong with it. Browsers
 * only hand out https endpoints; plain http is allowed to loopback for the sandbox.
 */
export function parseSubscription(address: string): PushSubscriptionJSON | string {
  let raw: unknown;
  try {
    raw = JSON.parse(address);
  } catch {
    return 'The address is not a PushSubscription JSON';
  }
  if (raw === null || typeof raw !== 'object') return 'The address is not a PushSubscription JSON object';
  const s = raw as { endpoint?: unknown; expirationTime?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  let endpoint: URL;
  try {
    endpoint = new URL(typeof s.endpoint === 'string' ? s.endpoint : '');
  } catch {
    return 'endpoint must be the push service URL';
  }
  if (endpoint.protocol !== 'https:' && !(endpoint.protocol === 'http:' && isLoopbackHost(endpoint.hostname)))
    return 'endpoint must be an https URL';
  const p256dh = fromBase64url(s.keys?.p256dh);
  if (!p256dh || p256dh.length !== 65 || p256dh[0] !== 0x04) return 'keys.p256dh must be an uncompressed P-256 public key in base64url';
  const auth = fromBase64url(s.keys?.auth);
  if (!auth || auth.length !== 16) return 'keys.auth must be a 16-byte secret in base64url';
  const expirationTime = typeof s.expirationTime === 'number' ? s.expirationTime : null;
  return { endpoint: endpoint.href, expirationTime, keys: { p256dh: s.keys!.p256dh as string, auth: s.keys!.auth as string } };
}

/**
 * The Topic header (RFC 8030 §5.4) of a message: its ledger key in the header's alphabet.
 * A push service keeps one undelivered message per topic and subscription, so a re-send after
 * a crash replaces the copy still waiting on an offline device instead of adding a second.
 */
export function topicOf(m: Pick<OutgoingWebPush, 'runId' | 'messageId'>): string {
  return `${m.runId}-${m.messageId}`; // at most 15 + 1 + 15 characters: within the 32 allowed
}

/** The notification's JSON: what the service worker shows, and the signed receipt it posts back when Herald has a receipt URL. */
export function payloadOf(m: OutgoingWebPush, receiptUrl: string | null, receiptSecret: string): WebPushPayload {
  const receipt = receiptUrl ? { url: receiptUrl, token: appReceiptToken(receiptSecret, m.ledgerKey) } : null;
  return { title: m.title, body: m.body, url: m.url, icon: m.icon, receipt };
}

/** What a push service origin keeps: its connections, its VAPID header and its Retry-After. */
interface Origin {
  readonly pool: Pool;
  vapid: { readonly header: string; readonly renewAt: number } | null;
  /** The push service asked us (Retry-After) not to call before a time. */
  readonly gate: RetryAfterGate;
}

/** VAPID JWTs live 12 hours (RFC 8292 allows 24) and are re-signed once fewer than 6 remain, so clock skew never expires one in flight. */
const vapidLifetimeS = 12 * 3600;
const vapidRenewBeforeMs = 6 * 3600 * 1000;

/**
 * Web push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).
 * The `web-push` library does the cryptography: `encrypt()` for each message and
 * `getVapidHeaders()` once per push service origin, cached for hours. Signing a JWT is
 * ~520 µs of the ~830 µs that `generateRequestDetails()` costs per message (measured on the
 * 2-core machine), and it does not depend on the message, so the cache cuts the CPU of a
 * send by about 3.5×. The request itself goes through undici, one Pool per push service
 * origin (at most `maxOrigins`, least recently used closed first), so concurrency,
 * timeouts and the status mapping are ours rather than `sendNotification()`'s https.request.
 *
 * Push services have no idempotency key (`idempotent: false`); the Topic header carries the
 * ledger key so a re-send replaces an undelivered copy (see topicOf). Push services send no
 * receipts: the payload carries a signed receipt token the service worker posts back
 * (app-receipts.ts).
 */
export class WebPushAdapter implements ChannelAdapter<OutgoingWebPush> {
  readonly name = 'webpush';
  readonly channel = 'webpush' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #config: WebPushConfig;
  readonly #vapid: VapidCredentials | string;
  readonly #receiptUrl: string | null;
  readonly #slots: Slots;
  /** Insertion order is recency: a use moves the origin to the end, eviction takes the first. */
  readonly #origins = new Map<string, Origin>();

  constructor(config: WebPushConfig, sender: SenderIdentity, context: ProviderContext) {
    this.#config = config;
    this.#vapid = vapidCredentialsOf(config, sender);
    this.#receiptUrl = context.receiptUrl;
    this.capabilities = { batchSize: 1, concurrency: config.concurrency, idempotent: false, costUnit: 'message' };
    this.#slots = new Slots(config.concurrency);
  }

  /**
   * One result per message, in input order, sent concurrently up to the adapter's limit.
   * After a fatal answer (VAPID refused) no further request starts; the ProviderFatalError
   * carries the results of the messages already answered (accepted ones must be recorded as
   * sent), and none for the rest.
   */
  async send(batch: readonly OutgoingWebPush[]): Promise<SendResult[]> {
    const vapid = this.#vapid;
    if (typeof vapid === 'string') throw new ProviderFatalError('WEBPUSH_VAPID', vapid);
    return sendEach(batch, this.#slots, (m) => this.#sendOne(m, vapid));
  }

  async #sendOne(m: OutgoingWebPush, vapid: VapidCredentials): Promise<SendOutcome> {
    const failed = (
      kind: 'transient' | 'permanent',
      code: string,
      detail: string,
      extra: { readonly retryAfterMs?: number; readonly recipient?: RecipientVerdict } = {},
    ): SendOutcome => ({ result: { messageId: m.messageId, ok: false, kind, code, detail, ...extra } });
    const subscription = parseSubscription(m.to);
    // 'invalid', not 'gone': the address never was a usable subscription (a bad import, a
    // truncated JSON), so no push service could take it; 'gone' is for one that worked and expired.
    if (typeof subscription === 'string')
      return failed('permanent', 'WEBPUSH_SUBSCRIPTION_INVALID', subscription, { recipient: 'invalid' });
    if (subscription.expirationTime && subscription.expirationTime <= Date.now())
      return failed('permanent', 'WEBPUSH_GONE', 'The subscription’s expirationTime has passed', { recipient: 'gone' });

    let body: Buffer;
    try {
      const json = JSON.stringify(payloadOf(m, this.#receiptUrl, vapid.receiptSecret));
      body = webpush.encrypt(subscription.keys.p256dh, subscription.keys.auth, json, 'aes128gcm').cipherText;
    } catch (err) {
      // p256dh passed the shape check but is not a point on the curve: ECDH refuses it.
      const detail = `The subscription’s keys cannot encrypt: ${(err as Error).message.slice(0, 200)}`;
      return failed('permanent', 'WEBPUSH_SUBSCRIPTION_INVALID', detail, { recipient: 'invalid' });
    }
    if (body.length > maxPushBodyBytes)
      return failed(
        'permanent',
        'WEBPUSH_PAYLOAD_TOO_LARGE',
        `The encrypted notification is ${body.length} bytes; push services take ${maxPushBodyBytes}`,
      );

    const endpoint = new URL(subscription.endpoint);
    const origin = this.#originOf(endpoint.origin);
    const pause = await origin.gate.pass();
    if (pause)
      return failed('transient', 'WEBPUSH_THROTTLED', `${endpoint.host} asked for no requests before ${pause.until}`, {
        retryAfterMs: pause.waitMs,
      });

    const answer = await postForAnswer(origin.pool, {
      path: `${endpoint.pathname}${endpoint.search}`,
      headers: {
        Authorization: this.#vapidHeader(endpoint.origin, origin, vapid),
        'Content-Encoding': 'aes128gcm',
        'Content-Type': 'application/octet-stream',
        TTL: String(Math.max(0, Math.floor(m.ttlSeconds))),
        Urgency: this.#config.urgency,
        Topic: topicOf(m),
      },
      body,
      timeoutMs: this.#config.timeoutMs,
    });
    if (!answer.ok) {
      if (answer.timedOut)
        return failed('transient', 'WEBPUSH_TIMEOUT', `No answer from ${endpoint.host} within ${this.#config.timeoutMs} ms`);
      return failed('transient', 'WEBPUSH_NETWORK', `${endpoint.host}: ${(answer.error.code ?? answer.error.message).slice(0, 300)}`);
    }
    const { status, text, header } = answer;

    const v = verdictOfStatus(status, text, header('location'));
    switch (v.verdict) {
      case 'accepted':
        return { result: { messageId: m.messageId, ok: true, providerId: v.providerId } };
      case 'fatal':
        return { fatal: { code: v.code, detail: v.detail } };
      case 'failed': {
        const delay = retryAfterMs(header('retry-after'), Date.now());
        if (delay !== null && v.kind === 'transient') origin.gate.pauseFor(delay);
        return failed(v.kind, v.code, v.detail, {
          ...(delay !== null && v.kind === 'transient' ? { retryAfterMs: delay } : {}),
          ...(v.recipient ? { recipient: v.recipient } : {}),
        });
      }
      default:
        return assertUnreachable(v);
    }
  }

  /** The pool and state of one push service origin, opening it (and closing the least recently used) as needed. */
  #originOf(key: string): Origin {
    let origin = this.#origins.get(key);
    if (origin) {
      this.#origins.delete(key);
      this.#origins.set(key, origin);
      return origin;
    }
    if (this.#origins.size >= this.#config.maxOrigins) {
      const [oldest, evicted] = this.#origins.entries().next().value as [string, Origin];
      this.#origins.delete(oldest);
      // close() lets requests in flight finish; new ones to that origin open a fresh pool.
      void evicted.pool.close();
    }
    // Most subscriptions are Chrome's: up to `concurrency` requests may go to one origin at once.
    origin = {
      pool: new Pool(key, { connections: this.#config.concurrency, keepAliveTimeout: 30_000 }),
      vapid: null,
      gate: new RetryAfterGate(this.#config.maxRetryWaitMs),
    };
    this.#origins.set(key, origin);
    return origin;
  }

  /** `vapid t=<JWT>, k=<public key>` for an origin (the JWT's aud), signed once and reused for hours. */
  #vapidHeader(audience: string, origin: Origin, vapid: VapidCredentials): string {
    const now = Date.now();
    if (origin.vapid && now < origin.vapid.renewAt) return origin.vapid.header;
    const exp = Math.floor(now / 1000) + vapidLifetimeS;
    const { Authorization } = webpush.getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', exp);
    origin.vapid = { header: Authorization, renewAt: exp * 1000 - vapidRenewBeforeMs };
    return Authorization;
  }

  async close(): Promise<void> {
    const pools = [...this.#origins.values()].map((o) => o.pool.close());
    this.#origins.clear();
    await Promise.all(pools);
  }
}
