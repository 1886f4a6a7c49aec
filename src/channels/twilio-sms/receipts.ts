import { assertUnreachable } from '../../domain/errors.js';
import type { ReceiptHandler, ReceiptRequest } from '../provider.js';
import type { ReceiptEvent, ReceiptParse } from '../receipts.js';
import { callbackTime, readTwilioCallback, verifyTwilioCallback } from '../twilio/callbacks.js';
import type { TwilioConfig } from '../twilio/config.js';
import { deliveryErrors } from '../twilio/errors.js';

/** Twilio's outbound MessageStatus values that a status callback carries (the spec's message_enum_status). */
export const twilioMessageStatuses = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'read'] as const;
export type TwilioMessageStatus = (typeof twilioMessageStatuses)[number];

const isMessageStatus = (value: string | null): value is TwilioMessageStatus =>
  value !== null && (twilioMessageStatuses as readonly string[]).includes(value);

/**
 * Reads a Messages status callback (form-encoded: MessageSid, MessageStatus, ErrorCode, …)
 * into our events: delivered → delivered, read → read, undelivered/failed → failed with
 * `TWILIO_<ErrorCode>`; queued, sending and sent say nothing the ledger does not know.
 * The ledger row comes from the `m` query of the StatusCallback URL the adapter set.
 */
export function parseTwilioSmsReceipt(request: ReceiptRequest, now: Date = new Date()): ReceiptParse {
  const { params, message } = readTwilioCallback(request);
  const status = params.get('MessageStatus') ?? params.get('SmsStatus');
  if (status === null) return { ok: false, detail: 'MessageStatus is missing: this is not a Twilio message status callback' };
  const providerId = params.get('MessageSid') || params.get('SmsSid') || null;
  if (!message && !providerId) return { ok: false, detail: 'Neither the URL’s ledger key nor MessageSid says which message this is about' };
  // Statuses Twilio may add later (or inbound ones) are acknowledged and dropped, not refused: Twilio would retry a refusal.
  if (!isMessageStatus(status)) return { ok: true, events: [] };
  const at = callbackTime(params, now);
  const event = (type: ReceiptEvent['type']): ReceiptParse => ({ ok: true, events: [{ message, providerId, type, at }] });
  switch (status) {
    case 'queued':
    case 'sending':
    case 'sent':
      return { ok: true, events: [] };
    case 'delivered':
      return event('delivered');
    case 'read':
      return event('read');
    case 'undelivered':
    case 'failed': {
      const errorCode = params.get('ErrorCode')?.trim() || null;
      const detail = params.get('ErrorMessage') || (errorCode && deliveryErrors[errorCode]) || `Twilio reported the message ${status}`;
      const failed: ReceiptEvent = {
        message,
        providerId,
        type: 'failed',
        code: errorCode ? `TWILIO_${errorCode}` : `TWILIO_${status.toUpperCase()}`,
        detail,
        at,
        // 21610: the person replied STOP to this sender; Twilio will refuse every later message too.
        ...(errorCode === '21610' ? { recipient: 'blocked' as const } : {}),
      };
      return { ok: true, events: [failed] };
    }
    default:
      return assertUnreachable(status);
  }
}

/** Verifies (X-Twilio-Signature under the sender's auth token) and reads Twilio SMS status callbacks. */
export const twilioSmsReceipts: ReceiptHandler<TwilioConfig> = {
  verify: verifyTwilioCallback,
  parse: (request) => parseTwilioSmsReceipt(request),
};
