import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Twilio's request signature (X-Twilio-Signature), for its status callbacks: HMAC-SHA1,
 * keyed with the account's auth token, over the full URL Twilio called (query included)
 * followed by every POST parameter, sorted by name, as name then value with no separator;
 * base64. A repeated name (StatusCallbackEvent=…&StatusCallbackEvent=…) contributes
 * each of its values, in sorted order, as Twilio's own helper libraries do.
 */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const pairs = [...params].sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  const hmac = createHmac('sha1', authToken).update(url, 'utf8');
  for (const [name, value] of pairs) hmac.update(name + value, 'utf8');
  return hmac.digest('base64');
}

/**
 * The URL as it may have been signed: Twilio signs what it called, and a proxy in front of
 * Herald may add or drop the scheme's default port, so both spellings are tried (as
 * twilio-node's validateRequest does).
 */
function spellings(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [url];
  }
  const defaultPort = parsed.protocol === 'https:' ? '443' : parsed.protocol === 'http:' ? '80' : null;
  if (!defaultPort) return [url];
  const authority = `${parsed.protocol}//${parsed.username ? `${parsed.username}:${parsed.password}@` : ''}`;
  const rest = `${parsed.pathname}${parsed.search}${parsed.hash}`;
  const withPort = `${authority}${parsed.hostname}:${parsed.port || defaultPort}${rest}`;
  const withoutPort = parsed.port && parsed.port !== defaultPort ? withPort : `${authority}${parsed.hostname}${rest}`;
  return [...new Set([url, withPort, withoutPort])];
}

/** Whether `signature` is Twilio's signature of this callback under `authToken`; compared in constant time. */
export function verifyTwilioSignature(authToken: string, url: string, params: URLSearchParams, signature: string | undefined): boolean {
  if (!signature) return false;
  const given = Buffer.from(signature);
  return spellings(url).some((spelling) => {
    const expected = Buffer.from(twilioSignature(authToken, spelling, params));
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
