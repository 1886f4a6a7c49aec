import type { Channel } from '../domain/lifecycle.js';

/** One rendered message, ready for a provider. */
export interface OutgoingEmail {
  /** The ledger row's id: the idempotency key of this send. */
  readonly messageId: number;
  readonly runId: number;
  /** RFC 5322 Message-ID derived from the ledger row, identical on every attempt. */
  readonly headerMessageId: string;
  readonly from: { readonly name: string | null; readonly address: string };
  readonly replyTo: string | null;
  readonly to: string;
  readonly subject: string;
  readonly html: string | null;
  readonly text: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** What the provider did with one message. Vendor codes are mapped to these at the edge. */
export type SendResult =
  | { readonly messageId: number; readonly ok: true; readonly providerId: string | null }
  | {
      readonly messageId: number;
      readonly ok: false;
      /** transient: try again later; permanent: this recipient will never accept it. */
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      /** The provider asked not to be called again for this long (Retry-After), if it said so. */
      readonly retryAfterMs?: number;
    };

export interface ChannelCapabilities {
  /** Messages the adapter wants per send() call. */
  readonly batchSize: number;
  /** Messages in flight at once. */
  readonly concurrency: number;
  /** The provider drops a repeated idempotency key (so crash re-sends never reach a person). */
  readonly idempotent: boolean;
  readonly costUnit: 'message' | 'segment' | 'call';
}

/**
 * The one interface every provider adapter implements (DESIGN §1): send a batch and get
 * one result per message, never a throw for a per-message failure. A provider-wide fatal
 * failure (bad credentials) throws ProviderFatalError: the campaign cannot go on.
 */
export interface ChannelAdapter<M = OutgoingEmail> {
  readonly name: string;
  readonly channel: Channel;
  readonly capabilities: ChannelCapabilities;
  send(batch: readonly M[]): Promise<SendResult[]>;
  close(): Promise<void>;
}

export class ProviderFatalError extends Error {
  readonly code: string;
  /**
   * What became of each message of the batch before the provider gave up: messages it
   * accepted must still be recorded as sent, or a retry would send them again.
   */
  readonly results: readonly SendResult[];
  constructor(code: string, message: string, results: readonly SendResult[] = []) {
    super(message);
    this.name = 'ProviderFatalError';
    this.code = code;
    this.results = results;
  }
}
