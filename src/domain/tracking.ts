import { type KeyObject, createHmac, createSecretKey, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Signed tokens for the links Herald puts in an email (issue 5): the open pixel
 * (`/t/o/<token>`), the click redirect (`/t/c/<token>`) and the unsubscribe page and
 * one-click POST (`/u/<token>`). A token names its ledger row, and a click token carries
 * the URL it leads to, so the public routes need no lookup table and no state per link:
 *
 *     open, unsubscribe:  <runId>.<messageId>.<mac>
 *     click:              <runId>.<messageId>.<base64url(url)>.<mac>
 *
 * The MAC is HMAC-SHA256 over the kind, the ledger key and (clicks) the URL, cut to 128
 * bits (22 base64url characters; RFC 2104 §5 allows truncation to half the hash, and a
 * forger gets one guess per request). The kind is inside the MAC, so an open token is no
 * click token. A token that fails is refused whole: the click route never redirects to a
 * URL it did not sign (no open redirect), and nothing is recorded.
 *
 * The key is derived from HERALD_SECRET_KEY (trackingKey); without one, a random key per
 * start, so links from an earlier start stop working — which is why real sending should
 * set the secret key, and why every `herald serve` and `herald worker` must share it.
 */

export type TrackingKind = 'open' | 'click' | 'unsubscribe';

const kindTag: Record<TrackingKind, string> = { open: 'o', click: 'c', unsubscribe: 'u' };

/** The ledger row a token names. Run 0 names no row: test sends and previews carry it. */
export interface LedgerRef {
  readonly runId: number;
  readonly messageId: number;
}

/** A token that verified: its ledger row, and for a click the URL it leads to. */
export interface VerifiedToken extends LedgerRef {
  readonly url: string | null;
}

const macLength = 16;

// Every email signs three tokens or more: the key object is made once per key, not per token.
const keyObjects = new Map<string, KeyObject>();
function keyObjectOf(key: string): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    if (keyObjects.size > 16) keyObjects.clear();
    keyObjects.set(key, (object = createSecretKey(Buffer.from(key, 'hex'))));
  }
  return object;
}

function mac(key: string, kind: TrackingKind, ref: LedgerRef, url: string | null): string {
  const h = createHmac('sha256', keyObjectOf(key));
  h.update(`herald-tracking\n${kindTag[kind]}\n${ref.runId}.${ref.messageId}\n${url ?? ''}`);
  return h.digest().subarray(0, macLength).toString('base64url');
}

/**
 * The key tokens are signed with, as hex: derived from the secret key's text (HMAC with
 * a label of its own, so it never equals the key that seals credentials), or random.
 *
 * @example const key = trackingKey(process.env.HERALD_SECRET_KEY) // 64 hex characters
 */
export function trackingKey(secretKeyText: string | null | undefined): string {
  const text = secretKeyText?.trim();
  if (!text) return randomBytes(32).toString('hex');
  return createHmac('sha256', text).update('herald tracking key v1').digest('hex');
}

/**
 * A token for one link of one message.
 *
 * @example signToken(key, 'click', { runId: 3, messageId: 41 }, 'https://example.com/a') // "3.41.aHR0cHM6…"
 */
export function signToken(key: string, kind: TrackingKind, ref: LedgerRef, url?: string): string {
  const target = kind === 'click' ? (url ?? '') : null;
  const parts = [String(ref.runId), String(ref.messageId)];
  if (target !== null) parts.push(Buffer.from(target, 'utf8').toString('base64url'));
  parts.push(mac(key, kind, ref, target));
  return parts.join('.');
}

const tokenShape = {
  open: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/,
  unsubscribe: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/,
  click: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{1,16000})\.([A-Za-z0-9_-]{22})$/,
} as const;

/** What a token names when its MAC holds for `kind`; null for anything else (forged, altered, another kind). */
export function verifyToken(key: string, kind: TrackingKind, token: string): VerifiedToken | null {
  const m = tokenShape[kind].exec(token);
  if (!m) return null;
  const ref = { runId: Number(m[1]), messageId: Number(m[2]) };
  if (!Number.isSafeInteger(ref.runId) || !Number.isSafeInteger(ref.messageId)) return null;
  const url = kind === 'click' ? Buffer.from(m[3]!, 'base64url').toString('utf8') : null;
  const given = Buffer.from(kind === 'click' ? m[4]! : m[3]!, 'base64url');
  const expected = Buffer.from(mac(key, kind, ref, url), 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  // Only web links are ever signed (email-compose.ts); refuse anything else even with a good MAC.
  if (url !== null && !/^https?:\/\//i.test(url)) return null;
  return { ...ref, url };
}
