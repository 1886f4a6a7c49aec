import { checkedBaseUrl, positiveInt } from '../env-config.js';

/** How to reach Viber's REST bot API; read from the environment once, at start (STYLE habit 6). */
export interface ViberConfig {
  /** Base URL without a trailing slash; the adapter posts to `${baseUrl}/pa/send_message`. */
  readonly baseUrl: string;
  /**
   * The bot's auth token when the environment configures one bot for every sender
   * (VIBER_AUTH_TOKEN); a sender's own `credentials.authToken` wins over it.
   */
  readonly authToken: string | null;
  /** Requests in flight at once, across every send() of one adapter. */
  readonly concurrency: number;
  /** A request with no answer after this long counts as a transient failure. */
  readonly timeoutMs: number;
}

export const defaultViberApiUrl = 'https://chatapi.viber.com';

/** The token the loopback sandbox accepts unless it is started with another. */
export const sandboxViberToken = 'herald-viber-sandbox-token';

/**
 * 25 requests in flight (one message each): Viber publishes no rate for send_message and
 * answers status 12 (tooManyRequests) when a bot goes too fast, which the adapter reports
 * as transient; at a ~100 ms round trip this is about 250 messages/s. Lower it with
 * VIBER_CONCURRENCY if a bot sees status 12 often.
 */
const defaults = { concurrency: 25, timeoutMs: 15_000 };

/** Checks the base URL: http(s), no query; plain http only to loopback, because the token travels in a header. */
export function viberBaseUrlOf(name: string, raw: string): string {
  return checkedBaseUrl(name, raw, defaultViberApiUrl);
}

/**
 * Reads VIBER_API_URL (default https://chatapi.viber.com), VIBER_AUTH_TOKEN,
 * VIBER_CONCURRENCY and VIBER_TIMEOUT_MS. Null when neither VIBER_API_URL nor
 * VIBER_AUTH_TOKEN is set: Viber is then not configured, and sandbox mode routes it to the
 * sandbox. A deployment whose bots are all per-sender tokens sets VIBER_API_URL alone.
 */
export function viberConfigFromEnv(env: NodeJS.ProcessEnv): ViberConfig | null {
  const rawUrl = env.VIBER_API_URL?.trim();
  const authToken = env.VIBER_AUTH_TOKEN?.trim() || null;
  if (!rawUrl && !authToken) return null;
  return {
    baseUrl: viberBaseUrlOf('VIBER_API_URL', rawUrl || defaultViberApiUrl),
    authToken,
    concurrency: positiveInt(env, 'VIBER_CONCURRENCY', defaults.concurrency, 256),
    timeoutMs: positiveInt(env, 'VIBER_TIMEOUT_MS', defaults.timeoutMs),
  };
}

/** The loopback sandbox API (see sandbox.ts), with its token as the environment's fallback. */
export function sandboxViberConfig(baseUrl: string, authToken: string = sandboxViberToken): ViberConfig {
  return { ...defaults, baseUrl: viberBaseUrlOf('sandbox URL', baseUrl), authToken };
}
