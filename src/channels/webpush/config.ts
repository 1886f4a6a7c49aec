import { createECDH, createHmac } from 'node:crypto';
import type { SenderIdentity } from '../provider.js';
import { positiveInt } from '../env-config.js';

/**
 * How Herald talks to push services; read from the environment once, at start (STYLE habit 6).
 * There is no provider URL: every subscription names its own push service (FCM for Chrome,
 * Mozilla autopush for Firefox, Apple for Safari, …). The VAPID keys here are the fallback
 * for senders that carry none of their own.
 */
export interface WebPushConfig {
  readonly vapidPublicKey: string | null;
  readonly vapidPrivateKey: string | null;
  /** The VAPID `sub` claim: a mailto: or https: URL the push service can contact. */
  readonly subject: string | null;
  /** Requests in flight at once, across every send() of one adapter. */
  readonly concurrency: number;
  /** A push service with no answer after this long counts as a transient failure. */
  readonly timeoutMs: number;
  /**
   * The longest a send() waits out a push service's Retry-After before it answers "transient"
   * without calling: longer waits belong to the engine's retry schedule.
   */
  readonly maxRetryWaitMs: number;
  /** Push service origins with a connection pool kept open; the least recently used beyond this is closed. */
  readonly maxOrigins: number;
  /** RFC 8030 §5.3 Urgency: `normal` lets a phone on battery deliver at once; `low` would let it wait. */
  readonly urgency: 'very-low' | 'low' | 'normal' | 'high';
}

/** VAPID keys and the receipt secret of one sender, checked. */
export interface VapidCredentials {
  readonly publicKey: string;
  readonly privateKey: string;
  readonly subject: string;
  /** Signs the receipt tokens notifications carry (see app-receipts.ts). */
  readonly receiptSecret: string;
}

const defaults = { concurrency: 50, timeoutMs: 15_000, maxRetryWaitMs: 10_000, maxOrigins: 32, urgency: 'normal' } as const;

const base64url = /^[A-Za-z0-9_-]+$/;

/** The bytes of a base64url string (no padding), or null when it is not one. */
export function fromBase64url(value: unknown): Buffer | null {
  return typeof value === 'string' && base64url.test(value) ? Buffer.from(value, 'base64url') : null;
}

/**
 * Why a VAPID key pair and subject cannot be used, or null when they can. The public key
 * must be the private key's own: push services bind a subscription to the public key and
 * check the JWT's signature against it, so a mismatched pair fails every send with 403.
 */
export function vapidProblem(publicKey: string, privateKey: string, subject: string): string | null {
  const pub = fromBase64url(publicKey);
  if (!pub || pub.length !== 65 || pub[0] !== 0x04)
    return 'vapidPublicKey must be an uncompressed P-256 point in base64url (65 bytes, as web-push generate-vapid-keys prints it)';
  const priv = fromBase64url(privateKey);
  if (!priv || priv.length !== 32) return 'vapidPrivateKey must be a P-256 private key in base64url (32 bytes)';
  let derived: Buffer;
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(priv);
    derived = ecdh.getPublicKey();
  } catch {
    return 'vapidPrivateKey is not a valid P-256 private key';
  }
  if (!derived.equals(pub)) return 'vapidPublicKey is not the public key of vapidPrivateKey';
  let url: URL;
  try {
    url = new URL(subject);
  } catch {
    return 'subject must be a mailto: or https: URL';
  }
  if (url.protocol !== 'mailto:' && url.protocol !== 'https:') return 'subject must be a mailto: or https: URL';
  return null;
}

/**
 * A receipt secret when the sender gives none: HMAC-SHA256 of a fixed label under the VAPID
 * private key. It is as secret as the key, stable across restarts and processes, and needs no
 * extra field; rotating the VAPID key rotates it too, so receipts of notifications sent
 * before the rotation no longer verify (and are dropped, as forged ones would be).
 */
export function derivedReceiptSecret(vapidPrivateKey: string): string {
  return createHmac('sha256', vapidPrivateKey).update('herald webpush receipt secret v1').digest('base64url');
}

/**
 * The sender's VAPID credentials, falling back field by field to the environment's;
 * a string saying what is wrong when they are missing or unusable (never the key itself).
 */
export function vapidCredentialsOf(config: WebPushConfig, sender: SenderIdentity): VapidCredentials | string {
  const c = sender.credentials;
  const publicKey = c.vapidPublicKey?.trim() || config.vapidPublicKey;
  const privateKey = c.vapidPrivateKey?.trim() || config.vapidPrivateKey;
  const subject = c.subject?.trim() || config.subject;
  if (!publicKey || !privateKey || !subject)
    return 'The sender has no VAPID credentials (vapidPublicKey, vapidPrivateKey, subject) and WEBPUSH_VAPID_* are not set';
  const problem = vapidProblem(publicKey, privateKey, subject);
  if (problem) return problem;
  return { publicKey, privateKey, subject, receiptSecret: c.receiptSecret?.trim() || derivedReceiptSecret(privateKey) };
}

/** The environment variable behind each credential field, for error messages. */
const names: Record<string, string> = {
  vapidPublicKey: 'WEBPUSH_VAPID_PUBLIC_KEY',
  vapidPrivateKey: 'WEBPUSH_VAPID_PRIVATE_KEY',
  subject: 'WEBPUSH_VAPID_SUBJECT',
};

const urgencies = new Set(['very-low', 'low', 'normal', 'high']);

/**
 * Reads WEBPUSH_VAPID_PUBLIC_KEY, WEBPUSH_VAPID_PRIVATE_KEY, WEBPUSH_VAPID_SUBJECT (all three or
 * none), WEBPUSH_CONCURRENCY, WEBPUSH_TIMEOUT_MS and WEBPUSH_URGENCY; null when no WEBPUSH_*
 * variable is set. Without the VAPID variables every sender must carry its own keys.
 */
export function webPushConfigFromEnv(env: NodeJS.ProcessEnv): WebPushConfig | null {
  if (!Object.keys(env).some((name) => name.startsWith('WEBPUSH_') && env[name]?.trim())) return null;
  const publicKey = env.WEBPUSH_VAPID_PUBLIC_KEY?.trim() || null;
  const privateKey = env.WEBPUSH_VAPID_PRIVATE_KEY?.trim() || null;
  const subject = env.WEBPUSH_VAPID_SUBJECT?.trim() || null;
  const given = [publicKey, privateKey, subject].filter((v) => v !== null).length;
  if (given !== 0 && given !== 3)
    throw new Error('WEBPUSH_VAPID_PUBLIC_KEY, WEBPUSH_VAPID_PRIVATE_KEY and WEBPUSH_VAPID_SUBJECT must be set together');
  if (publicKey && privateKey && subject) {
    const problem = vapidProblem(publicKey, privateKey, subject);
    if (problem) throw new Error(`WEBPUSH_VAPID_*: ${problem.replace(/^vapidPublicKey|^vapidPrivateKey|^subject/, (f) => names[f]!)}`);
  }
  const urgency = env.WEBPUSH_URGENCY?.trim() || defaults.urgency;
  if (!urgencies.has(urgency)) throw new Error(`WEBPUSH_URGENCY must be very-low, low, normal or high, not "${urgency}"`);
  return {
    vapidPublicKey: publicKey,
    vapidPrivateKey: privateKey,
    subject,
    concurrency: positiveInt(env, 'WEBPUSH_CONCURRENCY', defaults.concurrency, 1000),
    timeoutMs: positiveInt(env, 'WEBPUSH_TIMEOUT_MS', defaults.timeoutMs),
    maxRetryWaitMs: defaults.maxRetryWaitMs,
    maxOrigins: defaults.maxOrigins,
    urgency: urgency as WebPushConfig['urgency'],
  };
}

/** The configuration the loopback sandbox runs with: keys come from the sender's credentials. */
export function sandboxWebPushConfig(overrides: Partial<WebPushConfig> = {}): WebPushConfig {
  return { vapidPublicKey: null, vapidPrivateKey: null, subject: null, ...defaults, ...overrides };
}
