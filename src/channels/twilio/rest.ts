import { Pool } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { parseRetryAfter } from '../../domain/pacing.js';
import { ProviderFatalError, type SendResult } from '../channel.js';
import type { RecipientVerdict } from '../receipts.js';
import type { TwilioConfig } from './config.js';
import { type TwilioFailure, verdictOfTwilioResponse } from './errors.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate } from '../retry-after.js';
import { Slots } from '../slots.js';

/** The resources Herald creates: a Message (SMS) or a Call (voice). */
export type TwilioResource = 'Messages' | 'Calls';

/** One message as a create request: its form, or why it cannot be sent at all (checked before any call). */
export type TwilioRequest = { readonly form: URLSearchParams } | { readonly refused: { readonly code: string; readonly detail: string } };

/**
 * Creates Twilio resources, one form-encoded `POST /2010-04-01/Accounts/{sid}/<resource>.json`
 * per message (Twilio has no batch create), through an undici Pool of its own that keeps
 * `concurrency` connections alive, with HTTP basic auth (Account SID : auth token). Both
 * the SMS and the voice adapter send through it; they differ only in the form.
 */
export class TwilioRest<M extends { readonly messageId: number }> {
  readonly #config: TwilioConfig;
  readonly #credentials: { readonly accountSid: string; readonly authToken: string } | null;
  readonly #toRequest: (m: M) => TwilioRequest;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #headers: Record<string, string>;
  readonly #slots: Slots;
  /** Twilio asked (Retry-After) not to be called before a time; every request waits it out. */
  readonly #gate: RetryAfterGate;

  constructor(
    config: TwilioConfig,
    credentials: { readonly accountSid: string; readonly authToken: string } | null,
    resource: TwilioResource,
    toRequest: (m: M) => TwilioRequest,
  ) {
    this.#config = config;
    this.#credentials = credentials;
    this.#toRequest = toRequest;
    const base = new URL(config.baseUrl);
    const sid = encodeURIComponent(credentials?.accountSid ?? '');
    this.#path = `${base.pathname.replace(/\/+$/, '')}/2010-04-01/Accounts/${sid}/${resource}.json`;
    this.#pool = new Pool(base.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
    const basic = credentials ? Buffer.from(`${credentials.accountSid}:${credentials.authToken}`).toString('base64') : '';
    this.#headers = { Accept: 'application/json', 'Content-Type': 'application/x-www-form-urlencoded', Authorization: `Basic ${basic}` };
    this.#slots = new Slots(config.concurrency);
    this.#gate = new RetryAfterGate(config.maxRetryWaitMs);
  }

  /**
   * Sends each message of the batch, concurrently up to the limit, and answers one result
   * per message in input order. After a fatal answer no further request starts; the
   * ProviderFatalError carries the results of the requests that completed (what Twilio
   * accepted must be recorded as sent) and none for the rest.
   */
  async send(batch: readonly M[]): Promise<SendResult[]> {
    if (!this.#credentials)
      throw new ProviderFatalError(
        'TWILIO_AUTH',
        'No Twilio credentials: set TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN, or give the sender an accountSid and authToken',
      );
    return sendEach(batch, this.#slots, (m) => this.#sendOne(m));
  }

  async #sendOne(m: M): Promise<SendOutcome> {
    const failed = (
      kind: 'transient' | 'permanent',
      code: string,
      detail: string,
      extra: { retryAfterMs?: number | undefined; recipient?: RecipientVerdict | undefined } = {},
    ): SendOutcome => ({
      result: {
        messageId: m.messageId,
        ok: false,
        kind,
        code,
        detail,
        ...(extra.retryAfterMs ? { retryAfterMs: extra.retryAfterMs } : {}),
        ...(extra.recipient ? { recipient: extra.recipient } : {}),
      },
    });
    const request = this.#toRequest(m);
    if ('refused' in request) return failed('permanent', request.refused.code, request.refused.detail);

    const pause = await this.#gate.pass();
    if (pause)
      return failed('transient', 'TWILIO_THROTTLED', `Twilio asked for no requests before ${pause.until}`, { retryAfterMs: pause.waitMs });

    const answer = await postForAnswer(this.#pool, {
      path: this.#path,
      headers: this.#headers,
      body: request.form.toString(),
      timeoutMs: this.#config.timeoutMs,
    });
    if (!answer.ok) {
      if (answer.timedOut) return failed('transient', 'TWILIO_TIMEOUT', `No answer from Twilio within ${this.#config.timeoutMs} ms`);
      return failed('transient', 'TWILIO_NETWORK', (answer.error.code ?? answer.error.message).slice(0, 400));
    }
    const { status, text, header } = answer;

    if (status >= 200 && status < 300) {
      let sid: unknown = null;
      try {
        sid = (JSON.parse(text) as { sid?: unknown } | null)?.sid;
      } catch {
        // A 2xx means Twilio created it; without a readable sid the receipts still find it by the ledger key.
      }
      return { result: { messageId: m.messageId, ok: true, providerId: typeof sid === 'string' && sid !== '' ? sid : null } };
    }
    const now = Date.now();
    const rawRetry = header('retry-after');
    const until = rawRetry === null ? null : parseRetryAfter(rawRetry, now);
    if (until !== null) this.#gate.pauseUntil(until);
    const v: TwilioFailure = verdictOfTwilioResponse(status, text, header('location'));
    switch (v.verdict) {
      case 'fatal':
        return { fatal: { code: v.code, detail: v.detail } };
      case 'failed': {
        const retryAfterMs = v.kind === 'transient' && until !== null ? until - now : undefined;
        return failed(v.kind, v.code, v.detail, { retryAfterMs, recipient: v.recipient });
      }
      default:
        return assertUnreachable(v);
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
