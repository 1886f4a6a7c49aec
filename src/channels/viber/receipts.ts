import { createHmac, timingSafeEqual } from 'node:crypto';
import type { ReceiptHandler, ReceiptRequest, SenderIdentity } from '../provider.js';
import type { ReceiptEvent, ReceiptEventType, ReceiptParse } from '../receipts.js';
import { parseViberJson, tokenOf, viberTokenOf } from './adapter.js';
import type { ViberConfig } from './config.js';

/**
 * Viber's callbacks read into our events. Viber posts every callback of a bot to its one
 * webhook, signed with `X-Viber-Content-Signature`: the hex HMAC-SHA256 of the raw body under
 * the bot's auth token.
 *
 * Receipts (delivered, seen, failed) carry the message_token and the user_id but not the
 * tracking_data the message was sent with (Viber returns that only with a person's reply), so
 * their events name the message by providerId and `message` is null. Viber sends one `seen`
 * when the person reads a run of unread messages, carrying the latest one's token: earlier
 * messages of that run get no `seen` of their own (a campaign sends one message a person, so
 * this costs little there).
 */

/** The signature Viber puts on a body, for the sandbox and for tests. */
export function viberSignature(authToken: string, rawBody: Buffer | string): string {
  return createHmac('sha256', authToken).update(rawBody).digest('hex');
}

/** Whether the body was signed with `authToken`, compared in constant time. */
export function verifyViberSignature(authToken: string, rawBody: Buffer, signature: string | undefined): boolean {
  if (typeof signature !== 'string' || !/^[0-9a-f]{64}$/i.test(signature.trim())) return false;
  const given = Buffer.from(signature.trim().toLowerCase(), 'hex');
  const expected = createHmac('sha256', authToken).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}

const receiptTypes = { delivered: 'delivered', seen: 'read', failed: 'failed' } as const satisfies Record<string, ReceiptEventType>;

/**
 * Callbacks that are valid but change nothing in the ledger: the webhook check, a person
 * opening the chat or writing to the bot, and `subscribed`. A subscription is an opt-in to
 * the bot, not to a campaign: it does not lift a suppression Herald recorded, which only a
 * person in Herald (or a new consent) should do, so no event is made of it.
 */
const quietEvents = new Set(['webhook', 'conversation_started', 'message', 'subscribed', 'client_status', 'action']);

const isReceiptType = (value: string): value is keyof typeof receiptTypes => Object.hasOwn(receiptTypes, value);

/** Reads one callback body into zero or one event. Never throws, whatever the body. */
export function parseViberCallback(rawBody: Buffer): ReceiptParse {
  let body: unknown;
  try {
    body = parseViberJson(rawBody.toString('utf8'));
  } catch {
    return { ok: false, detail: 'The body must be JSON' };
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return { ok: false, detail: 'The body must be a JSON object' };
  const b = body as Record<string, unknown>;
  if (typeof b.event !== 'string') return { ok: false, detail: 'event is missing' };
  const event = b.event;
  if (event === '') return { ok: false, detail: 'event is empty' };
  if (quietEvents.has(event)) return { ok: true, events: [] };
  // An event Viber adds later is acknowledged too, or Viber would retry it for an hour.
  if (!isReceiptType(event) && event !== 'unsubscribed') return { ok: true, events: [] };

  const at = typeof b.timestamp === 'number' && Number.isFinite(b.timestamp) ? new Date(b.timestamp) : null;
  if (!at || Number.isNaN(at.getTime())) return { ok: false, detail: 'timestamp must be milliseconds since the epoch' };

  if (event === 'unsubscribed') {
    if (typeof b.user_id !== 'string' || b.user_id === '') return { ok: false, detail: 'user_id is missing' };
    const unsubscribed: ReceiptEvent = {
      message: null,
      providerId: null,
      type: 'unsubscribed',
      recipient: 'blocked',
      address: b.user_id,
      at,
    };
    return { ok: true, events: [unsubscribed] };
  }

  const providerId = tokenOf(b.message_token);
  if (!providerId) return { ok: false, detail: 'message_token must be the integer Viber answered send_message with' };
  const type = receiptTypes[event];
  if (type === 'failed') {
    const detail = typeof b.desc === 'string' && b.desc !== '' ? b.desc.slice(0, 400) : 'Viber could not deliver the message';
    return { ok: true, events: [{ message: null, providerId, type, code: 'VIBER_FAILED', detail, at }] };
  }
  return { ok: true, events: [{ message: null, providerId, type, at }] };
}

/** verify() and parse() for the receipts route. */
export const viberReceipts: ReceiptHandler<ViberConfig> = {
  verify(request: ReceiptRequest, config: ViberConfig, sender: SenderIdentity): boolean {
    const token = viberTokenOf(config, sender);
    return token !== null && verifyViberSignature(token, request.rawBody, request.headers['x-viber-content-signature']);
  },
  parse(request: ReceiptRequest): ReceiptParse {
    return parseViberCallback(request.rawBody);
  },
};
