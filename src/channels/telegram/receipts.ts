import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { ReceiptHandler, ReceiptRequest, SenderIdentity } from '../provider.js';
import type { ReceiptEvent, ReceiptParse } from '../receipts.js';
import { type TelegramConfig, botTokenOf } from './config.js';

/**
 * Telegram has no delivery receipts: a sendMessage that answers `ok` is all Herald ever
 * hears about that message. What it can hear is the bot's own webhook: when a person
 * blocks the bot, Telegram posts an Update with `my_chat_member` whose new status is
 * `kicked`, and from then on every send to that chat answers 403. Reading that update
 * lets the engine stop using the address before the next campaign fails on it.
 *
 * Telegram signs nothing; the webhook's only proof is the `secret_token` given to
 * setWebhook, echoed in the X-Telegram-Bot-Api-Secret-Token header of every update.
 */

/** The header Telegram puts the webhook's secret_token in. */
export const secretTokenHeader = 'x-telegram-bot-api-secret-token';

/**
 * The secret_token of a sender's webhook: its `webhookSecret` credential, or, when it has
 * none, HMAC-SHA256 of a fixed label under the bot token, base64url (43 characters of
 * Telegram's allowed `A-Za-z0-9_-`). Derived, it needs no storage, changes when the token
 * is revoked and cannot be guessed without the token; null when the sender has no bot.
 */
export function webhookSecretOf(config: TelegramConfig, sender: SenderIdentity): string | null {
  const own = sender.credentials.webhookSecret?.trim();
  if (own) return own;
  const token = botTokenOf(config, sender);
  return token === null ? null : createHmac('sha256', token).update('herald telegram webhook secret').digest('base64url');
}

/** Constant-time equality of two strings of any lengths: both are hashed first, so the time says nothing about either. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether the update carries the sender's webhook secret in X-Telegram-Bot-Api-Secret-Token. */
export function verifyTelegramUpdate(request: ReceiptRequest, config: TelegramConfig, sender: SenderIdentity): boolean {
  const expected = webhookSecretOf(config, sender);
  const given = request.headers[secretTokenHeader];
  if (expected === null || typeof given !== 'string' || given === '') return false;
  return request.method.toUpperCase() === 'POST' && sameSecret(given, expected);
}

/** Chat types in which the bot being removed (status `left`) also means it can no longer post there. */
const sharedChats = new Set(['group', 'supergroup', 'channel']);

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Reads one Update into events. Only `my_chat_member` means anything here:
 *
 * - new status `kicked` (a person blocked the bot; a group or channel banned it), or `left`
 *   in a group or channel (the bot was removed) → `unsubscribed`, recipient `blocked`,
 *   about the chat's address rather than a message;
 * - any other status, including `member` after `kicked` (the person unblocked the bot and
 *   pressed Start), → no event: unblocking is the person coming back, which is a contact
 *   edit (or the bot's own /start handling), not a receipt about something Herald sent.
 *
 * Every other update (messages, callback queries, …) is acknowledged with no events, so
 * Telegram does not retry it.
 */
export function parseTelegramUpdate(rawBody: Buffer): ReceiptParse {
  let update: unknown;
  try {
    update = JSON.parse(rawBody.toString('utf8'));
  } catch {
    return { ok: false, detail: 'The body must be a JSON Update' };
  }
  if (!isObject(update) || !Number.isInteger(update.update_id))
    return { ok: false, detail: 'The body must be an Update with an update_id' };
  const change = update.my_chat_member;
  if (change === undefined) return { ok: true, events: [] };
  if (!isObject(change) || !isObject(change.chat) || !isObject(change.new_chat_member))
    return { ok: false, detail: 'my_chat_member must carry chat and new_chat_member' };
  const chatId = change.chat.id;
  if (typeof chatId !== 'number' || !Number.isSafeInteger(chatId))
    return { ok: false, detail: 'my_chat_member.chat.id must be an integer' };
  const status = change.new_chat_member.status;
  const removed = status === 'kicked' || (status === 'left' && sharedChats.has(String(change.chat.type)));
  if (!removed) return { ok: true, events: [] };
  const at = typeof change.date === 'number' && Number.isFinite(change.date) ? new Date(change.date * 1000) : new Date();
  const event: ReceiptEvent = { type: 'unsubscribed', recipient: 'blocked', address: String(chatId), message: null, providerId: null, at };
  return { ok: true, events: [event] };
}

/** The receipts route's view of Telegram: the secret-token check and the Update reader. */
export const telegramReceipts: ReceiptHandler<TelegramConfig> = {
  verify: verifyTelegramUpdate,
  parse: (request) => parseTelegramUpdate(request.rawBody),
};
