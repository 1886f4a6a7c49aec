import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * The `Herald-Signature` header, on every request Herald posts to an endpoint and on every
 * receipt an endpoint posts back (Stripe's scheme):
 *
 *     Herald-Signature: t=1733097600,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
 *
 * `t` is the signing time in Unix seconds and `v1` the lower-case hex HMAC-SHA256, keyed by
 * the sender's secret (its UTF-8 bytes, exactly as configured), of `<t>.<raw body bytes>`. Signing the time with the body is what
 * makes replay protection work: a receiver refuses a `t` more than the tolerance (300 s)
 * away from its clock, and an attacker cannot move `t` without breaking `v1`. A header may
 * carry several `v1` entries (one per secret while a secret is being rotated) and schemes
 * other than `v1`, which a receiver ignores; it passes when any `v1` matches.
 *
 * Verifying in another language: split the header on `,`, each part on the first `=`;
 * compute the HMAC over the bytes exactly as received (before any JSON parsing); compare in
 * constant time; check `|now − t| ≤ 300`.
 */

/** The header's name, in the case Node gives incoming headers. */
export const signatureHeader = 'herald-signature';

/** Seconds a signature stays acceptable either side of the receiver's clock. */
export const defaultToleranceSeconds = 300;

/** Why a signature was refused, for the receiver's logs; never shown to the caller in detail. */
export type SignatureCheck =
  | { readonly ok: true; readonly timestamp: number }
  | { readonly ok: false; readonly reason: 'malformed' | 'stale' | 'mismatch'; readonly detail: string };

function hmacHex(secret: string, timestamp: number, body: string | Uint8Array): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest('hex');
}

/** The `Herald-Signature` value for `body` signed with `secret` at `now`. */
export function signWebhook(secret: string, body: string | Uint8Array, now: Date = new Date()): string {
  const t = Math.floor(now.getTime() / 1000);
  return `t=${t},v1=${hmacHex(secret, t, body)}`;
}

/** Reads `t=…,v1=…[,v1=…]`; unknown schemes are skipped so a future `v2` does not break old receivers. */
function parseHeader(header: string): { timestamp: number; signatures: string[] } | null {
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const cut = part.indexOf('=');
    if (cut < 0) return null;
    const key = part.slice(0, cut).trim();
    const value = part.slice(cut + 1).trim();
    if (key === 't') {
      // Twelve digits reach the year 33658; more is not a time, and two `t`s are ambiguous.
      if (timestamp !== null || !/^\d{1,12}$/.test(value)) return null;
      timestamp = Number(value);
    } else if (key === 'v1') signatures.push(value);
  }
  return timestamp === null || signatures.length === 0 ? null : { timestamp, signatures };
}

/**
 * Checks a `Herald-Signature` header against the raw body: well formed, signed within
 * `toleranceSeconds` of `now` (either side, for clock skew) and by `secret`. The comparison
 * is constant-time, so timing reveals nothing about the expected signature.
 */
export function checkWebhookSignature(
  secret: string,
  header: string | undefined | null,
  body: string | Uint8Array,
  now: Date = new Date(),
  toleranceSeconds: number = defaultToleranceSeconds,
): SignatureCheck {
  const parsed = typeof header === 'string' ? parseHeader(header) : null;
  if (!parsed) return { ok: false, reason: 'malformed', detail: 'Herald-Signature must be t=<unix seconds>,v1=<hex HMAC-SHA256>' };
  const skew = Math.abs(now.getTime() / 1000 - parsed.timestamp);
  if (!(skew <= toleranceSeconds))
    return { ok: false, reason: 'stale', detail: `The signature's time is ${Math.round(skew)} s away (tolerance ${toleranceSeconds} s)` };
  const expected = Buffer.from(hmacHex(secret, parsed.timestamp, body), 'hex');
  for (const candidate of parsed.signatures) {
    // Buffer.from(…, 'hex') stops at the first non-hex pair, so the text must be checked whole first.
    if (!/^[0-9a-f]{64}$/i.test(candidate)) continue;
    if (timingSafeEqual(Buffer.from(candidate, 'hex'), expected)) return { ok: true, timestamp: parsed.timestamp };
  }
  return { ok: false, reason: 'mismatch', detail: 'No v1 signature matches the body under this secret' };
}

/** Whether the header is a valid signature of `body` by `secret` within the tolerance of `now` (replay protection). */
export function verifyWebhookSignature(
  secret: string,
  header: string | undefined | null,
  body: string | Uint8Array,
  now: Date = new Date(),
  toleranceSeconds: number = defaultToleranceSeconds,
): boolean {
  return checkWebhookSignature(secret, header, body, now, toleranceSeconds).ok;
}
