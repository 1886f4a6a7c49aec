import { Pool, request } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingTelegram, ProviderFatalError, type SendResult } from '../channel.js';
import type { SenderIdentity } from '../provider.js';
import type { RecipientVerdict } from '../receipts.js';
import { type TelegramConfig, botTokenOf, botTokenPattern } from './config.js';
import { webhookSecretOf } from './receipts.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate } from '../retry-after.js';
import { Slots } from '../slots.js';

/** One inline keyboard button: a link (the only kind a broadcast has, as nobody handles callbacks). */
export interface WireButton {
  readonly text: string;
  readonly url: string;
}

/** The sendMessage parameters we send (Bot API field names). */
export interface WireSendMessage {
  readonly chat_id: number | string;
  readonly text: string;
  readonly parse_mode?: 'HTML' | 'MarkdownV2';
  readonly link_preview_options?: { readonly is_disabled: boolean };
  readonly reply_markup?: { readonly inline_keyboard: readonly (readonly WireButton[])[] };
}

/** Every Bot API answer: `ok` with a result, or an error code, a description and maybe parameters. */
export interface WireAnswer {
  readonly ok?: boolean;
  readonly result?: unknown;
  readonly error_code?: number;
  readonly description?: string;
  readonly parameters?: { readonly retry_after?: number; readonly migrate_to_chat_id?: number };
}

/** What one answer means for us; nothing vendor-shaped passes this point. */
export type TelegramVerdict =
  | { readonly verdict: 'accepted'; readonly messageId: number }
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly retryAfterMs?: number;
      readonly recipient?: RecipientVerdict;
    }
  /** The bot cannot send at all (token revoked, malformed): ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

/** Telegram's limit of buttons in one keyboard row. */
const buttonsPerRow = 8;

/** 403 descriptions that mean the chat is closed to this bot for good, until the person (or group) lets it back. */
const blockedDescriptions = /blocked by the user|user is deactivated|bot was kicked|bot is not a member/i;

/**
 * The DESIGN §5 preflight reason for a bot that cannot send: a fatal error under this code
 * fails the campaign with the reason the person also sees before launch.
 */
export const botBlockedCode = 'BOT_BLOCKED';

function readAnswer(body: string): WireAnswer | null {
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as WireAnswer) : null;
  } catch {
    // Proxies answer in HTML; the status alone decides.
    return null;
  }
}

/**
 * Maps one answer of sendMessage (HTTP status and body) to our verdict. Telegram puts the
 * same code in the status and in `error_code`; the reason is only in `description`
 * ("Forbidden: bot was blocked by the user"), so 400 and 403 are told apart by its words.
 *
 * TELEGRAM_PARSE ("can't parse entities") is permanent for the message but is the
 * template's fault (HTML or MarkdownV2 that does not parse, often a contact's name with a
 * `<` or `.` in it): every recipient with the same text fails alike, which the engine's
 * failure-rate check turns into a paused campaign rather than a silent loss.
 */
export function verdictOfAnswer(status: number, body: string): TelegramVerdict {
  const answer = readAnswer(body);
  if (status >= 200 && status < 300 && answer?.ok === true) {
    const result = answer.result as { message_id?: unknown } | null | undefined;
    if (typeof result?.message_id === 'number') return { verdict: 'accepted', messageId: result.message_id };
  }
  const errorCode = typeof answer?.error_code === 'number' ? answer.error_code : status;
  const said = (typeof answer?.description === 'string' ? answer.description : `HTTP ${status}`).slice(0, 300);
  const detail = `${said} (Telegram ${errorCode})`;
  const failed = (kind: 'transient' | 'permanent', code: string, extra: { retryAfterMs?: number; recipient?: RecipientVerdict } = {}) =>
    ({ verdict: 'failed', kind, code, detail, ...extra }) as const;

  if (status >= 200 && status < 300)
    // Telegram may have sent it: only a retry makes sure the message is not lost.
    return failed('transient', 'TELEGRAM_BAD_RESPONSE');
  switch (true) {
    case errorCode === 401:
      return {
        verdict: 'fatal',
        code: botBlockedCode,
        detail: `Telegram refused the bot token (${detail}): it was revoked or is wrong; give the sender a new one from @BotFather`,
      };
    case errorCode === 404 || (status >= 300 && status < 400):
      return {
        verdict: 'fatal',
        code: botBlockedCode,
        detail: `Telegram does not know this bot (${detail}): the token is malformed, or TELEGRAM_API_URL is wrong`,
      };
    case errorCode === 403:
      return blockedDescriptions.test(said)
        ? failed('permanent', 'TELEGRAM_BLOCKED', { recipient: 'blocked' })
        : failed('permanent', 'TELEGRAM_FORBIDDEN');
    case errorCode === 429 || errorCode === 420: {
      const seconds = answer?.parameters?.retry_after;
      return failed(
        'transient',
        'TELEGRAM_RATE_LIMITED',
        typeof seconds === 'number' && seconds >= 0 ? { retryAfterMs: Math.ceil(seconds * 1000) } : {},
      );
    }
    case errorCode >= 500 || errorCode === 408:
      return failed('transient', 'TELEGRAM_UNAVAILABLE');
    case errorCode === 400: {
      const migrated = answer?.parameters?.migrate_to_chat_id;
      // The group became a supergroup with a new id: the old address is dead; the new one is a contact edit.
      if (typeof migrated === 'number')
        return { ...failed('permanent', 'TELEGRAM_CHAT_MIGRATED'), detail: `${detail}; the chat is now ${migrated}` };
      if (/can't parse entities/i.test(said)) return failed('permanent', 'TELEGRAM_PARSE');
      if (/chat not found|PEER_ID_INVALID|user not found/i.test(said)) return failed('permanent', 'TELEGRAM_CHAT_NOT_FOUND');
      if (/message is too long|text is empty/i.test(said)) return failed('permanent', 'TELEGRAM_TEXT_LENGTH');
      return failed('permanent', 'TELEGRAM_BAD_REQUEST');
    }
    default:
      return failed('permanent', 'TELEGRAM_REJECTED');
  }
}

/** Our message as sendMessage parameters. A decimal chat id goes as a number (Telegram's ids fit in 52 bits); `@channel` as a string. */
export function toWireMessage(m: OutgoingTelegram, config: Pick<TelegramConfig, 'linkPreviews'>): WireSendMessage {
  const chatId = /^-?\d{1,16}$/.test(m.to) && Number.isSafeInteger(Number(m.to)) ? Number(m.to) : m.to;
  const rows: WireButton[][] = [];
  for (let i = 0; i < m.buttons.length; i += buttonsPerRow)
    rows.push(m.buttons.slice(i, i + buttonsPerRow).map((b) => ({ text: b.text, url: b.url })));
  return {
    chat_id: chatId,
    text: m.text,
    ...(m.parseMode !== null ? { parse_mode: m.parseMode } : {}),
    ...(config.linkPreviews ? {} : { link_preview_options: { is_disabled: true } }),
    ...(rows.length > 0 ? { reply_markup: { inline_keyboard: rows } } : {}),
  };
}

/** Removes the bot token from a text that may have come from the network stack, in case it quoted the URL. */
function redact(text: string, token: string): string {
  return text.split(token).join('<bot token>');
}

/**
 * Telegram over the Bot API: one `POST {base}/bot<token>/sendMessage` per message (the API
 * has no batch call), many in flight at once through an undici Pool of the adapter's own.
 * One adapter is one bot: the sender's `botToken`, else TELEGRAM_BOT_TOKEN.
 *
 * Telegram has no idempotency key, so a message re-sent after a crash or a timeout reaches
 * the person again: `idempotent: false`. The providerId is `<chat id>:<message_id>`, as a
 * message id is unique only within its chat.
 *
 * The token is in every request's path, so no detail this adapter writes contains the URL.
 */
export class TelegramAdapter implements ChannelAdapter<OutgoingTelegram> {
  readonly name = 'telegram';
  readonly channel = 'telegram' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #config: TelegramConfig;
  readonly #token: string | null;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #slots: Slots;
  /** Telegram asked (429 retry_after) for no request before a time; the limit is per bot, so every request waits it out. */
  readonly #gate: RetryAfterGate;

  constructor(config: TelegramConfig, sender: SenderIdentity) {
    this.#config = config;
    // The Bot API answers only once the message is in the chat, and sends no delivery receipts.
    this.capabilities = {
      batchSize: 1,
      concurrency: config.concurrency,
      idempotent: false,
      costUnit: 'message',
      acceptedIsDelivered: true,
      receiptsByProviderId: true,
    };
    this.#token = botTokenOf(config, sender);
    const base = new URL(config.baseUrl);
    this.#path = `${base.pathname.replace(/\/+$/, '')}/bot${this.#token ?? ''}/sendMessage`;
    this.#pool = new Pool(base.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
    this.#slots = new Slots(config.concurrency);
    this.#gate = new RetryAfterGate(config.maxRetryWaitMs);
  }

  /**
   * Sends every message of the batch, concurrently up to the adapter's limit, and answers
   * one result per message in input order. After a fatal answer no further request
   * starts; the ProviderFatalError carries the results of the requests that had completed
   * (what Telegram accepted must be recorded as sent), and none for the rest.
   */
  async send(batch: readonly OutgoingTelegram[]): Promise<SendResult[]> {
    const token = this.#token;
    if (token === null) throw new ProviderFatalError(botBlockedCode, 'The sender has no botToken and TELEGRAM_BOT_TOKEN is not set');
    if (!botTokenPattern.test(token))
      throw new ProviderFatalError(botBlockedCode, 'The sender’s bot token is malformed: it must be <digits>:<letters, digits, _ and ->');
    return sendEach(batch, this.#slots, (m) => this.#sendOne(m, token));
  }

  async #sendOne(m: OutgoingTelegram, token: string): Promise<SendOutcome> {
    const fail = (kind: 'transient' | 'permanent', code: string, detail: string, retryAfterMs?: number): SendOutcome => ({
      result: { messageId: m.messageId, ok: false, kind, code, detail: redact(detail, token), ...(retryAfterMs ? { retryAfterMs } : {}) },
    });
    const pause = await this.#gate.pass();
    if (pause) return fail('transient', 'TELEGRAM_RATE_LIMITED', `Telegram asked for no requests before ${pause.until}`, pause.waitMs);

    const answer = await postForAnswer(this.#pool, {
      path: this.#path,
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(toWireMessage(m, this.#config)),
      timeoutMs: this.#config.timeoutMs,
    });
    if (!answer.ok) {
      if (answer.timedOut) return fail('transient', 'TELEGRAM_TIMEOUT', `No answer from Telegram within ${this.#config.timeoutMs} ms`);
      // The code only: a message from the network stack might quote the URL, and the URL holds the token.
      return fail('transient', 'TELEGRAM_NETWORK', `Could not reach Telegram (${answer.error.code ?? answer.error.name})`);
    }

    const v = verdictOfAnswer(answer.status, answer.text);
    switch (v.verdict) {
      case 'accepted':
        return { result: { messageId: m.messageId, ok: true, providerId: `${m.to}:${v.messageId}` } };
      case 'fatal':
        return { fatal: { code: v.code, detail: redact(v.detail, token) } };
      case 'failed':
        if (v.retryAfterMs !== undefined) this.#gate.pauseFor(v.retryAfterMs);
        return {
          result: {
            messageId: m.messageId,
            ok: false,
            kind: v.kind,
            code: v.code,
            detail: redact(v.detail, token),
            ...(v.retryAfterMs !== undefined ? { retryAfterMs: v.retryAfterMs } : {}),
            ...(v.recipient ? { recipient: v.recipient } : {}),
          },
        };
      default:
        return assertUnreachable(v);
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** The outcome of setWebhook: expected failures are values (STYLE habit 5). */
export type SetWebhookResult = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly detail: string };

/**
 * Points the sender's bot at Herald's receipt URL: `setWebhook` with the webhook secret
 * (see webhookSecretOf) and `allowed_updates: ['my_chat_member']`, so Telegram posts only
 * the updates that say a person blocked the bot. A bot has one webhook: calling this
 * replaces whatever the bot had (a bot that also chats with people needs its own server
 * to forward those updates, and Herald is then not the place to set it).
 *
 * @example
 * const r = await setWebhook(config, sender, 'https://herald.example.com/v1/receipts/telegram/snd_1');
 */
export async function setWebhook(config: TelegramConfig, sender: SenderIdentity, url: string): Promise<SetWebhookResult> {
  const token = botTokenOf(config, sender);
  const secret = webhookSecretOf(config, sender);
  if (token === null || secret === null || !botTokenPattern.test(token))
    return { ok: false, code: botBlockedCode, detail: 'The sender has no well-formed bot token' };
  const body = { url, secret_token: secret, allowed_updates: ['my_chat_member'] };
  let status: number;
  let text: string;
  try {
    const response = await request(`${config.baseUrl}/bot${token}/setWebhook`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    status = response.statusCode;
    text = await response.body.text();
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: 'TELEGRAM_NETWORK', detail: `Could not reach Telegram (${e.code ?? e.name})` };
  }
  const answer = readAnswer(text);
  if (status >= 200 && status < 300 && answer?.ok === true) return { ok: true };
  const said = redact((typeof answer?.description === 'string' ? answer.description : `HTTP ${status}`).slice(0, 300), token);
  const code = status === 401 || status === 404 ? botBlockedCode : 'TELEGRAM_WEBHOOK';
  return { ok: false, code, detail: `Telegram refused the webhook: ${said} (Telegram ${answer?.error_code ?? status})` };
}
