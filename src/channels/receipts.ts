/**
 * Receipts in our words (DESIGN §3): what a provider's webhook says happened to a message
 * after it was handed over. Every provider's receipts.ts reads its payloads into these;
 * store/ledger/apply-receipts.ts applies them so a state never goes backwards.
 */

export type ReceiptEventType =
  | 'delivered'
  /** Seen by the person: Viber "seen", a push notification opened, a Telegram read. */
  | 'read'
  /** Email opened (tracking pixel or the provider's open tracking). */
  | 'opened'
  | 'clicked'
  /** Accepted by the provider, then not delivered (SMS undelivered, call busy/no-answer/failed). */
  | 'failed'
  | 'bounced'
  | 'complained'
  | 'unsubscribed';

/** What the receipt says about the recipient's address itself, beyond this message. */
export type RecipientVerdict =
  /** The person blocked the bot / unsubscribed from the sender (Telegram 403, Viber unsubscribed). */
  | 'blocked'
  /** A web push subscription the push service no longer knows (404/410). */
  | 'gone'
  /** A mobile push token FCM calls unregistered or invalid. */
  | 'invalid';

export interface ReceiptEvent {
  /** The ledger row, from the ledger key the adapter gave the provider; null when the payload has none. */
  readonly message: { readonly runId: number; readonly messageId: number } | null;
  /** The provider's id for the message (the ledger keeps it): the key when `message` is null. */
  readonly providerId: string | null;
  readonly type: ReceiptEventType;
  /** Bounces only: true when the address will never accept mail (suppress it), false for a soft bounce. */
  readonly hard?: boolean;
  /** Failures: the provider's code and text (e.g. Twilio 30003 "Unreachable destination handset"). */
  readonly code?: string;
  readonly detail?: string;
  readonly recipient?: RecipientVerdict;
  /**
   * For events about an address rather than one message (a person blocked the Telegram bot,
   * unsubscribed from the Viber account): the channel address, with `message` and
   * `providerId` null.
   */
  readonly address?: string;
  readonly at: Date;
}

/** Events read from one request (a webhook may carry several); or why the request is unreadable. */
export type ReceiptParse =
  { readonly ok: true; readonly events: readonly ReceiptEvent[] } | { readonly ok: false; readonly detail: string };

/** Reads a ledger key `<runId>.<id>` (see OutgoingCommon.ledgerKey); null when it is not one. */
export function parseLedgerKey(value: unknown): { runId: number; messageId: number } | null {
  const m = typeof value === 'string' ? /^(\d{1,15})\.(\d{1,15})$/.exec(value) : null;
  if (!m) return null;
  const runId = Number(m[1]);
  const messageId = Number(m[2]);
  return Number.isSafeInteger(runId) && Number.isSafeInteger(messageId) ? { runId, messageId } : null;
}
