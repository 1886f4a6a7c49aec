import { Pool } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingWebhook, ProviderFatalError, type SendResult } from '../channel.js';
import type { SenderIdentity } from '../provider.js';
import { type WebhookConfig, defaultWebhookConfig, readWebhookCredentials } from './config.js';
import { signWebhook } from './signature.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate, retryAfterMs } from '../retry-after.js';
import { Slots } from '../slots.js';

/** What one endpoint answer means for us; nothing endpoint-shaped passes this point. */
export type WebhookVerdict =
  | { readonly verdict: 'accepted'; readonly providerId: string | null }
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly gone?: true;
    }
  /** Every message to this endpoint would fail the same way: ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

/** The part of an answer's body kept in a failure's detail, and the most of it read at all. */
const detailChars = 400;
const maxAnswerBytes = 64 * 1024;

/** A Location without its query, which may carry someone's token. */
function where(location: string | null): string {
  if (!location) return '';
  try {
    const url = new URL(location, 'http://relative.invalid');
    return url.origin === 'http://relative.invalid'
      ? ` (it redirects to ${url.pathname})`
      : ` (it redirects to ${url.origin}${url.pathname})`;
  } catch {
    return ' (with an unreadable Location)';
  }
}

/**
 * Maps an endpoint's HTTP answer. 2xx is delivery (a JSON `{ "id": … }` becomes the provider
 * id); 410 says this recipient is gone for good; 401/403 refuse our signature and 404 or a
 * redirect mean the URL is wrong — the same for every message, so the campaign fails once
 * (we never follow a redirect: the signature and the payload are for the configured URL
 * only). 408, 429 and 5xx are transient; any other 4xx rejects this one message.
 */
export function verdictOfAnswer(status: number, body: string, location: string | null = null): WebhookVerdict {
  const said = body.slice(0, detailChars).trim();
  if (status >= 200 && status < 300) {
    let providerId: string | null = null;
    try {
      const parsed: unknown = JSON.parse(body);
      const id = parsed !== null && typeof parsed === 'object' ? (parsed as { id?: unknown }).id : undefined;
      if ((typeof id === 'string' && id !== '') || (typeof id === 'number' && Number.isFinite(id))) providerId = String(id).slice(0, 200);
    } catch {
      // Any 2xx is delivery; the body is optional.
    }
    return { verdict: 'accepted', providerId };
  }
  if (status >= 300 && status < 400)
    return {
      verdict: 'fatal',
      code: 'WEBHOOK_ENDPOINT',
      detail: `The endpoint answered HTTP ${status}${where(location)}; Herald does not follow redirects: set the sender's url to the final address`,
    };
  if (status === 401 || status === 403)
    return {
      verdict: 'fatal',
      code: 'WEBHOOK_AUTH',
      detail:
        `The endpoint refused the request (HTTP ${status}): check that it verifies Herald-Signature with the sender's secret. ${said}`.trim(),
    };
  if (status === 404)
    return { verdict: 'fatal', code: 'WEBHOOK_ENDPOINT', detail: `The endpoint answered HTTP 404: check the sender's url. ${said}`.trim() };
  if (status === 410)
    return {
      verdict: 'failed',
      kind: 'permanent',
      code: 'WEBHOOK_GONE',
      detail: `The endpoint says this recipient is gone (HTTP 410). ${said}`.trim(),
      gone: true,
    };
  if (status === 429) return { verdict: 'failed', kind: 'transient', code: 'WEBHOOK_THROTTLED', detail: `HTTP 429: ${said}`.trim() };
  if (status === 408 || status >= 500)
    return { verdict: 'failed', kind: 'transient', code: 'WEBHOOK_UNAVAILABLE', detail: `HTTP ${status}: ${said}`.trim() };
  return { verdict: 'failed', kind: 'permanent', code: 'WEBHOOK_REJECTED', detail: `HTTP ${status}: ${said}`.trim() };
}

/** One sender's endpoint, ready to post to. */
interface Target {
  readonly pool: Pool;
  /** The URL's path and query: the Pool holds the origin. */
  readonly path: string;
  readonly secret: string;
}

/**
 * Herald's own signed webhook, for custom channels: one `POST <url>` per message with the
 * message's JSON payload and
 *
 *     Content-Type: application/json
 *     User-Agent: Herald-Webhook/1
 *     Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *     Idempotency-Key: <runId>.<messageId>
 *     Herald-Message: <runId>.<messageId>
 *
 * The idempotency key is the ledger key, the same on every attempt (a retry is signed anew,
 * with a fresh time): a receiver that drops keys it has seen never acts twice on one
 * message, which is why the adapter declares `idempotent: true`. Herald-Message is what a
 * receipt names the message by (see receipts.ts). Requests go through an undici Pool of
 * the adapter's own, one keep-alive connection per request in flight.
 *
 * What an endpoint answers, and what Herald does (verdictOfAnswer):
 *
 *     2xx           delivered; a JSON body {"id": …} is kept as the message's provider id
 *     410           this recipient is gone: the message fails and the address is not used again
 *     other 4xx     this message is refused: it fails, with the status and the body's start
 *     408, 429, 5xx try again later (429/503 with Retry-After: not before it); so do timeouts
 *                   (10 s by default) and refused or reset connections
 *     401, 403      the endpoint refuses our signature: the campaign fails once, with the reason
 *     404, 3xx      the URL is wrong (redirects are never followed): the campaign fails once
 */
export class WebhookAdapter implements ChannelAdapter<OutgoingWebhook> {
  readonly name = 'webhook';
  readonly channel = 'webhook' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #config: WebhookConfig;
  /** Where and how to post; or, for unusable credentials, why not (the campaign fails at its first send, not the process at start). */
  readonly #target: Target | { readonly unusable: string };
  readonly #slots: Slots;
  /** The endpoint asked us (Retry-After) not to call before a time; every request waits it out. */
  readonly #gate: RetryAfterGate;

  /** A null config means the defaults (a runtime without defaultConfig passes null for senders with their own credentials). */
  constructor(config: WebhookConfig | null, sender: Pick<SenderIdentity, 'credentials'>) {
    config ??= defaultWebhookConfig;
    this.#config = config;
    this.capabilities = { batchSize: 1, concurrency: config.concurrency, idempotent: true, costUnit: 'message' };
    this.#slots = new Slots(config.concurrency);
    this.#gate = new RetryAfterGate(config.maxRetryWaitMs);
    const credentials = readWebhookCredentials(sender.credentials);
    if (credentials.ok) {
      const url = new URL(credentials.value.url);
      const pool = new Pool(url.origin, {
        connections: config.concurrency,
        keepAliveTimeout: 30_000,
        connect: { timeout: config.timeoutMs },
      });
      this.#target = { pool, path: `${url.pathname}${url.search}`, secret: credentials.value.secret };
    } else this.#target = { unusable: credentials.detail };
  }

  /**
   * Posts each message, concurrently up to the adapter's limit, and answers one result per
   * message in input order. After a fatal answer no further request starts; the
   * ProviderFatalError carries the results of the requests that had completed (what they
   * delivered must be recorded as sent), and none for the rest.
   */
  async send(batch: readonly OutgoingWebhook[]): Promise<SendResult[]> {
    const target = this.#target;
    if ('unusable' in target)
      throw new ProviderFatalError('WEBHOOK_CREDENTIALS', `The webhook sender's credentials are not usable: ${target.unusable}`);
    return sendEach(batch, this.#slots, (m) => this.#sendOne(target, m));
  }

  async #sendOne(target: Target, m: OutgoingWebhook): Promise<SendOutcome> {
    const failed = (
      kind: 'transient' | 'permanent',
      code: string,
      detail: string,
      extra: { retryAfterMs?: number; recipient?: 'gone' } = {},
    ): { result: SendResult } => ({ result: { messageId: m.messageId, ok: false, kind, code, detail, ...extra } });
    const pause = await this.#gate.pass();
    if (pause)
      return failed('transient', 'WEBHOOK_THROTTLED', `The endpoint asked for no requests before ${pause.until}`, {
        retryAfterMs: pause.waitMs,
      });

    let body: string;
    try {
      body = JSON.stringify(m.payload);
    } catch (err) {
      // A BigInt or a cycle in rendered data: this message can never be posted, the others can.
      return failed('permanent', 'WEBHOOK_PAYLOAD', `The payload cannot be written as JSON: ${(err as Error).message}`);
    }
    // The answer's body is read up to 64 KB, as only its start is ever kept.
    const answer = await postForAnswer(target.pool, {
      path: target.path,
      headers: {
        'Content-Type': 'application/json',
        'User-Agent': 'Herald-Webhook/1',
        'Herald-Signature': signWebhook(target.secret, body),
        'Idempotency-Key': m.ledgerKey,
        'Herald-Message': m.ledgerKey,
      },
      body,
      timeoutMs: this.#config.timeoutMs,
      maxAnswerBytes,
    });
    if (!answer.ok) {
      if (answer.timedOut || answer.error.code === 'UND_ERR_CONNECT_TIMEOUT')
        return failed('transient', 'WEBHOOK_TIMEOUT', `No answer from the endpoint within ${this.#config.timeoutMs} ms`);
      // The code alone (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET): undici's messages name the host.
      return failed('transient', 'WEBHOOK_NETWORK', `The endpoint could not be reached (${answer.error.code ?? 'network error'})`);
    }

    const delay = retryAfterMs(answer.header('retry-after'), Date.now());
    const ok = answer.status >= 200 && answer.status < 300;
    if (delay !== null && !ok) this.#gate.pauseFor(delay);
    const v = verdictOfAnswer(answer.status, answer.text, answer.header('location'));
    switch (v.verdict) {
      case 'accepted':
        return { result: { messageId: m.messageId, ok: true, providerId: v.providerId } };
      case 'failed':
        if (v.gone) return failed(v.kind, v.code, v.detail, { recipient: 'gone' });
        return failed(v.kind, v.code, v.detail, v.kind === 'transient' && delay ? { retryAfterMs: delay } : {});
      case 'fatal':
        return { fatal: { code: v.code, detail: v.detail } };
      default:
        return assertUnreachable(v);
    }
  }

  async close(): Promise<void> {
    if ('pool' in this.#target) await this.#target.pool.close();
  }
}
