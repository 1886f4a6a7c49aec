import { createPrivateKey, sign } from 'node:crypto';
import { request } from 'undici';
import { type ServiceAccount, fcmScope } from './config.js';

/**
 * OAuth 2 access tokens for a Google service account, the "JWT bearer" grant (RFC 7523,
 * developers.google.com/identity/protocols/oauth2/service-account): a JWT signed RS256 with
 * the account's key is exchanged at `token_uri` for an access token that lives an hour.
 */

/** A fresh token, or why there is none: `fatal` when the credentials are wrong, `transient` when the endpoint is not answering. */
export type TokenOutcome =
  | { readonly ok: true; readonly token: string }
  | { readonly ok: false; readonly kind: 'fatal' | 'transient'; readonly code: string; readonly detail: string };

/** Lifetime asked for: Google's maximum. */
const assertionLifetimeSeconds = 3600;

/**
 * Refresh this long before the token expires, so a request that starts just before expiry
 * does not arrive with a dead token: Google's own client libraries use 5 minutes. Short-lived
 * tokens (the sandbox may issue them) are refreshed after half their life instead.
 */
const refreshMarginMs = 5 * 60_000;

/** The signed JWT the token endpoint takes as `assertion`. */
export function signedAssertion(account: ServiceAccount, nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = account.privateKeyId ? { alg: 'RS256', typ: 'JWT', kid: account.privateKeyId } : { alg: 'RS256', typ: 'JWT' };
  const claims = { iss: account.clientEmail, scope: fcmScope, aud: account.tokenUri, iat, exp: iat + assertionLifetimeSeconds };
  const input = `${base64url(header)}.${base64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), createPrivateKey(account.privateKey)).toString('base64url');
  return `${input}.${signature}`;
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * One service account's access token, cached until shortly before it expires. Concurrent
 * callers share one refresh: a send of 50 lanes starting together makes one token request,
 * not fifty.
 */
export class AccessTokens {
  readonly #account: ServiceAccount;
  readonly #now: () => number;
  readonly #timeoutMs: number;
  #token: { readonly value: string; readonly refreshAt: number } | null = null;
  #inFlight: Promise<TokenOutcome> | null = null;
  /** Token requests made, for tests and diagnostics. */
  requests = 0;

  constructor(account: ServiceAccount, options: { now?: () => number; timeoutMs?: number } = {}) {
    this.#account = account;
    this.#now = options.now ?? Date.now;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** The cached token while it is fresh, else a new one (one request however many callers wait). */
  get(): Promise<TokenOutcome> {
    if (this.#token && this.#now() < this.#token.refreshAt) return Promise.resolve({ ok: true, token: this.#token.value });
    this.#inFlight ??= this.#fetch().finally(() => {
      this.#inFlight = null;
    });
    return this.#inFlight;
  }

  /** Forgets `token` after FCM refused it (401), unless a newer one has replaced it already. */
  invalidate(token: string): void {
    if (this.#token?.value === token) this.#token = null;
  }

  async #fetch(): Promise<TokenOutcome> {
    let assertion: string;
    try {
      assertion = signedAssertion(this.#account, this.#now());
    } catch (err) {
      // createPrivateKey's message says what is wrong with the PEM without quoting it.
      return {
        ok: false,
        kind: 'fatal',
        code: 'FCM_AUTH',
        detail: `The service account's private_key cannot sign: ${(err as Error).message}`,
      };
    }
    const form = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion }).toString();
    this.requests++;
    let status: number;
    let text: string;
    try {
      const response = await request(this.#account.tokenUri, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        body: form,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      status = response.statusCode;
      text = await response.body.text();
    } catch (err) {
      const e = err as Error & { code?: string };
      return {
        ok: false,
        kind: 'transient',
        code: 'FCM_AUTH_UNAVAILABLE',
        detail: `Token endpoint: ${(e.code ?? e.message).slice(0, 200)}`,
      };
    }
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = JSON.parse(text);
      if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
    } catch {
      // A proxy's HTML page: the status alone decides.
    }
    if (status === 200 && typeof body.access_token === 'string' && body.access_token !== '') {
      const lifetimeMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : assertionLifetimeSeconds) * 1000;
      const refreshAt = this.#now() + lifetimeMs - Math.min(refreshMarginMs, lifetimeMs / 2);
      this.#token = { value: body.access_token, refreshAt };
      return { ok: true, token: body.access_token };
    }
    const error = typeof body.error === 'string' ? body.error : null;
    const said = [error, typeof body.error_description === 'string' ? body.error_description : null].filter(Boolean).join(': ');
    const detail = `The token endpoint answered HTTP ${status}${said ? ` (${said.slice(0, 300)})` : ''}`;
    // 400/401 invalid_grant (a bad signature, an unknown or disabled key, a clock far off), invalid_client,
    // unauthorized_client (RFC 6749 §5.2): asking again gets the same answer, so the campaign stops.
    if (status >= 400 && status < 500 && status !== 408 && status !== 429)
      return {
        ok: false,
        kind: 'fatal',
        code: 'FCM_AUTH',
        detail: `Google refused the service account ${this.#account.clientEmail}. ${detail}`,
      };
    return { ok: false, kind: 'transient', code: 'FCM_AUTH_UNAVAILABLE', detail };
  }
}
