import { Pool } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingEmail, ProviderFatalError, type SendResult } from '../channel.js';
import type { HttpEmailConfig } from './config.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate, retryAfterMs } from '../retry-after.js';
import { Slots } from '../slots.js';

/** One message as the provider's batch endpoint takes it (Postmark's field names). */
export interface WireEmail {
  readonly From: string;
  readonly To: string;
  readonly Subject: string;
  readonly HtmlBody?: string;
  readonly TextBody: string;
  readonly ReplyTo?: string;
  readonly Headers: readonly { readonly Name: string; readonly Value: string }[];
  readonly MessageStream: string;
  readonly Metadata: Readonly<Record<string, string>>;
}

/** The provider's answer for one message, in request order; also the shape of a whole-request error body. */
export interface WireAnswer {
  readonly ErrorCode?: number;
  readonly Message?: string;
  readonly MessageID?: string;
  readonly SubmittedAt?: string;
  readonly To?: string;
}

/**
 * The Metadata key carrying the ledger key `<runId>.<id>` (the X-Herald-Message header's
 * value). Postmark returns Metadata on every webhook, so receipts find their row by it; the
 * Message-ID itself cannot go there, as Metadata values stop at 80 characters and a
 * Message-ID's domain alone may take 253.
 */
export const ledgerMetadataKey = 'herald_message';

/** What one provider answer means for us; nothing vendor-shaped passes this point. */
export type HttpEmailVerdict =
  | { readonly verdict: 'accepted'; readonly providerId: string | null }
  | { readonly verdict: 'failed'; readonly kind: 'transient' | 'permanent'; readonly code: string; readonly detail: string }
  /** The whole campaign cannot go on (credentials, sender, account): ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

type Rule = { readonly verdict: 'fatal' | 'transient' | 'permanent'; readonly code: string };

/**
 * Postmark's ErrorCodes (postmarkapp.com/developer/api/overview#error-codes) in our words.
 * Codes about the token, the sender signature or the account are fatal: every message of
 * the campaign would fail the same way, so the campaign fails once with the reason instead
 * of failing each recipient. Anything unlisted is a rejection of that message.
 */
const errorCodes: ReadonlyMap<number, Rule> = new Map<number, Rule>([
  [10, { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH' }], // bad or missing API token
  [100, { verdict: 'transient', code: 'HTTP_EMAIL_MAINTENANCE' }],
  [300, { verdict: 'permanent', code: 'HTTP_EMAIL_INVALID_MESSAGE' }], // invalid email request (e.g. a malformed address)
  [400, { verdict: 'fatal', code: 'HTTP_EMAIL_SENDER' }], // sender signature not found
  [401, { verdict: 'fatal', code: 'HTTP_EMAIL_SENDER' }], // sender signature not confirmed
  [405, { verdict: 'fatal', code: 'HTTP_EMAIL_ACCOUNT' }], // not allowed to send (no credits)
  [406, { verdict: 'permanent', code: 'HTTP_EMAIL_INACTIVE_RECIPIENT' }], // bounced or complained before
  [412, { verdict: 'fatal', code: 'HTTP_EMAIL_ACCOUNT' }], // account pending approval
  [413, { verdict: 'fatal', code: 'HTTP_EMAIL_ACCOUNT' }], // account may not send
  [429, { verdict: 'transient', code: 'HTTP_EMAIL_THROTTLED' }],
]);

/** Maps one ErrorCode (from an answer in the array, or a whole-request error body) to our verdict. */
export function verdictOfErrorCode(answer: WireAnswer): HttpEmailVerdict {
  const errorCode = answer.ErrorCode ?? -1;
  if (errorCode === 0) return { verdict: 'accepted', providerId: answer.MessageID ?? null };
  const detail = `${(answer.Message ?? 'rejected by the provider').slice(0, 400)} (provider code ${errorCode})`;
  const rule = errorCodes.get(errorCode) ?? { verdict: 'permanent', code: 'HTTP_EMAIL_REJECTED' };
  switch (rule.verdict) {
    case 'fatal':
      return { verdict: 'fatal', code: rule.code, detail };
    case 'transient':
    case 'permanent':
      return { verdict: 'failed', kind: rule.verdict, code: rule.code, detail };
    default:
      return assertUnreachable(rule.verdict);
  }
}

/**
 * Maps a response that is not 200 — one verdict for every message of the request.
 * 429 and 5xx are transient (the caller also honours Retry-After); 401/403 mean the token;
 * 404 and redirects mean EMAIL_HTTP_URL is wrong; 422 carries an ErrorCode for the whole request.
 */
export function verdictOfStatus(
  status: number,
  body: string,
  location: string | null = null,
): Exclude<HttpEmailVerdict, { verdict: 'accepted' }> {
  let answer: WireAnswer | null = null;
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) answer = parsed as WireAnswer;
  } catch {
    // Proxies and load balancers answer in HTML; the status alone decides.
  }
  const said = (answer?.Message ?? body).slice(0, 400).trim();
  if (status === 401 || status === 403 || answer?.ErrorCode === 10)
    return { verdict: 'fatal', code: 'HTTP_EMAIL_AUTH', detail: `The provider refused the server token (HTTP ${status}): ${said}` };
  if (status === 429) return { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_THROTTLED', detail: `HTTP 429: ${said}` };
  if (status >= 500 || status === 408)
    return { verdict: 'failed', kind: 'transient', code: 'HTTP_EMAIL_UNAVAILABLE', detail: `HTTP ${status}: ${said}` };
  if (status === 404 || (status >= 300 && status < 400)) {
    const where = location ? ` (it redirects to ${location})` : '';
    return {
      verdict: 'fatal',
      code: 'HTTP_EMAIL_ENDPOINT',
      detail: `HTTP ${status} from the batch endpoint${where}: check EMAIL_HTTP_URL`,
    };
  }
  if (answer?.ErrorCode !== undefined && answer.ErrorCode !== 0) {
    const v = verdictOfErrorCode(answer);
    if (v.verdict !== 'accepted') return v;
  }
  return { verdict: 'failed', kind: 'permanent', code: 'HTTP_EMAIL_REJECTED', detail: `HTTP ${status}: ${said}` };
}

/** `"Name" <address>`, quoting the display name so commas and quotes in it cannot split the header. */
function fromHeader(from: OutgoingEmail['from']): string {
  if (!from.name) return from.address;
  return `"${from.name.replace(/[\\"]/g, '\\$&').replace(/[\r\n]+/g, ' ')}" <${from.address}>`;
}

/** Our message in the provider's shape; the Message-ID header carries the ledger's idempotency key. */
export function toWireEmail(m: OutgoingEmail, messageStream: string): WireEmail {
  const headers = [{ Name: 'Message-ID', Value: m.headerMessageId }];
  for (const [name, value] of Object.entries(m.headers))
    if (name.toLowerCase() !== 'message-id') headers.push({ Name: name, Value: value });
  const wire: { -readonly [K in keyof WireEmail]: WireEmail[K] } = {
    From: fromHeader(m.from),
    To: m.to,
    Subject: m.subject,
    TextBody: m.text,
    Headers: headers,
    MessageStream: messageStream,
    Metadata: { [ledgerMetadataKey]: `${m.runId}.${m.messageId}` },
  };
  if (m.html !== null) wire.HtmlBody = m.html;
  if (m.replyTo !== null) wire.ReplyTo = m.replyTo;
  return wire;
}

type ChunkOutcome =
  { readonly results: SendResult[] } | { readonly fatal: { code: string; detail: string }; readonly results: SendResult[] };

/**
 * Email over a Postmark-shaped HTTP batch API: `POST {base}/email/batch` with up to 500
 * messages, one answer per message in the same order; with a batch size of 1,
 * `POST {base}/email`, one message and one answer a request (a rejection there is a 422
 * carrying the message's ErrorCode). Requests go through an undici
 * Pool of the adapter's own, which keeps the connections alive between batches.
 *
 * The provider has no idempotency key: a batch re-sent after a crash or an ambiguous
 * failure (timeout, 5xx after the provider had accepted it) reaches it again, so the
 * adapter declares `idempotent: false`. The Message-ID header still carries the ledger's
 * key, which is how the sandbox counts duplicates, as an idempotent provider would drop them.
 */
/**
 * `JSON.stringify(items.map(toJson))` as UTF-8 bytes, built one item at a time: each item's
 * JSON is a short-lived string of a few KB, and the request body (MBs for a batch of 500
 * emails) lives outside the JS heap, freed as soon as its Buffer dies, instead of one
 * large string that only a full garbage collection reclaims.
 */
export function jsonArrayBytes<T>(items: readonly T[], toJson: (item: T) => unknown): Buffer {
  const parts = items.map((item) => JSON.stringify(toJson(item)));
  let length = 2 + Math.max(0, parts.length - 1);
  for (const part of parts) length += Buffer.byteLength(part);
  const out = Buffer.allocUnsafe(length);
  let at = out.write('[', 0);
  parts.forEach((part, i) => {
    if (i > 0) at += out.write(',', at);
    at += out.write(part, at);
  });
  out.write(']', at);
  return out;
}

export class HttpEmailAdapter implements ChannelAdapter<OutgoingEmail> {
  readonly name = 'email-http';
  readonly channel = 'email' as const;
  /** concurrency counts requests: up to batchSize × concurrency messages are in flight at once. */
  readonly capabilities: ChannelCapabilities;
  readonly #config: HttpEmailConfig;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #single: boolean;
  readonly #headers: Record<string, string>;
  readonly #slots: Slots;
  /** The provider asked us (Retry-After) not to call before a time; every request waits it out. */
  readonly #gate: RetryAfterGate;

  constructor(config: HttpEmailConfig) {
    this.#config = config;
    this.capabilities = { batchSize: config.batchSize, concurrency: config.concurrency, idempotent: false, costUnit: 'message' };
    // One message a request goes to the single-message endpoint, as Postmark's and Twilio's clients do.
    this.#single = config.batchSize === 1;
    const base = new URL(config.baseUrl);
    this.#path = `${base.pathname.replace(/\/+$/, '')}${this.#single ? '/email' : '/email/batch'}`;
    // One keep-alive connection per request in flight; undici's own client, not fetch, for its lower cost per request.
    this.#pool = new Pool(base.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
    this.#headers = { Accept: 'application/json', 'Content-Type': 'application/json', 'X-Postmark-Server-Token': config.token };
    this.#slots = new Slots(config.concurrency);
    this.#gate = new RetryAfterGate(config.maxRetryWaitMs);
  }

  /**
   * Sends the batch in requests of at most batchSize, concurrently up to the adapter's limit,
   * and answers one result per message in input order. After a fatal answer no further
   * request starts; the ProviderFatalError carries the results of the requests that had
   * completed (what they accepted must be recorded as sent), and none for the rest.
   */
  async send(batch: readonly OutgoingEmail[]): Promise<SendResult[]> {
    const size = this.#config.batchSize;
    const chunks: (readonly OutgoingEmail[])[] = [];
    for (let i = 0; i < batch.length; i += size) chunks.push(batch.slice(i, i + size));
    const answered: SendResult[][] = [];
    let fatal: { code: string; detail: string } | undefined;
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const index = next++;
        await this.#slots.take();
        try {
          if (fatal) return;
          const outcome = await this.#sendChunk(chunks[index]!);
          answered[index] = outcome.results;
          if ('fatal' in outcome) fatal ??= outcome.fatal;
        } finally {
          this.#slots.give();
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#config.concurrency, chunks.length) }, lane));
    const results = answered.flatMap((r) => r ?? []);
    if (fatal) throw new ProviderFatalError(fatal.code, fatal.detail, results);
    return results;
  }

  async #sendChunk(chunk: readonly OutgoingEmail[]): Promise<ChunkOutcome> {
    const all = (kind: 'transient' | 'permanent', code: string, detail: string, retryAfter?: number): ChunkOutcome => ({
      results: chunk.map((m) => ({
        messageId: m.messageId,
        ok: false,
        kind,
        code,
        detail,
        ...(retryAfter ? { retryAfterMs: retryAfter } : {}),
      })),
    });
    const pause = await this.#gate.pass();
    if (pause) return all('transient', 'HTTP_EMAIL_THROTTLED', `The provider asked for no requests before ${pause.until}`, pause.waitMs);

    const stream = this.#config.messageStream;
    const body = this.#single ? JSON.stringify(toWireEmail(chunk[0]!, stream)) : jsonArrayBytes(chunk, (m) => toWireEmail(m, stream));
    const answer = await postForAnswer(this.#pool, { path: this.#path, headers: this.#headers, body, timeoutMs: this.#config.timeoutMs });
    if (!answer.ok) {
      if (answer.timedOut) return all('transient', 'HTTP_EMAIL_TIMEOUT', `No answer from the provider within ${this.#config.timeoutMs} ms`);
      return all('transient', 'HTTP_EMAIL_NETWORK', (answer.error.code ?? answer.error.message).slice(0, 400));
    }
    const { status, text, header } = answer;

    if (status < 200 || status >= 300) {
      const delay = retryAfterMs(header('retry-after'), Date.now());
      if (delay !== null) this.#gate.pauseFor(delay);
      const v = verdictOfStatus(status, text, header('location'));
      if (v.verdict === 'fatal') return { fatal: { code: v.code, detail: v.detail }, results: [] };
      return all(v.kind, v.code, v.detail, delay ?? undefined);
    }
    let answers: unknown = null;
    try {
      answers = JSON.parse(text);
    } catch {
      // Handled below as an unreadable answer.
    }
    if (this.#single) answers = answers !== null && typeof answers === 'object' ? [answers] : null;
    return this.#perMessage(chunk, Array.isArray(answers) ? (answers as WireAnswer[]) : null);
  }

  /**
   * One result per message from the answers, by position. A message without a readable
   * answer is transient: the provider may have taken it, but only a retry can make sure
   * it is not lost (at worst that recipient gets it twice, the at-least-once of DESIGN §4).
   */
  #perMessage(chunk: readonly OutgoingEmail[], answers: readonly WireAnswer[] | null): ChunkOutcome {
    let fatal: { code: string; detail: string } | undefined;
    const results = chunk.map((m, i): SendResult => {
      const answer = answers?.[i];
      if (!answer || typeof answer !== 'object')
        return {
          messageId: m.messageId,
          ok: false,
          kind: 'transient',
          code: 'HTTP_EMAIL_BAD_RESPONSE',
          detail: 'The provider gave no readable answer',
        };
      const v = verdictOfErrorCode(answer);
      switch (v.verdict) {
        case 'accepted':
          return { messageId: m.messageId, ok: true, providerId: v.providerId };
        case 'failed':
          return { messageId: m.messageId, ok: false, kind: v.kind, code: v.code, detail: v.detail };
        case 'fatal':
          fatal ??= { code: v.code, detail: v.detail };
          return { messageId: m.messageId, ok: false, kind: 'transient', code: v.code, detail: v.detail };
        default:
          return assertUnreachable(v);
      }
    });
    return fatal ? { fatal, results } : { results };
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
