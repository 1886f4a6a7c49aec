/**
 * Readers for provider settings that every config.ts shares (STYLE habit 6: read once, at
 * start, and refused with a message naming the variable).
 */

/** An integer from 1 to `max` from `env[name]`; `fallback` when unset or blank; throws naming the variable otherwise. */
export function positiveInt(env: NodeJS.ProcessEnv, name: string, fallback: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`${name} must be an integer from 1 to ${max}, not "${env[name]}"`);
  return n;
}

const loopbackHosts = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** Whether a URL's hostname is this machine by its usual names (127.0.0.1, localhost, [::1]): where plain http may go. */
export function isLoopbackHost(hostname: string): boolean {
  return loopbackHosts.has(hostname);
}

/**
 * Checks a provider's base URL: http(s), no query or fragment; plain http only to loopback,
 * because a token travels with every request. Answers it without a trailing slash.
 *
 * @example
 * checkedBaseUrl('VIBER_API_URL', 'https://chatapi.viber.com/', 'https://chatapi.viber.com') // 'https://chatapi.viber.com'
 */
export function checkedBaseUrl(name: string, raw: string, example: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`${name} must be a URL such as ${example}, not "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`${name} must be an http(s) URL, not "${raw}"`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname))
    throw new Error(`${name} must use https (plain http is allowed to loopback only), not "${raw}"`);
  if (url.search || url.hash) throw new Error(`${name} must not carry a query or fragment, not "${raw}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}
