import type { SenderIdentity } from '../provider.js';
import { checkedBaseUrl, positiveInt } from '../env-config.js';

/** How to reach the Telegram Bot API; read from the environment once, at start (STYLE habit 6). */
export interface TelegramConfig {
  /** Base URL without a trailing slash; the adapter posts to `${baseUrl}/bot<token>/sendMessage`. */
  readonly baseUrl: string;
  /** The bot used by senders that carry no `botToken` of their own (TELEGRAM_BOT_TOKEN); null: every sender brings one. */
  readonly botToken: string | null;
  /** Requests in flight at once, across every send() of one adapter (one adapter is one bot). */
  readonly concurrency: number;
  /** A request with no answer after this long counts as a transient failure. */
  readonly timeoutMs: number;
  /**
   * The longest a send() waits out a 429's retry_after before it answers "transient"
   * without calling: longer waits belong to the engine's retry schedule, not a held batch.
   */
  readonly maxRetryWaitMs: number;
  /** False sends `link_preview_options: { is_disabled: true }`: no preview card under links. */
  readonly linkPreviews: boolean;
}

/** Telegram's HTTPS endpoint for bots. */
export const telegramApiUrl = 'https://api.telegram.org';

/**
 * What Telegram documents as a token (`<bot id>:<secret>`, e.g. `110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw`).
 * The token goes into the URL path, so anything else is refused before a request is made:
 * a `/` or `?` in it would point the request at another path.
 */
export const botTokenPattern = /^\d{1,20}:[A-Za-z0-9_-]{1,100}$/;

/**
 * Telegram's own guidance is about 30 messages a second per bot to different chats; 25 in
 * flight at round trips of 100 ms or more keeps under it with room for the engine's
 * rate limiter to pace the rest, and a 429 says when we pushed too hard.
 */
const defaults = { concurrency: 25, timeoutMs: 30_000, maxRetryWaitMs: 10_000, linkPreviews: true };

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['1', 'true', 'yes', 'on'].includes(raw)) return true;
  if (['0', 'false', 'no', 'off'].includes(raw)) return false;
  throw new Error(`${name} must be true or false, not "${env[name]}"`);
}

/** Checks the base URL: http(s), no query; plain http only to loopback, because the bot token travels in the path. */
function baseUrlOf(name: string, raw: string): string {
  return checkedBaseUrl(name, raw, telegramApiUrl);
}

/**
 * Reads TELEGRAM_API_URL (default https://api.telegram.org), TELEGRAM_BOT_TOKEN,
 * TELEGRAM_CONCURRENCY (≤ 30), TELEGRAM_TIMEOUT_MS and TELEGRAM_LINK_PREVIEWS; null when
 * neither TELEGRAM_API_URL nor TELEGRAM_BOT_TOKEN is set. A deployment whose bots all
 * live on senders sets TELEGRAM_API_URL (to the default, if nothing else) to turn the
 * provider on.
 */
export function telegramConfigFromEnv(env: NodeJS.ProcessEnv): TelegramConfig | null {
  const rawUrl = env.TELEGRAM_API_URL?.trim();
  const botToken = env.TELEGRAM_BOT_TOKEN?.trim() || null;
  if (!rawUrl && !botToken) return null;
  // The token's value never goes into the message: it is a secret.
  if (botToken !== null && !botTokenPattern.test(botToken))
    throw new Error('TELEGRAM_BOT_TOKEN must be a bot token as @BotFather gives it (<digits>:<letters, digits, _ and ->)');
  return {
    baseUrl: baseUrlOf('TELEGRAM_API_URL', rawUrl || telegramApiUrl),
    botToken,
    concurrency: positiveInt(env, 'TELEGRAM_CONCURRENCY', defaults.concurrency, 30),
    timeoutMs: positiveInt(env, 'TELEGRAM_TIMEOUT_MS', defaults.timeoutMs),
    maxRetryWaitMs: defaults.maxRetryWaitMs,
    linkPreviews: flag(env, 'TELEGRAM_LINK_PREVIEWS', defaults.linkPreviews),
  };
}

/** The loopback sandbox API (see sandbox.ts); its bot tokens come with the sender's credentials. */
export function sandboxTelegramConfig(baseUrl: string, botToken: string | null = null): TelegramConfig {
  return { ...defaults, baseUrl: baseUrlOf('sandbox URL', baseUrl), botToken };
}

/** The bot a sender sends as: its own `botToken`, else TELEGRAM_BOT_TOKEN; null when neither is set. */
export function botTokenOf(config: TelegramConfig, sender: SenderIdentity): string | null {
  return sender.credentials.botToken?.trim() || config.botToken;
}
