import type { ReceiptHandler, ReceiptRequest, SenderIdentity } from '../provider.js';
import { type ReceiptEvent, type ReceiptEventType, type ReceiptParse, parseLedgerKey } from '../receipts.js';
import { type WebhookConfig, defaultWebhookConfig, minSecretLength } from './config.js';
import { signatureHeader, verifyWebhookSignature } from './signature.js';

/**
 * Receipts from a webhook endpoint: the receiving system tells Herald what became of the
 * messages it was posted.
 *
 *     POST /v1/receipts/webhook/<sender id>
 *     Content-Type: application/json
 *     Herald-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 *     {
 *       "events": [
 *         { "message": "12.3456", "type": "delivered", "at": "2026-12-02T10:15:00Z" },
 *         { "message": "12.3457", "type": "failed", "code": "NO_DEVICE", "detail": "The contact has no device" }
 *       ]
 *     }
 *
 * - The signature is the one Herald puts on its own requests (signature.ts), made with the
 *   same sender secret over the exact body bytes, and no more than 300 s away from Herald's
 *   clock. A request that fails it is refused whole (401) and changes nothing.
 * - `events`: 0 to 1,000 entries, applied all or none: one malformed entry refuses the
 *   request (400, naming the entry and the field), so a receiver finds its bug at once
 *   rather than losing some receipts quietly.
 * - `message` (required): the message's `Herald-Message` header (also its `Idempotency-Key`),
 *   `<runId>.<messageId>`.
 * - `type` (required): `delivered` | `read` | `clicked` | `failed` (accepted, then could not
 *   be delivered) | `unsubscribed` (the contact asked to hear no more through this channel).
 * - `at` (optional): when it happened, ISO 8601 with a time zone (`Z` or `±hh:mm`); default:
 *   when Herald received the receipt.
 * - `code` (optional, ≤ 64 characters) and `detail` (optional, ≤ 1,000): the receiver's own
 *   reason, kept on a failed message.
 * - Other fields, in the body or in an entry, are ignored, so a receiver may send more.
 *
 * Receipts are idempotent and may come in any order: a repeated event changes nothing and a
 * late `delivered` never overwrites `read` (DESIGN §3), so a receiver may safely send one
 * again. Answered 2xx once applied; 503 with Retry-After when a receipt overtook the record
 * of its own send; a receiver should try again on 429, 5xx or no answer (signing anew), and
 * not on another 4xx. The sandbox (sandbox.ts) is a receiver that does all of this.
 */

/** Entries one request may carry. */
export const maxReceiptEvents = 1_000;

const eventTypes: ReadonlySet<string> = new Set<ReceiptEventType>(['delivered', 'read', 'clicked', 'failed', 'unsubscribed']);

/** The body a receiver posts, as the doc comment above describes it. */
export interface WebhookReceiptBody {
  readonly events: readonly {
    readonly message: string;
    readonly type: 'delivered' | 'read' | 'clicked' | 'failed' | 'unsubscribed';
    readonly at?: string;
    readonly code?: string;
    readonly detail?: string;
  }[];
}

const isoTime = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

function eventOf(entry: unknown, at0: Date): ReceiptEvent | string {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) return 'must be an object';
  const e = entry as Record<string, unknown>;
  const message = parseLedgerKey(e.message);
  if (!message) return 'message must be the Herald-Message header of the message, "<runId>.<messageId>"';
  if (typeof e.type !== 'string' || !eventTypes.has(e.type)) return 'type must be delivered, read, clicked, failed or unsubscribed';
  let at = at0;
  if (e.at !== undefined) {
    at = typeof e.at === 'string' && isoTime.test(e.at) ? new Date(e.at) : new Date(Number.NaN);
    if (Number.isNaN(at.getTime())) return 'at must be an ISO 8601 time with a time zone, e.g. 2026-12-02T10:15:00Z';
  }
  if (e.code !== undefined && (typeof e.code !== 'string' || e.code.length > 64)) return 'code must be a string of at most 64 characters';
  if (e.detail !== undefined && (typeof e.detail !== 'string' || e.detail.length > 1000))
    return 'detail must be a string of at most 1,000 characters';
  return {
    message,
    providerId: null,
    type: e.type as ReceiptEventType,
    at,
    ...(e.code !== undefined ? { code: e.code as string } : {}),
    ...(e.detail !== undefined ? { detail: e.detail as string } : {}),
  };
}

/** Reads a receiver's receipt body into our events, all or none; `now` stands for a missing `at`. */
export function parseWebhookReceipts(rawBody: Buffer | string, now: Date = new Date()): ReceiptParse {
  let body: unknown;
  try {
    body = JSON.parse(typeof rawBody === 'string' ? rawBody : rawBody.toString('utf8'));
  } catch {
    return { ok: false, detail: 'The body must be JSON' };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, detail: 'The body must be a JSON object' };
  const events = (body as { events?: unknown }).events;
  if (!Array.isArray(events)) return { ok: false, detail: 'events must be an array' };
  if (events.length > maxReceiptEvents)
    return { ok: false, detail: `events may hold at most ${maxReceiptEvents} entries, not ${events.length}: split them over requests` };
  const out: ReceiptEvent[] = [];
  for (const [i, entry] of events.entries()) {
    const event = eventOf(entry, now);
    if (typeof event === 'string') return { ok: false, detail: `events[${i}]: ${event}` };
    out.push(event);
  }
  return { ok: true, events: out };
}

/** Whether a receipt request is signed by the sender's secret within the tolerance of our clock. */
export function verifyWebhookReceipt(
  request: ReceiptRequest,
  config: WebhookConfig,
  sender: SenderIdentity,
  now: Date = new Date(),
): boolean {
  const secret = sender.credentials.secret;
  // A sender saved without a proper secret must not accept receipts anyone could sign.
  if (!secret || secret.length < minSecretLength) return false;
  return verifyWebhookSignature(
    secret,
    request.headers[signatureHeader],
    request.rawBody,
    now,
    (config ?? defaultWebhookConfig).toleranceSeconds,
  );
}

export const webhookReceipts: ReceiptHandler<WebhookConfig> = {
  verify: (request, config, sender) => verifyWebhookReceipt(request, config, sender),
  parse: (request) => parseWebhookReceipts(request.rawBody),
};
