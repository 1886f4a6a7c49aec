import { checkedBaseUrl, positiveInt } from '../env-config.js';

/** How to reach a Postmark-shaped HTTP batch email API; read from the environment once, at start (STYLE habit 6). */
export interface HttpEmailConfig {
  /** Base URL without a trailing slash; the adapter posts to `${baseUrl}/email/batch`. */
  readonly baseUrl: string;
  /** Sent as `X-Postmark-Server-Token`. */
  readonly token: string;
  /** Messages per request: the provider's batch endpoint takes at most 500; 1 uses its single-message endpoint. */
  readonly batchSize: number;
  /** Requests in flight at once, across every send() of this adapter. */
  readonly concurrency: number;
  /** The provider's message stream (Postmark: `broadcast` for bulk mail, `outbound` for transactional). */
  readonly messageStream: string;
  /** A request with no answer after this long counts as a transient failure of its whole batch. */
  readonly timeoutMs: number;
  /**
   * The longest a send() waits out a provider's Retry-After before it answers "transient"
   * without calling: longer waits belong to the engine's retry schedule, not a held batch.
   */
  readonly maxRetryWaitMs: number;
}

/** The provider's own ceiling on one batch request. */
export const maxHttpEmailBatch = 500;

/** The token the loopback sandbox accepts unless it is started with another. */
export const sandboxHttpEmailToken = 'herald-sandbox-token';

const defaults = { batchSize: maxHttpEmailBatch, concurrency: 4, messageStream: 'broadcast', timeoutMs: 30_000, maxRetryWaitMs: 10_000 };

/** Checks the base URL: http(s), no query; plain http only to loopback, because the token travels in a header. */
function baseUrlOf(name: string, raw: string): string {
  return checkedBaseUrl(name, raw, 'https://api.postmarkapp.com');
}

/**
 * Reads EMAIL_HTTP_URL, EMAIL_HTTP_TOKEN, EMAIL_HTTP_BATCH (≤ 500), EMAIL_HTTP_CONCURRENCY,
 * EMAIL_HTTP_STREAM and EMAIL_HTTP_TIMEOUT_MS; null without a URL.
 */
export function httpEmailConfigFromEnv(env: NodeJS.ProcessEnv): HttpEmailConfig | null {
  const rawUrl = env.EMAIL_HTTP_URL?.trim();
  if (!rawUrl) return null;
  const baseUrl = baseUrlOf('EMAIL_HTTP_URL', rawUrl);
  const token = env.EMAIL_HTTP_TOKEN?.trim();
  if (!token) throw new Error('EMAIL_HTTP_TOKEN must be set when EMAIL_HTTP_URL is (the provider’s server token)');
  const messageStream = env.EMAIL_HTTP_STREAM?.trim() || defaults.messageStream;
  return {
    baseUrl,
    token,
    batchSize: positiveInt(env, 'EMAIL_HTTP_BATCH', defaults.batchSize, maxHttpEmailBatch),
    concurrency: positiveInt(env, 'EMAIL_HTTP_CONCURRENCY', defaults.concurrency, 64),
    messageStream,
    timeoutMs: positiveInt(env, 'EMAIL_HTTP_TIMEOUT_MS', defaults.timeoutMs),
    maxRetryWaitMs: defaults.maxRetryWaitMs,
  };
}

/**
 * The HTTP basic auth credentials Herald requires on the provider's webhooks
 * (`POST /v1/receipts/postmark/default`): Postmark secures a webhook by credentials in its
 * URL, `https://<user>:<password>@herald.example.com/v1/receipts/postmark/default`.
 */
export interface HttpEmailWebhookAuth {
  readonly user: string;
  readonly password: string;
}

/** The credentials the loopback sandbox puts on its webhooks, and Herald requires of them in sandbox mode. */
export const sandboxHttpEmailWebhookAuth: HttpEmailWebhookAuth = { user: 'herald-sandbox', password: 'herald-sandbox-webhook' };

/** The shortest EMAIL_HTTP_WEBHOOK_PASSWORD taken: it is all that guards the receipt route. */
export const minWebhookPasswordLength = 16;

const hasControl = (text: string) => [...text].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f);

/**
 * Reads EMAIL_HTTP_WEBHOOK_USER and EMAIL_HTTP_WEBHOOK_PASSWORD (both or neither); null
 * without them, and the postmark receipt route then answers 404.
 */
export function httpEmailWebhookAuthFromEnv(env: NodeJS.ProcessEnv): HttpEmailWebhookAuth | null {
  const user = env.EMAIL_HTTP_WEBHOOK_USER?.trim() ?? '';
  const password = env.EMAIL_HTTP_WEBHOOK_PASSWORD?.trim() ?? '';
  if (!user && !password) return null;
  if (!user || !password)
    throw new Error(
      'EMAIL_HTTP_WEBHOOK_USER and EMAIL_HTTP_WEBHOOK_PASSWORD must be set together (the basic auth of the provider’s webhooks)',
    );
  // A colon ends the user name in basic auth; control characters cannot travel in a URL's userinfo.
  if (user.includes(':') || hasControl(user)) throw new Error('EMAIL_HTTP_WEBHOOK_USER must not contain a colon or control characters');
  if (hasControl(password)) throw new Error('EMAIL_HTTP_WEBHOOK_PASSWORD must not contain control characters');
  if (password.length < minWebhookPasswordLength)
    throw new Error(`EMAIL_HTTP_WEBHOOK_PASSWORD must be at least ${minWebhookPasswordLength} characters`);
  return { user, password };
}

/** The loopback sandbox API (see sandbox.ts), with its default token unless told another. */
export function sandboxHttpEmailConfig(baseUrl: string, token: string = sandboxHttpEmailToken): HttpEmailConfig {
  return { ...defaults, baseUrl: baseUrlOf('sandbox URL', baseUrl), token };
}
