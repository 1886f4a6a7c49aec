import { assertUnreachable } from '../../domain/errors.js';
import { ledgerMetadataKey } from './adapter.js';

/**
 * Receipts from a Postmark-shaped provider: its webhooks (Delivery, Bounce, SpamComplaint,
 * Open, Click) read into our own event shape, so nothing vendor-shaped reaches the ledger.
 * Pure functions; verifying the webhook (Postmark uses HTTP basic auth on the URL) and
 * applying the events belong to the HTTP route that will receive them.
 */

export type ReceiptEventType = 'delivered' | 'bounced' | 'complained' | 'opened' | 'clicked';

export interface ReceiptEvent {
  /** The ledger row, from the Metadata the adapter sent; null when the payload has none. */
  readonly message: { readonly runId: number; readonly messageId: number } | null;
  /** The provider's MessageID, which the ledger keeps as providerId: the key when `message` is null. */
  readonly providerId: string | null;
  readonly type: ReceiptEventType;
  /** Bounces only: true when the address will never accept mail (suppress it), false for a soft bounce. */
  readonly hard?: boolean;
  readonly at: Date;
}

/** An event; `event: null` for a record that is valid but means nothing for the ledger; or why the payload is unreadable. */
export type ReceiptParse = { readonly ok: true; readonly event: ReceiptEvent | null } | { readonly ok: false; readonly detail: string };

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
  const value = (metadata as Record<string, unknown>)[ledgerMetadataKey];
  const m = typeof value === 'string' ? /^(\d+)\.(\d+)$/.exec(value) : null;
  if (!m) return null;
  const runId = Number(m[1]);
  const messageId = Number(m[2]);
  return Number.isSafeInteger(runId) && Number.isSafeInteger(messageId) ? { runId, messageId } : null;
}

/** Reads one webhook payload (already JSON-parsed) into our event. */
export function parseHttpEmailReceipt(payload: unknown): ReceiptParse {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload))
    return { ok: false, detail: 'The payload must be a JSON object' };
  const p = payload as Record<string, unknown>;
  const recordType = p.RecordType;
  // Delivery-type records we do not track (SubscriptionChange, Inbound, …) are acknowledged and dropped.
  if (!isRecordType(recordType))
    return typeof recordType === 'string' ? { ok: true, event: null } : { ok: false, detail: 'RecordType is missing' };

  const rawAt = p[timeFields[recordType]];
  const at = typeof rawAt === 'string' ? new Date(rawAt) : null;
  if (!at || Number.isNaN(at.getTime())) return { ok: false, detail: `${timeFields[recordType]} must be a timestamp` };
  const message = ledgerKeyOf(p.Metadata);
  const providerId = typeof p.MessageID === 'string' && p.MessageID !== '' ? p.MessageID : null;
  if (!message && !providerId) return { ok: false, detail: 'Neither Metadata nor MessageID says which message this is about' };
  const event = (type: ReceiptEventType, hard?: boolean): ReceiptParse => ({
    ok: true,
    event: hard === undefined ? { message, providerId, type, at } : { message, providerId, type, hard, at },
  });

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
      if (notBounces.has(type)) return { ok: true, event: null };
      return event('bounced', hardBounces.has(type) || p.Inactive === true);
    }
    default:
      return assertUnreachable(recordType);
  }
}
