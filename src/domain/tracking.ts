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
 * Every MAC is 128 bits (22 base64url characters; RFC 2104 §5 allows truncation to half
 * the hash, and a forger gets one guess per request). A message is signed once, however
 * many links it has (v2, 2026-12-02). v1 made an HMAC per link, pixel and unsubscribe link:
 * 10–16 µs for the three of the bench email on the loaded 2-core machine, against 6.7 µs
 * for v2, and v1's cost grew with every link of a newsletter where v2's does not:
 *
 * - one HMAC-SHA384 over the message's ledger key gives 48 bytes, cut into three
 *   independent 128-bit MACs: unsubscribe, open, click. The kind is which third, so an
 *   open token is no unsubscribe token, and knowing one third says nothing of the others;
 * - a click token's MAC is the message's click third XOR a MAC of the URL for the run
 *   (HMAC-SHA256 over the run and the URL), which is the same for every message of the run
 *   and computed once per run and URL. Forging a click to a URL that no email of the run
 *   led to needs that URL's MAC, which no token reveals (XOR with a secret uniform value
 *   hides it): the click route never redirects to a URL it did not sign (no open redirect).
 *   What the split gives up is that a URL is bound to its run, not to each message: someone
 *   holding two recipients' emails could combine them into a click on one recipient's
 *   message that leads to a link of the other's email from the same run (the same place a
 *   recipient can reach anyway, recorded as a click on a message that really was sent).
 *
 * v1 tokens (one HMAC-SHA256 per link over the kind, the ledger key and the URL) are in
 * emails already sent; they have the same shape and still verify.
 *
 * A token that fails is refused whole, and nothing is recorded. The key is derived from
 * HERALD_SECRET_KEY (trackingKey); without one, a random key per start, so links from an
 * earlier start stop working — which is why real sending should set the secret key, and
 * why every `herald serve` and `herald worker` must share it.
 */

export type TrackingKind = 'open' | 'click' | 'unsubscribe';

const kindTag: Record<TrackingKind, string> = { open: 'o', click: 'c', unsubscribe: 'u' };
/** Where each kind's MAC sits in a message's HMAC-SHA384 (v2). */
const kindOffset: Record<TrackingKind, number> = { unsubscribe: 0, open: 16, click: 32 };

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

// The key object is made once per key, not per message.
const keyObjects = new Map<string, KeyObject>();
function keyObjectOf(key: string): KeyObject {
  let object = keyObjects.get(key);
  if (!object) {
    if (keyObjects.size > 16) keyObjects.clear();
    keyObjects.set(key, (object = createSecretKey(Buffer.from(key, 'hex'))));
  }
  return object;
}

/** v1: one MAC per kind, message and URL. Only verified now (links in emails sent before v2). */
function macV1(key: string, kind: TrackingKind, ref: LedgerRef, url: string | null): Buffer {
  const h = createHmac('sha256', keyObjectOf(key));
  h.update(`herald-tracking\n${kindTag[kind]}\n${ref.runId}.${ref.messageId}\n${url ?? ''}`);
  return h.digest().subarray(0, macLength);
}

/** v2: the three MACs of one message (unsubscribe, open, click), in one HMAC. */
function messageMacs(key: string, ref: LedgerRef): Buffer {
  return createHmac('sha384', keyObjectOf(key)).update(`herald-tracking v2 message\n${ref.runId}.${ref.messageId}`).digest();
}

interface SignedUrl {
  /** The URL as a click token carries it. */
  readonly encoded: string;
  readonly mac: Buffer;
}

/** v2: the MAC of a URL for a run, the same in every message of the run. */
function urlMac(key: string, runId: number, url: string): Buffer {
  return createHmac('sha256', keyObjectOf(key)).update(`herald-tracking v2 url\n${runId}\n${url}`).digest().subarray(0, macLength);
}

// A run's links are the same in every message (unless Liquid writes them per recipient), so
// each URL is signed once per key and run. Bounded, as personalised links would fill it.
const runUrls = new Map<string, Map<string, SignedUrl>>();
function signedUrls(key: string, runId: number): Map<string, SignedUrl> {
  const id = `${runId}:${key}`;
  let urls = runUrls.get(id);
  if (!urls) {
    if (runUrls.size >= 64) runUrls.clear();
    runUrls.set(id, (urls = new Map()));
  }
  return urls;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(macLength);
  for (let i = 0; i < macLength; i++) out[i] = a[i]! ^ b[i]!;
  return out;
}

/** The tokens of one message's links, signed once for all of them. */
export interface MessageTokens {
  readonly unsubscribe: string;
  readonly open: string;
  click(url: string): string;
}

/**
 * Signs one message: its unsubscribe and open tokens, and click tokens for any URL.
 *
 * @example const t = messageTokens(key, { runId: 3, messageId: 41 }); t.click('https://example.com/a') // "3.41.aHR0cHM6…"
 */
export function messageTokens(key: string, ref: LedgerRef): MessageTokens {
  const macs = messageMacs(key, ref);
  const prefix = `${ref.runId}.${ref.messageId}.`;
  const clickMac = macs.subarray(kindOffset.click, kindOffset.click + macLength);
  const urls = signedUrls(key, ref.runId);
  return {
    unsubscribe: prefix + macs.toString('base64url', kindOffset.unsubscribe, kindOffset.unsubscribe + macLength),
    open: prefix + macs.toString('base64url', kindOffset.open, kindOffset.open + macLength),
    click(url) {
      let signed = urls.get(url);
      if (!signed) {
        if (urls.size >= 10_000) urls.clear();
        urls.set(url, (signed = { encoded: Buffer.from(url, 'utf8').toString('base64url'), mac: urlMac(key, ref.runId, url) }));
      }
      return `${prefix}${signed.encoded}.${xor(clickMac, signed.mac).toString('base64url')}`;
    },
  };
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
 * A token for one link of one message (to sign several of one message, messageTokens).
 *
 * @example signToken(key, 'click', { runId: 3, messageId: 41 }, 'https://example.com/a') // "3.41.aHR0cHM6…"
 */
export function signToken(key: string, kind: TrackingKind, ref: LedgerRef, url?: string): string {
  const tokens = messageTokens(key, ref);
  return kind === 'click' ? tokens.click(url ?? '') : tokens[kind];
}

const tokenShape = {
  open: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/,
  unsubscribe: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/,
  click: /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{1,16000})\.([A-Za-z0-9_-]{22})$/,
} as const;

/** What a token names when its MAC holds for `kind` (v2, or v1 from emails sent before it); null for anything else (forged, altered, another kind). */
export function verifyToken(key: string, kind: TrackingKind, token: string): VerifiedToken | null {
  const m = tokenShape[kind].exec(token);
  if (!m) return null;
  const ref = { runId: Number(m[1]), messageId: Number(m[2]) };
  if (!Number.isSafeInteger(ref.runId) || !Number.isSafeInteger(ref.messageId)) return null;
  const url = kind === 'click' ? Buffer.from(m[3]!, 'base64url').toString('utf8') : null;
  const given = Buffer.from(kind === 'click' ? m[4]! : m[3]!, 'base64url');
  if (given.length !== macLength) return null;
  const messageMac = messageMacs(key, ref).subarray(kindOffset[kind], kindOffset[kind] + macLength);
  // Not through the signing cache: URLs from the public route would evict the run's own.
  const v2 = url === null ? messageMac : xor(messageMac, urlMac(key, ref.runId, url));
  if (!timingSafeEqual(given, v2) && !timingSafeEqual(given, macV1(key, kind, ref, url))) return null;
  // Only web links are ever signed (email-compose.ts); refuse anything else even with a good MAC.
  if (url !== null && !/^https?:\/\//i.test(url)) return null;
  return { ...ref, url };
}
