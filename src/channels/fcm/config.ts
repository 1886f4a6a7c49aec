import { readFileSync } from 'node:fs';
import type { SenderIdentity } from '../provider.js';
import { checkedBaseUrl, positiveInt } from '../env-config.js';

/**
 * The fields of a Google service account key file (the JSON a Firebase console
 * "Generate new private key" downloads) that the FCM HTTP v1 API needs.
 */
export interface ServiceAccount {
  /** The Firebase project: messages go to `projects/{project_id}/messages:send`. */
  readonly projectId: string;
  /** The JWT's `iss`: the account that asks for an access token. */
  readonly clientEmail: string;
  /** PKCS#8 PEM of the RSA key that signs the JWT. */
  readonly privateKey: string;
  /** Sent as the JWT header's `kid` when the file has one. */
  readonly privateKeyId: string | null;
  /** The OAuth 2 token endpoint, the JWT's `aud`. */
  readonly tokenUri: string;
}

/** How to reach FCM; read from the environment once, at start (STYLE habit 6). Credentials come with each sender. */
export interface FcmConfig {
  /** Base URL without a trailing slash; the adapter posts to `${baseUrl}/v1/projects/{project}/messages:send`. */
  readonly baseUrl: string;
  /** The service account from FCM_SERVICE_ACCOUNT(_FILE), for senders that carry none of their own. */
  readonly serviceAccount: ServiceAccount | null;
  /** Requests in flight at once, across every send() of one adapter (FCM takes one message a request). */
  readonly concurrency: number;
  /** A request with no answer after this long counts as a transient failure. */
  readonly timeoutMs: number;
  /**
   * The longest a send() waits out FCM's Retry-After before it answers "transient" without
   * calling: longer waits belong to the engine's retry schedule, not a held batch.
   */
  readonly maxRetryWaitMs: number;
}

export const fcmScope = 'https://www.googleapis.com/auth/firebase.messaging';
export const defaultFcmUrl = 'https://fcm.googleapis.com';
const defaultTokenUri = 'https://oauth2.googleapis.com/token';

/**
 * 50 requests in flight: FCM takes one message a request, so at a 100 ms round trip (an
 * assumption, not a measurement) that is 500 messages a second, well under FCM's default
 * per-project quota of 600,000 a minute (10,000 a second).
 */
const defaults = { concurrency: 50, timeoutMs: 30_000, maxRetryWaitMs: 10_000 };

/** Checks a URL: http(s), no query; plain http only to loopback, because a bearer token or a signed JWT travels with it. */
export function checkedUrl(name: string, raw: string): string {
  return checkedBaseUrl(name, raw, defaultFcmUrl);
}

/**
 * Reads a service account key file's text. Throws with a message that names the missing
 * field but never quotes the key itself (it may end up in a log).
 */
export function parseServiceAccount(text: string, where = 'the service account'): ServiceAccount {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${where} must be the JSON text of a Google service account key file`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${where} must be a JSON object`);
  const j = json as Record<string, unknown>;
  const field = (name: string): string => {
    const value = j[name];
    if (typeof value !== 'string' || value.trim() === '') throw new Error(`${where} has no ${name}`);
    return value;
  };
  const privateKey = field('private_key');
  if (!privateKey.includes('PRIVATE KEY')) throw new Error(`${where} has a private_key that is not a PEM private key`);
  return {
    projectId: field('project_id'),
    clientEmail: field('client_email'),
    privateKey,
    privateKeyId: typeof j.private_key_id === 'string' && j.private_key_id !== '' ? j.private_key_id : null,
    tokenUri: checkedUrl(`${where}'s token_uri`, typeof j.token_uri === 'string' && j.token_uri !== '' ? j.token_uri : defaultTokenUri),
  };
}

/**
 * Reads FCM_API_URL (default https://fcm.googleapis.com), FCM_SERVICE_ACCOUNT (the key file's
 * JSON text) or FCM_SERVICE_ACCOUNT_FILE (its path), FCM_CONCURRENCY and FCM_TIMEOUT_MS.
 * Null when none of FCM_API_URL, FCM_SERVICE_ACCOUNT and FCM_SERVICE_ACCOUNT_FILE is set:
 * FCM is then not configured by the environment (see fcmDefaultConfig for senders that carry
 * their own service account). With only FCM_API_URL set, every sender must carry one.
 */
export function fcmConfigFromEnv(env: NodeJS.ProcessEnv): FcmConfig | null {
  if (!env.FCM_API_URL?.trim() && !env.FCM_SERVICE_ACCOUNT?.trim() && !env.FCM_SERVICE_ACCOUNT_FILE?.trim()) return null;
  return fcmDefaultConfig(env);
}

/** FCM's public API with the environment's settings, for senders that carry their own service account. */
export function fcmDefaultConfig(env: NodeJS.ProcessEnv): FcmConfig {
  const inline = env.FCM_SERVICE_ACCOUNT?.trim();
  const file = env.FCM_SERVICE_ACCOUNT_FILE?.trim();
  if (inline && file) throw new Error('Set FCM_SERVICE_ACCOUNT or FCM_SERVICE_ACCOUNT_FILE, not both');
  let serviceAccount: ServiceAccount | null = null;
  if (inline) serviceAccount = parseServiceAccount(inline, 'FCM_SERVICE_ACCOUNT');
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`FCM_SERVICE_ACCOUNT_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}): ${file}`, {
        cause: err,
      });
    }
    serviceAccount = parseServiceAccount(text, 'FCM_SERVICE_ACCOUNT_FILE');
  }
  return {
    baseUrl: checkedUrl('FCM_API_URL', env.FCM_API_URL?.trim() || defaultFcmUrl),
    serviceAccount,
    concurrency: positiveInt(env, 'FCM_CONCURRENCY', defaults.concurrency, 1000),
    timeoutMs: positiveInt(env, 'FCM_TIMEOUT_MS', defaults.timeoutMs),
    maxRetryWaitMs: defaults.maxRetryWaitMs,
  };
}

/** The loopback sandbox (see sandbox.ts); its service account travels as sender credentials. */
export function sandboxFcmConfig(baseUrl: string): FcmConfig {
  return { ...defaults, baseUrl: checkedUrl('sandbox URL', baseUrl), serviceAccount: null };
}

/**
 * The service account a sender sends with: its own `credentials.serviceAccount`, else the
 * environment's. Throws when there is none or it does not read (the adapter turns that into
 * FCM_AUTH, the senders API into a validation error).
 */
export function serviceAccountOf(config: FcmConfig, sender: SenderIdentity): ServiceAccount {
  const own = sender.credentials.serviceAccount;
  if (own !== undefined && own.trim() !== '') return parseServiceAccount(own, 'The sender’s serviceAccount');
  if (config.serviceAccount) return config.serviceAccount;
  throw new Error('The sender has no serviceAccount credential and FCM_SERVICE_ACCOUNT is not set');
}
