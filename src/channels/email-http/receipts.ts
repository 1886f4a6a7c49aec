import { createHash, timingSafeEqual } from 'node:crypto';
import { assertUnreachable } from '../../domain/errors.js';
import type { ProcessReceipts, ReceiptRequest } from '../provider.js';
import { type ReceiptEvent, type ReceiptEventType, type ReceiptParse, parseLedgerKey } from '../receipts.js';
import { ledgerMetadataKey } from './adapter.js';
import type { HttpEmailWebhookAuth } from './config.js';

/**
 * Receipts from a Postmark-shaped provider: its webhooks (Delivery, Bounce, SpamComplaint,
 * Open, Click), one record a request, read into our ReceiptEvent so nothing vendor-shaped
 * reaches the ledger.
 *
 *     POST /v1/receipts/postmark/default
 *     Authorization: Basic base64(<EMAIL_HTTP_WEBHOOK_USER>:<EMAIL_HTTP_WEBHOOK_PASSWORD>)
 *     Content-Type: application/json
 *
 *     { "RecordType": "Bounce", "Type": "HardBounce", "MessageID": "…", "BouncedAt": "…",
 *       "Metadata": { "herald_message": "12.3456" }, … }
 *
 * Postmark signs nothing: a webhook is secured by HTTP basic auth credentials written into
 * its URL (`https://user:password@herald.example.com/v1/receipts/postmark/default`), which
 * Postmark sends as the Authorization header. The row is found by the Metadata the adapter
 * sent (adapter.ts ledgerMetadataKey), else by the provider's MessageID.
 */

/** The provider's name in the receipt URL. */
export const httpEmailReceiptProvider = 'postmark';

/** Bounce types after which the provider deactivates the address. */
const hardBounces = new Set(['HardBounce', 'BadEmailAddress', 'ManuallyDeactivated']);

/** Bounce records that are not about delivery failing: auto-replies, subscription mail, challenges, relay tests. */
const notBounces = new Set([
  'AutoResponder',
  'Subscribe',
  'Unsubscribe',
  'AddressChange',
  'OpenRelayTest',
  'VirusNotification',
  'ChallengeVerification',
]);

const timeFields = {
  Delivery: 'DeliveredAt',
  Bounce: 'BouncedAt',
  SpamComplaint: 'BouncedAt',
  Open: 'ReceivedAt',
  Click: 'ReceivedAt',
} as const;

type RecordType = keyof typeof timeFields;

const isRecordType = (value: unknown): value is RecordType => typeof value === 'string' && Object.hasOwn(timeFields, value);

/** The ledger key `<runId>.<id>` the adapter put in Metadata, or null. */
export function ledgerKeyOf(metadata: unknown): { runId: number; messageId: number } | null {
  if (metadata === null || typeof metadata !== 'object') return null;
  return parseLedgerKey((metadata as Record<string, unknown>)[ledgerMetadataKey]);
}

/** Reads one webhook payload (already JSON-parsed) into our events: one, or none for a record that means nothing for the ledger. */
export function parseHttpEmailReceipt(payload: unknown): ReceiptParse {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    return { ok: false, detail: 'The payload must be a JSON object' };
  const p = payload as Record<string, unknown>;
  const recordType = p.RecordType;
  // Delivery-type records we do not track (SubscriptionChange, Inbound, …) are acknowledged and dropped.
  if (!isRecordType(recordType))
    return typeof recordType === 'string' ? { ok: true, events: [] } : { ok: false, detail: 'RecordType is missing' };

  const rawAt = p[timeFields[recordType]];
  const at = typeof rawAt === 'string' ? new Date(rawAt) : null;
  if (!at || Number.isNaN(at.getTime())) return { ok: false, detail: `${timeFields[recordType]} must be a timestamp` };
  const message = ledgerKeyOf(p.Metadata);
  const providerId = typeof p.MessageID === 'string' && p.MessageID !== '' ? p.MessageID : null;
  if (!message && !providerId) return { ok: false, detail: 'Neither Metadata nor MessageID says which message this is about' };
  const event = (type: ReceiptEventType, hard?: boolean): ReceiptParse => {
    const one: ReceiptEvent = hard === undefined ? { message, providerId, type, at } : { message, providerId, type, hard, at };
    return { ok: true, events: [one] };
  };

  switch (recordType) {
    case 'Delivery':
      return event('delivered');
    case 'Open':
      return event('opened');
    case 'Click':
      return event('clicked');
    case 'SpamComplaint':
      return event('complained');
    case 'Bounce': {
      const type = typeof p.Type === 'string' ? p.Type : 'Unknown';
      if (type === 'SpamComplaint') return event('complained');
      if (notBounces.has(type)) return { ok: true, events: [] };
      return event('bounced', hardBounces.has(type) || p.Inactive === true);
    }
    default:
      return assertUnreachable(recordType);
  }
}

const digest = (value: Buffer | string) => createHash('sha256').update(value).digest();

/**
 * Whether an Authorization header carries exactly these basic auth credentials. Compared
 * as SHA-256 digests with timingSafeEqual, so neither the length nor the content of the
 * expected credentials shows in the time taken.
 */
export function basicAuthMatches(header: string | undefined, auth: HttpEmailWebhookAuth): boolean {
  const m = header === undefined ? null : /^Basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  const given = digest(m ? Buffer.from(m[1]!, 'base64') : Buffer.alloc(0));
  const expected = digest(`${auth.user}:${auth.password}`);
  return timingSafeEqual(given, expected) && m !== null;
}

/** Reads one webhook request's JSON body. */
export function parseHttpEmailReceiptRequest(request: ReceiptRequest): ReceiptParse {
  let payload: unknown;
  try {
    payload = JSON.parse(request.rawBody.toString('utf8'));
  } catch {
    return { ok: false, detail: 'The body must be a JSON object' };
  }
  return parseHttpEmailReceipt(payload);
}

/** The receipt route's handler for this process's HTTP email provider, checking these credentials. */
export function httpEmailReceipts(auth: HttpEmailWebhookAuth): ProcessReceipts {
  return {
    provider: httpEmailReceiptProvider,
    channel: 'email',
    verify: (request) => basicAuthMatches(request.headers.authorization, auth),
    parse: parseHttpEmailReceiptRequest,
  };
}
