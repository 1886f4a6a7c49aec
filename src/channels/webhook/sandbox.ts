import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { Ring } from '../sandbox-kit/ring.js';
import type { WebhookReceiptBody } from './receipts.js';
import { maxReceiptEvents } from './receipts.js';
import { checkWebhookSignature, signWebhook } from './signature.js';

/**
 * The sandbox webhook receiver (DESIGN §1): a loopback endpoint that does what a careful
 * receiver of Herald's webhooks should do, so the demo and the tests exercise the real
 * adapter and the real receipt route:
 *
 * - `POST /hook` verifies Herald-Signature with its own secret (401 otherwise) and
 *   de-duplicates by Idempotency-Key: a repeat is answered as the first time (same id,
 *   `Idempotent-Replayed: true`) and counted as a duplicate, never accepted twice.
 * - Faults (SandboxFaults) are decided per message from a seeded hash of its idempotency
 *   key, not from one random stream, so the same messages fail whatever the order their
 *   requests arrive in and a test with a fixed seed counts them exactly. A transient fault
 *   hashes the attempt too, so a retry can pass: it answers 429 with Retry-After or 503,
 *   half and half. A permanent fault answers 410 (recipient gone) on every attempt.
 * - After `receiptDelayMs` it posts signed receipts (receipts.ts) to `receiptUrl()`, up to
 *   1,000 events a request: `failed` for the undelivered fraction, else `delivered`, then
 *   `read` for the read fraction. A 429, 5xx or no answer is tried again, honouring
 *   Retry-After, as the receipts doc asks of every receiver.
 *
 * Plain node:http, not Fastify: a benchmark pushes a million messages through it, and the
 * receiver's cost must stay small beside the sender's.
 */

export interface WebhookSandboxOptions extends Partial<SandboxOptions> {
  /** The secret it verifies and signs with (default: a fresh random one, returned in `secret`). */
  readonly secret?: string;
  /** Seeds the fault hash; the same seed fails the same messages (default 1). */
  readonly seed?: number;
  /** Retry-After, in seconds, on its 429 answers (default 1). */
  readonly retryAfterSeconds?: number;
  /** Messages kept whole for `messages()` (default 10,000); beyond, only the counts and the seen keys remain. */
  readonly keepMessages?: number;
}

export interface WebhookSandbox extends SandboxServer {
  /** `${url}/hook`: the endpoint a webhook sender's `url` names. */
  readonly hookUrl: string;
  readonly secret: string;
  /** Requests to the hook, whatever their answer. */
  readonly requests: number;
  /** Requests refused for their signature. */
  readonly refused: number;
  /** Receipt events posted (2xx answers), and receipt requests given up on (refused, or still failing after 4 tries). */
  readonly receiptsPosted: number;
  readonly receiptFailures: number;
}

const defaultKeepMessages = 10_000;
/** Tries per receipt request, and the longest Retry-After between them it waits out. */
const receiptAttempts = 4;
const maxReceiptWaitMs = 5_000;
/** A receiver has no reason to take more; a bigger body is refused unread. */
const maxBodyBytes = 1024 * 1024;

/** FNV-1a over the text, then murmur3's finaliser: a uniform 32-bit hash, as a fraction from 0 to 1. */
function unit(seed: number, text: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 2 ** 32;
}

/** Who the payload is for, where Herald's payload says it (`to`, `contact.id` or `contactId`). */
function recipientOf(payload: Record<string, unknown>): string {
  const contact = payload.contact;
  const id =
    payload.to ?? (contact !== null && typeof contact === 'object' ? (contact as { id?: unknown }).id : undefined) ?? payload.contactId;
  return typeof id === 'string' || typeof id === 'number' ? String(id) : '';
}

type PendingEvent = WebhookReceiptBody['events'][number];

/** Starts the sandbox receiver on loopback (port 0 picks a free one). */
export async function startWebhookSandbox(options: WebhookSandboxOptions = {}): Promise<WebhookSandbox> {
  const host = options.host ?? '127.0.0.1';
  const secret = options.secret ?? `whsec_${randomBytes(24).toString('base64url')}`;
  const seed = options.seed ?? 1;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  const receiptUrl = options.receiptUrl ?? (() => null);
  const receiptDelayMs = options.receiptDelayMs ?? 5;
  const keepMessages = Math.max(1, options.keepMessages ?? defaultKeepMessages);
  let faults: SandboxFaults = {
    latencyMs: options.latencyMs,
    transientRate: options.transientRate,
    permanentRate: options.permanentRate,
    undeliveredRate: options.undeliveredRate,
    readRate: options.readRate,
  };

  /** Every idempotency key accepted, with the id it was answered: how repeats are recognised. */
  const seen = new Map<string, string>();
  /** Transient answers given per key not yet accepted, so each attempt draws anew. */
  const attempts = new Map<string, number>();
  /** The latest accepted messages. */
  const kept = new Ring<SandboxMessage>(keepMessages);
  let requests = 0;
  let refused = 0;
  let duplicates = 0;
  let receiptsPosted = 0;
  let receiptFailures = 0;

  // Receipts wait in one queue and go out together after the delay, as a receiver batches them.
  let queue: PendingEvent[] = [];
  let flushTimer: { readonly timer: NodeJS.Timeout; readonly done: () => void } | null = null;
  const inFlight = new Set<Promise<void>>();

  let closed = false;

  /**
   * Posts one receipt request as a careful receiver would: signed anew on each attempt, and
   * tried again on 429, 5xx or no answer (Herald answers 503 with Retry-After when a receipt
   * overtakes the record of its own send), up to 4 attempts.
   */
  const post = async (events: readonly PendingEvent[]): Promise<void> => {
    const body = JSON.stringify({ events } satisfies WebhookReceiptBody);
    for (let attempt = 0; attempt < receiptAttempts && !closed; attempt++) {
      const url = receiptUrl();
      if (url === null) return;
      let wait: number;
      try {
        const res = await request(url, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            'User-Agent': 'Herald-Sandbox-Webhook/1',
            'Herald-Signature': signWebhook(secret, body),
          },
          body,
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) {
          receiptsPosted += events.length;
          return;
        }
        if (res.statusCode !== 429 && res.statusCode < 500) break;
        const header = res.headers['retry-after'];
        const seconds = Number(Array.isArray(header) ? header[0] : header);
        wait = Number.isFinite(seconds) && seconds >= 0 ? Math.min(seconds * 1000, maxReceiptWaitMs) : 250 * 2 ** attempt;
      } catch {
        wait = 250 * 2 ** attempt;
      }
      if (attempt + 1 < receiptAttempts) await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
    receiptFailures++;
  };

  const flush = async (): Promise<void> => {
    flushTimer = null;
    const events = queue;
    queue = [];
    for (let i = 0; i < events.length; i += maxReceiptEvents) await post(events.slice(i, i + maxReceiptEvents));
  };

  const track = (work: Promise<void>): void => {
    inFlight.add(work);
    void work.then(() => inFlight.delete(work));
  };

  const scheduleReceipts = (key: string, acceptedAt: number): void => {
    if (receiptUrl() === null) return;
    const at = new Date(acceptedAt + receiptDelayMs).toISOString();
    if (unit(seed, `undelivered:${key}`) < (faults.undeliveredRate ?? 0))
      queue.push({ message: key, type: 'failed', at, code: 'SANDBOX_UNDELIVERED', detail: 'The sandbox was asked to fail this delivery' });
    else {
      queue.push({ message: key, type: 'delivered', at });
      if (unit(seed, `read:${key}`) < (faults.readRate ?? 0)) queue.push({ message: key, type: 'read', at });
    }
    if (flushTimer === null) {
      let done!: () => void;
      const fired = new Promise<void>((resolve) => (done = resolve));
      flushTimer = { timer: setTimeout(() => void flush().finally(done), receiptDelayMs), done };
      track(fired);
    }
  };

  /** Decides the answer at once, so two concurrent repeats of one key cannot both be accepted. */
  const answer = (req: IncomingMessage, raw: Buffer): { status: number; body: unknown; headers?: Record<string, string> } => {
    const check = checkWebhookSignature(secret, req.headers['herald-signature'] as string | undefined, raw);
    if (!check.ok) {
      refused++;
      return { status: 401, body: { error: 'invalid_signature', detail: check.detail } };
    }
    const key = req.headers['idempotency-key'];
    if (typeof key !== 'string' || key === '') return { status: 400, body: { error: 'missing_idempotency_key' } };
    let payload: unknown;
    try {
      payload = JSON.parse(raw.toString('utf8'));
    } catch {
      return { status: 400, body: { error: 'invalid_json' } };
    }
    if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) return { status: 400, body: { error: 'not_an_object' } };

    const earlier = seen.get(key);
    if (earlier !== undefined) {
      duplicates++;
      return { status: 200, body: { id: earlier }, headers: { 'Idempotent-Replayed': 'true' } };
    }
    const attempt = attempts.get(key) ?? 0;
    if (unit(seed, `transient:${attempt}:${key}`) < (faults.transientRate ?? 0)) {
      attempts.set(key, attempt + 1);
      return unit(seed, `throttle:${attempt}:${key}`) < 0.5
        ? { status: 429, body: { error: 'rate_limited' }, headers: { 'Retry-After': retryAfter } }
        : { status: 503, body: { error: 'unavailable' } };
    }
    if (unit(seed, `permanent:${key}`) < (faults.permanentRate ?? 0)) {
      attempts.delete(key);
      return { status: 410, body: { error: 'recipient_gone' } };
    }

    attempts.delete(key);
    const providerId = `whmsg_${seen.size + 1}`;
    seen.set(key, providerId);
    const now = Date.now();
    const p = payload as Record<string, unknown>;
    kept.push({
      channel: 'webhook',
      to: recipientOf(p),
      ledgerKey: key,
      providerId,
      summary: typeof p.event === 'string' ? p.event : raw.toString('utf8', 0, 80),
      receivedAt: new Date(now).toISOString(),
    });
    scheduleReceipts(key, now);
    return { status: 200, body: { id: providerId } };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/hook') {
      req.resume();
      return replyJson(res, 404, { error: 'not_found', detail: 'Sandbox: only POST /hook is served' });
    }
    if (req.method !== 'POST') {
      req.resume();
      return replyJson(res, 405, { error: 'method_not_allowed' }, { Allow: 'POST' });
    }
    requests++;
    collectBody(req, maxBodyBytes, (body, bytes) => {
      const a = bytes > maxBodyBytes ? { status: 413, body: { error: 'too_large' } } : answer(req, body);
      const send = () => replyJson(res, a.status, a.body, 'headers' in a ? a.headers : {});
      const latency = faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(send, latency);
      else send();
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  const url = listening.url;

  return {
    url,
    hookUrl: `${url}/hook`,
    secret,
    get accepted() {
      return seen.size;
    },
    get duplicates() {
      return duplicates;
    },
    get requests() {
      return requests;
    },
    get refused() {
      return refused;
    },
    get receiptsPosted() {
      return receiptsPosted;
    },
    get receiptFailures() {
      return receiptFailures;
    },
    messages: () => kept.toArray(),
    setFaults(next: SandboxFaults) {
      faults = { ...next };
    },
    async drainReceipts() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
    },
    close: () => {
      // Receipts not yet posted are dropped; a drainReceipts() waiting on them returns.
      closed = true;
      if (flushTimer !== null) {
        clearTimeout(flushTimer.timer);
        flushTimer.done();
      }
      flushTimer = null;
      queue = [];
      return listening.close();
    },
  };
}
