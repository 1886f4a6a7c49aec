import { Pool } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingPush, ProviderFatalError, type SendResult } from '../channel.js';
import { appReceiptToken } from '../app-receipts.js';
import type { ProviderContext, SenderIdentity } from '../provider.js';
import type { RecipientVerdict } from '../receipts.js';
import { type FcmConfig, type ServiceAccount, serviceAccountOf } from './config.js';
import { AccessTokens } from './oauth.js';
import { fcmReceiptSecret } from './receipts.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { postForAnswer } from '../http-post.js';
import { RetryAfterGate, retryAfterMs } from '../retry-after.js';
import { Slots } from '../slots.js';

/** The data keys that carry the app receipt (see app-receipts.ts): the app posts `heraldReceipt` to `heraldReceiptUrl`. */
export const receiptTokenKey = 'heraldReceipt';
export const receiptUrlKey = 'heraldReceiptUrl';

/** One message as `messages:send` takes it (the discovery document's Message and Notification). */
export interface WireMessage {
  readonly token: string;
  readonly notification: { readonly title: string; readonly body: string; readonly image?: string };
  /** String values only: FCM refuses anything else. */
  readonly data: Readonly<Record<string, string>>;
  readonly android: { readonly notification: { readonly tag: string } };
  readonly apns: { readonly headers: Readonly<Record<string, string>> };
}

/** A google.rpc.Status error body, as every Google API answers a failure. */
export interface RpcErrorBody {
  readonly error?: {
    readonly code?: number;
    readonly message?: string;
    readonly status?: string;
    readonly details?: readonly {
      readonly '@type'?: string;
      /** google.firebase.fcm.v1.FcmError */
      readonly errorCode?: string;
      /** google.rpc.BadRequest */
      readonly fieldViolations?: readonly { readonly field?: string; readonly description?: string }[];
    }[];
  };
}

const fcmErrorType = 'type.googleapis.com/google.firebase.fcm.v1.FcmError';
const badRequestType = 'type.googleapis.com/google.rpc.BadRequest';

/** What one FCM answer means for us; nothing vendor-shaped passes this point. */
export type FcmVerdict =
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly recipient?: RecipientVerdict;
      /** Wait this long when FCM did not say (Retry-After absent). */
      readonly defaultRetryAfterMs?: number;
    }
  /** The whole campaign cannot go on (credentials, permissions, the endpoint): ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string }
  /** The access token was refused: fetch a new one and try once more. */
  | { readonly verdict: 'reauthenticate'; readonly detail: string };

/**
 * Maps an answer that is not 200 (the google.rpc error body, github.com/googleapis/googleapis
 * google/firebase/fcm/v1 FcmError, firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode).
 * The FcmError detail decides where there is one; the rpc status otherwise.
 */
export function verdictOfError(status: number, text: string): FcmVerdict {
  let body: RpcErrorBody | null = null;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as RpcErrorBody;
  } catch {
    // Load balancers and proxies answer in HTML; the status alone decides.
  }
  const error = body?.error;
  const details: NonNullable<NonNullable<RpcErrorBody['error']>['details']> = Array.isArray(error?.details) ? error.details : [];
  const fcmCode = details.find((d) => d?.['@type'] === fcmErrorType)?.errorCode;
  const rpcStatus = error?.status;
  const said = (typeof error?.message === 'string' ? error.message : text).slice(0, 300).trim();
  const detail = `${said || 'no message'} (HTTP ${status}${(fcmCode ?? rpcStatus) ? `, ${fcmCode ?? rpcStatus}` : ''})`;
  const failed = (
    kind: 'transient' | 'permanent',
    code: string,
    extra: { recipient?: RecipientVerdict; defaultRetryAfterMs?: number } = {},
  ) => ({ verdict: 'failed', kind, code, detail, ...extra }) as const;

  switch (fcmCode ?? rpcStatus ?? '') {
    // The Admin SDKs read a bare NOT_FOUND the same way: the token is not (or no longer) registered.
    case 'UNREGISTERED':
    case 'NOT_FOUND':
      return failed('permanent', 'FCM_UNREGISTERED', { recipient: 'invalid' });
    case 'INVALID_ARGUMENT': {
      const aboutToken =
        details.some((d) => d?.['@type'] === badRequestType && d.fieldViolations?.some((v) => v?.field === 'message.token')) ||
        /registration token/i.test(said);
      return aboutToken ? failed('permanent', 'FCM_INVALID_TOKEN', { recipient: 'invalid' }) : failed('permanent', 'FCM_INVALID_MESSAGE');
    }
    // The token belongs to another Firebase project's app: it will never take this sender's messages.
    case 'SENDER_ID_MISMATCH':
      return failed('permanent', 'FCM_SENDER_ID_MISMATCH', { recipient: 'invalid' });
    // FCM asks for at least a minute's back-off when it does not send Retry-After.
    case 'QUOTA_EXCEEDED':
    case 'RESOURCE_EXHAUSTED':
      return failed('transient', 'FCM_QUOTA_EXCEEDED', { defaultRetryAfterMs: 60_000 });
    case 'UNAVAILABLE':
      return failed('transient', 'FCM_UNAVAILABLE');
    case 'INTERNAL':
      return failed('transient', 'FCM_INTERNAL');
    // The project's APNs certificate or key (or web push credentials) is missing or refused: every
    // message to that platform fails the same way until someone fixes it in the Firebase console.
    case 'THIRD_PARTY_AUTH_ERROR':
      return { verdict: 'fatal', code: 'FCM_THIRD_PARTY_AUTH', detail: `FCM could not authenticate to APNs or web push: ${detail}` };
    case 'UNAUTHENTICATED':
      return { verdict: 'reauthenticate', detail };
    case 'PERMISSION_DENIED':
      return { verdict: 'fatal', code: 'FCM_PERMISSION', detail: `The service account may not send for this project: ${detail}` };
    default:
      break;
  }
  if (status === 401) return { verdict: 'reauthenticate', detail };
  if (status === 403)
    return { verdict: 'fatal', code: 'FCM_PERMISSION', detail: `The service account may not send for this project: ${detail}` };
  if (status === 429) return failed('transient', 'FCM_QUOTA_EXCEEDED', { defaultRetryAfterMs: 60_000 });
  if (status >= 500 || status === 408) return failed('transient', 'FCM_UNAVAILABLE');
  if (status === 404 || (status >= 300 && status < 400))
    return { verdict: 'fatal', code: 'FCM_ENDPOINT', detail: `HTTP ${status} from messages:send: check FCM_API_URL and the project id` };
  return failed('permanent', 'FCM_REJECTED');
}

/**
 * Our message in FCM's shape, carrying the signed app receipt in its data. FCM has no
 * idempotency key, so the ledger key goes where the phone itself de-duplicates: Android's
 * notification tag and APNs's apns-collapse-id (at most 64 bytes; a ledger key is at most 31)
 * make a crash re-send replace the notification already shown instead of showing a second one.
 */
export function toWireMessage(m: OutgoingPush, receiptSecret: string, receiptUrl: string | null): WireMessage {
  const data: Record<string, string> = { ...m.data, [receiptTokenKey]: appReceiptToken(receiptSecret, m.ledgerKey) };
  if (receiptUrl !== null) data[receiptUrlKey] = receiptUrl;
  const notification = m.imageUrl !== null ? { title: m.title, body: m.body, image: m.imageUrl } : { title: m.title, body: m.body };
  return {
    token: m.to,
    notification,
    data,
    android: { notification: { tag: m.ledgerKey } },
    apns: { headers: { 'apns-collapse-id': m.ledgerKey } },
  };
}

/** What sending needs once the sender's service account has been read. */
interface Sending {
  readonly account: ServiceAccount;
  readonly tokens: AccessTokens;
  readonly path: string;
  readonly receiptSecret: string;
}

export interface FcmAdapterOptions {
  /** The clock the token cache and Retry-After read (tests pass a controllable one). */
  readonly now?: () => number;
}

/**
 * Mobile push over the FCM HTTP v1 API: one `POST {base}/v1/projects/{project}/messages:send`
 * per message (the legacy multicast and batch endpoints are gone), authorised by an OAuth 2
 * access token from the sender's service account (oauth.ts), through an undici Pool that
 * keeps its connections alive.
 *
 * FCM has no idempotency key: a message re-sent after a crash reaches the device again, so
 * the adapter declares `idempotent: false`. FCM sends no delivery webhooks either; the
 * notification's data carries a signed receipt token the app posts back (app-receipts.ts).
 */
export class FcmAdapter implements ChannelAdapter<OutgoingPush> {
  readonly name = 'fcm';
  readonly channel = 'push' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #config: FcmConfig;
  readonly #now: () => number;
  readonly #pool: Pool;
  readonly #slots: Slots;
  readonly #receiptUrl: string | null;
  /** What sending needs, or why the sender's credentials do not read (every send() then throws FCM_AUTH). */
  readonly #sending: Sending | { readonly problem: string };
  /** FCM asked us (Retry-After) not to call before a time; every request waits it out. */
  readonly #gate: RetryAfterGate;

  constructor(config: FcmConfig, sender: SenderIdentity, context: ProviderContext, options: FcmAdapterOptions = {}) {
    this.#config = config;
    this.#now = options.now ?? Date.now;
    this.#receiptUrl = context.receiptUrl;
    this.capabilities = { batchSize: 1, concurrency: config.concurrency, idempotent: false, costUnit: 'message' };
    const base = new URL(config.baseUrl);
    this.#pool = new Pool(base.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
    this.#slots = new Slots(config.concurrency);
    this.#gate = new RetryAfterGate(config.maxRetryWaitMs, this.#now);
    this.#sending = this.#prepare(config, sender, base.pathname);
  }

  #prepare(config: FcmConfig, sender: SenderIdentity, basePath: string): Sending | { readonly problem: string } {
    let account: ServiceAccount;
    try {
      account = serviceAccountOf(config, sender);
    } catch (err) {
      return { problem: (err as Error).message };
    }
    return {
      account,
      tokens: new AccessTokens(account, { now: this.#now, timeoutMs: config.timeoutMs }),
      path: `${basePath.replace(/\/+$/, '')}/v1/projects/${encodeURIComponent(account.projectId)}/messages:send`,
      receiptSecret: fcmReceiptSecret(account, sender),
    };
  }

  /** Access-token requests this adapter made (a test and diagnostics figure). */
  get tokenRequests(): number {
    return 'tokens' in this.#sending ? this.#sending.tokens.requests : 0;
  }

  /**
   * Sends each message in its own request, concurrently up to the adapter's limit, and
   * answers one result per message in input order. After a fatal answer no further request
   * starts; the ProviderFatalError carries the results of the requests that had completed.
   */
  async send(batch: readonly OutgoingPush[]): Promise<SendResult[]> {
    const sending = this.#sending;
    if ('problem' in sending) throw new ProviderFatalError('FCM_AUTH', sending.problem);
    return sendEach(batch, this.#slots, (m) => this.#sendOne(m, sending));
  }

  async #sendOne(m: OutgoingPush, sending: Sending): Promise<SendOutcome> {
    const failed = (
      kind: 'transient' | 'permanent',
      code: string,
      detail: string,
      extra: { retryAfterMs?: number; recipient?: RecipientVerdict } = {},
    ): SendOutcome => ({ result: { messageId: m.messageId, ok: false, kind, code, detail, ...extra } });
    const pause = await this.#gate.pass();
    if (pause)
      return failed('transient', 'FCM_QUOTA_EXCEEDED', `FCM asked for no requests before ${pause.until}`, { retryAfterMs: pause.waitMs });

    const body = JSON.stringify({ message: toWireMessage(m, sending.receiptSecret, this.#receiptUrl) });
    // A refused access token is fetched again once: it may have been revoked or have expired in flight.
    for (let attempt = 1; ; attempt++) {
      const token = await sending.tokens.get();
      if (!token.ok) return token.kind === 'fatal' ? { fatal: token } : failed('transient', token.code, token.detail);
      const answer = await postForAnswer(this.#pool, {
        path: sending.path,
        headers: { Authorization: `Bearer ${token.token}`, 'Content-Type': 'application/json', Accept: 'application/json' },
        body,
        timeoutMs: this.#config.timeoutMs,
      });
      if (!answer.ok) {
        if (answer.timedOut) return failed('transient', 'FCM_TIMEOUT', `No answer from FCM within ${this.#config.timeoutMs} ms`);
        return failed('transient', 'FCM_NETWORK', (answer.error.code ?? answer.error.message).slice(0, 300));
      }
      const { status, text } = answer;

      if (status >= 200 && status < 300) {
        let name: unknown = null;
        try {
          name = (JSON.parse(text) as { name?: unknown }).name;
        } catch {
          // FCM took it (2xx) but said nothing readable: still sent, without a provider id.
        }
        return { result: { messageId: m.messageId, ok: true, providerId: typeof name === 'string' ? name : null } };
      }
      const v = verdictOfError(status, text);
      switch (v.verdict) {
        case 'reauthenticate':
          sending.tokens.invalidate(token.token);
          if (attempt === 1) continue;
          return {
            fatal: { code: 'FCM_AUTH', detail: `FCM refused a fresh access token for ${sending.account.clientEmail}: ${v.detail}` },
          };
        case 'fatal':
          return { fatal: v };
        case 'failed': {
          const delay = retryAfterMs(answer.header('retry-after'), this.#now()) ?? v.defaultRetryAfterMs ?? null;
          if (delay !== null) this.#gate.pauseFor(delay);
          return failed(v.kind, v.code, v.detail, {
            ...(delay !== null ? { retryAfterMs: delay } : {}),
            ...(v.recipient ? { recipient: v.recipient } : {}),
          });
        }
        default:
          return assertUnreachable(v);
      }
    }
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}
