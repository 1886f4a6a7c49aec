import { defaultToleranceSeconds } from './signature.js';
import { positiveInt } from '../env-config.js';

/**
 * How Herald posts to webhook endpoints; read from the environment once, at start (STYLE
 * habit 6). The endpoint and its secret are not here: each webhook sender carries its own
 * (see WebhookCredentials), so this holds only what is the same for every endpoint.
 */
export interface WebhookConfig {
  /** A request with no answer after this long is a transient failure (the engine retries it). */
  readonly timeoutMs: number;
  /** Requests in flight at once per sender (endpoint). */
  readonly concurrency: number;
  /**
   * The longest a send() waits out an endpoint's Retry-After before it answers "transient"
   * without calling: longer waits belong to the engine's retry schedule, not a held batch.
   */
  readonly maxRetryWaitMs: number;
  /** Seconds a receipt's signature may be away from our clock (replay protection). */
  readonly toleranceSeconds: number;
}

/** What a webhook sender must carry: the endpoint and the secret that signs our requests and its receipts. */
export interface WebhookCredentials {
  readonly url: string;
  readonly secret: string;
}

/** The sender credential fields, in the order the senders API asks for them. */
export const webhookCredentialFields = ['url', 'secret'] as const;

/** Shorter secrets are guessable offline from one signed request. */
export const minSecretLength = 16;

/**
 * Ten seconds, as Svix waits (Stripe allows more, but an endpoint that answers slowly holds
 * a connection per message; receivers are told to answer first and work later).
 */
export const defaultWebhookConfig: WebhookConfig = Object.freeze({
  timeoutMs: 10_000,
  concurrency: 16,
  maxRetryWaitMs: 10_000,
  toleranceSeconds: defaultToleranceSeconds,
});

/**
 * Reads WEBHOOK_TIMEOUT_MS (≤ 120,000) and WEBHOOK_CONCURRENCY (≤ 256) over the defaults.
 * This is the provider's defaultConfig, not its configFromEnv: the environment tunes the
 * channel but never names an endpoint (each sender carries its own), so the provider
 * module's configFromEnv is always null — which keeps sandbox mode on the sandbox and lets
 * preflight call a sender without an endpoint unconfigured.
 */
export function webhookConfigFromEnv(env: NodeJS.ProcessEnv): WebhookConfig {
  return {
    ...defaultWebhookConfig,
    timeoutMs: positiveInt(env, 'WEBHOOK_TIMEOUT_MS', defaultWebhookConfig.timeoutMs, 120_000),
    concurrency: positiveInt(env, 'WEBHOOK_CONCURRENCY', defaultWebhookConfig.concurrency, 256),
  };
}

const loopbackHosts = new Set(['localhost', '[::1]']);

const isLoopback = (hostname: string) => loopbackHosts.has(hostname) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);

/**
 * Checks a sender's credentials, for the senders API on create and for the adapter.
 * The URL must be https (plain http to loopback only: the payload is personal data), with no
 * user or fragment. Error details never repeat the URL or the secret (they are credentials).
 */
export function readWebhookCredentials(
  credentials: Readonly<Record<string, string | undefined>>,
): { readonly ok: true; readonly value: WebhookCredentials } | { readonly ok: false; readonly detail: string } {
  const rawUrl = credentials.url?.trim() ?? '';
  const secret = credentials.secret ?? '';
  if (rawUrl === '') return { ok: false, detail: 'url is required: the endpoint Herald posts to' };
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return { ok: false, detail: 'url must be an absolute URL such as https://hooks.example.com/herald' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, detail: 'url must be an https URL' };
  if (url.protocol === 'http:' && !isLoopback(url.hostname))
    return { ok: false, detail: 'url must use https (plain http is allowed to loopback only)' };
  if (url.username || url.password)
    return { ok: false, detail: 'url must not carry a user or password: the Herald-Signature header authenticates each request' };
  if (url.hash) return { ok: false, detail: 'url must not carry a fragment' };
  if (secret.length < minSecretLength) return { ok: false, detail: `secret must be at least ${minSecretLength} characters` };
  return { ok: true, value: { url: url.href, secret } };
}
