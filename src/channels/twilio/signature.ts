import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Twilio's request signature (X-Twilio-Signature), for its status callbacks: HMAC-SHA1,
 * keyed with the account's auth token, over the full URL Twilio called (query included)
 * followed by every POST parameter, sorted by name, as name then value with no separator;
 * base64. A repeated name (StatusCallbackEvent=…&StatusCallbackEvent=…) contributes
 * each of its distinct values once, sorted, as Twilio's own helper libraries do (their
 * published vector for Digits=5678&Digits=1234&Digits=1234 signs Digits1234Digits5678).
 */
export function twilioSignature(authToken: string, url: string, params: URLSearchParams): string {
  const byName = new Map<string, Set<string>>();
  for (const [name, value] of params) byName.set(name, (byName.get(name) ?? new Set()).add(value));
  const hmac = createHmac('sha1', authToken).update(url, 'utf8');
  // Plain code-unit order, as the libraries' default sorts use: no locale collation.
  for (const name of [...byName.keys()].sort()) for (const value of [...byName.get(name)!].sort()) hmac.update(name + value, 'utf8');
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
