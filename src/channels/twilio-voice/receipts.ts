import { assertUnreachable } from '../../domain/errors.js';
import type { ReceiptHandler, ReceiptRequest } from '../provider.js';
import type { ReceiptEvent, ReceiptParse } from '../receipts.js';
import { callbackTime, readTwilioCallback, verifyTwilioCallback } from '../twilio/callbacks.js';
import type { TwilioConfig } from '../twilio/config.js';

/** Twilio's CallStatus values (the spec's call_enum_status). */
export const twilioCallStatuses = ['queued', 'ringing', 'in-progress', 'completed', 'busy', 'no-answer', 'failed', 'canceled'] as const;
export type TwilioCallStatus = (typeof twilioCallStatuses)[number];

const isCallStatus = (value: string | null): value is TwilioCallStatus =>
  value !== null && (twilioCallStatuses as readonly string[]).includes(value);

/** The calls that ended without anyone answering, in our codes. */
const unanswered = {
  busy: { code: 'TWILIO_CALL_BUSY', detail: 'The line was busy' },
  'no-answer': { code: 'TWILIO_CALL_NO_ANSWER', detail: 'Nobody answered' },
  failed: { code: 'TWILIO_CALL_FAILED', detail: 'Twilio could not place the call' },
  canceled: { code: 'TWILIO_CALL_CANCELED', detail: 'The call was canceled before it was answered' },
} as const;

/**
 * Reads a call status callback (form-encoded: CallSid, CallStatus, Timestamp, …) into our
 * events: completed means the call was answered and ended → delivered; busy, no-answer,
 * failed and canceled → failed with TWILIO_CALL_<status>; queued, ringing and in-progress
 * are progress only. A CallStatus outside the spec's enum (the `initiated` event's own
 * "initiated") is acknowledged with no event: refusing it would only make Twilio log errors.
 */
export function parseTwilioVoiceReceipt(request: ReceiptRequest, now: Date = new Date()): ReceiptParse {
  const { params, message } = readTwilioCallback(request);
  const status = params.get('CallStatus');
  if (status === null) return { ok: false, detail: 'CallStatus is missing: this is not a Twilio call status callback' };
  const providerId = params.get('CallSid') || null;
  if (!message && !providerId) return { ok: false, detail: 'Neither the URL’s ledger key nor CallSid says which call this is about' };
  if (!isCallStatus(status)) return { ok: true, events: [] };
  const at = callbackTime(params, now);
  switch (status) {
    case 'queued':
    case 'ringing':
    case 'in-progress':
      return { ok: true, events: [] };
    case 'completed':
      return { ok: true, events: [{ message, providerId, type: 'delivered', at }] };
    case 'busy':
    case 'no-answer':
    case 'failed':
    case 'canceled': {
      const errorCode = params.get('ErrorCode')?.trim();
      const { code, detail } = unanswered[status];
      const event: ReceiptEvent = {
        message,
        providerId,
        type: 'failed',
        code,
        detail: errorCode ? `${detail} (Twilio error ${errorCode})` : detail,
        at,
      };
      return { ok: true, events: [event] };
    }
    default:
      return assertUnreachable(status);
  }
}

/** Verifies (X-Twilio-Signature under the sender's auth token) and reads Twilio call status callbacks. */
export const twilioVoiceReceipts: ReceiptHandler<TwilioConfig> = {
  verify: verifyTwilioCallback,
  parse: (request) => parseTwilioVoiceReceipt(request),
};
