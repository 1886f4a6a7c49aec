import type { Channel } from '../domain/lifecycle.js';
import type { ChannelAdapter, Outgoing } from './channel.js';
import type { ReceiptParse } from './receipts.js';

/**
 * Who sends: the sender resource of the campaign (DESIGN §5), as an adapter sees it.
 * `credentials` are decrypted only here, in memory, for the adapter and the receipt
 * check; they are never logged, returned by the API or put in an error message.
 */
export interface SenderIdentity {
  /** The sender's id; null for a provider configured only in the environment. */
  readonly id: string | null;
  /** Display name: the Viber sender name, the email From name, … */
  readonly name: string | null;
  /** The sending address: an E.164 number or alphanumeric sender id (SMS, voice), a bot username, … */
  readonly address: string | null;
  /** Per-sender secrets, channel-specific (a bot token, a VAPID private key, an FCM service account, …). */
  readonly credentials: Readonly<Record<string, string>>;
}

/** What an adapter needs from Herald itself. */
export interface ProviderContext {
  /**
   * The URL the provider should call back with receipts for this sender, e.g.
   * `http://127.0.0.1:3000/v1/receipts/twilio-sms/snd_…`; null when Herald has no public URL
   * (the adapter then asks for no callbacks).
   */
  readonly receiptUrl: string | null;
}

/** Faults a sandbox injects, each a fraction from 0 to 1 of the messages (or requests) it receives. */
export interface SandboxFaults {
  /** Added to every answer, in milliseconds. */
  readonly latencyMs?: number;
  /** Answered as the provider answers a passing problem (5xx, or 429 with Retry-After). */
  readonly transientRate?: number;
  /** Answered as the provider rejects a recipient for good (an invalid number, a blocked bot, a gone subscription). */
  readonly permanentRate?: number;
  /** Accepted, then a receipt says it failed (undelivered, bounced). */
  readonly undeliveredRate?: number;
  /** Of the delivered ones, the fraction that is later read/opened where the channel has it. */
  readonly readRate?: number;
  /** Retry-After, in seconds, on the 429s it answers (default 1; 0 lets a load test retry at once). */
  readonly retryAfterSeconds?: number;
}

export interface SandboxOptions extends SandboxFaults {
  /**
   * Where the sandbox posts its receipts, signed as the provider signs them; called for each
   * receipt, because Herald learns its own URL only once it listens. Null: send no receipts.
   */
  readonly receiptUrl: () => string | null;
  /** Started as a channel's failover provider: a distinct account where the protocol has accounts. */
  readonly secondary?: boolean;
  /** Delay before a receipt goes out, in milliseconds (default a few ms). */
  readonly receiptDelayMs?: number;
  readonly host?: string;
  readonly port?: number;
}

/** One message a sandbox accepted, in our words, for the demo, the tests and `GET /v1/sandbox/messages`. */
export interface SandboxMessage {
  readonly channel: Channel;
  readonly to: string;
  /** The ledger key the request carried, when the protocol carries one. */
  readonly ledgerKey: string | null;
  readonly providerId: string;
  /** A short human summary: the SMS text, the push title, the spoken script, … */
  readonly summary: string;
  readonly receivedAt: string;
}

/** A running loopback sandbox provider. */
export interface SandboxServer {
  /** Base URL of its API, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  /** Messages accepted (a repeat of an idempotency key is not counted twice). */
  readonly accepted: number;
  /** Repeats of an idempotency key it dropped, as the provider would. */
  readonly duplicates: number;
  /** The latest accepted messages, newest last (bounded). */
  messages(): readonly SandboxMessage[];
  /**
   * A fresh address this sandbox delivers to, where an address cannot be made up (a web push
   * subscription carries keys the push service must know); absent where any address works.
   */
  mintAddress?(): string;
  /** Changes the injected faults while running. */
  setFaults(faults: SandboxFaults): void;
  /** Resolves once every receipt it scheduled has been posted (or failed to post). */
  drainReceipts(): Promise<void>;
  close(): Promise<void>;
}

/** A receipt webhook request as it reached Herald, before any parsing. */
export interface ReceiptRequest {
  /** The full URL the provider called, with its query (Twilio signs it). */
  readonly url: string;
  readonly method: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  readonly rawBody: Buffer;
}

/** How a provider's receipt webhooks are checked and read. */
export interface ReceiptHandler<C> {
  /** Whether the request really comes from the provider (its signature over the body/URL). */
  verify(request: ReceiptRequest, config: C, sender: SenderIdentity): boolean;
  /** Reads the request into zero or more events; nothing vendor-shaped passes this point. */
  parse(request: ReceiptRequest): ReceiptParse;
}

/**
 * A provider's receipt handler bound to its configuration, for a provider the process runs
 * outside the Providers registry: email over HTTP, whose adapter the runtime builds from
 * HERALD_EMAIL_TRANSPORT. Its receipts come to `/v1/receipts/<provider>/default` only, as
 * the process has one such account.
 */
export interface ProcessReceipts {
  /** Its name in the receipt URL, e.g. `postmark`. */
  readonly provider: string;
  readonly channel: Channel;
  verify(request: ReceiptRequest): boolean;
  parse(request: ReceiptRequest): ReceiptParse;
}

/**
 * One provider protocol (STYLE habit 7: a folder under src/channels with adapter.ts,
 * config.ts, receipts.ts, sandbox.ts and an index.ts exporting this). The runtime builds
 * adapters from it per sender, routes every channel without a configured provider to its
 * sandbox in sandbox mode, and the receipts route verifies and parses with it.
 */
export interface ProviderModule<C = unknown, M extends Outgoing = Outgoing> {
  /** Stable name, used in receipt URLs and rate-limit keys: `twilio-sms`, `telegram`, … */
  readonly name: string;
  readonly channel: Channel;
  /** Reads the provider's environment variables (validated once, STYLE habit 6); null when unset. */
  configFromEnv(env: NodeJS.ProcessEnv): C | null;
  /**
   * The configuration for the provider's public API when the environment names no account,
   * so senders that carry their own credentials can still send; absent when the provider
   * cannot work without environment settings.
   */
  defaultConfig?(env: NodeJS.ProcessEnv): C;
  /**
   * A second account or endpoint of the same protocol that takes over when the first is down
   * (engine/failover-adapter.ts), from the environment; null when none is set. Absent for
   * providers without failover.
   */
  failoverConfigFromEnv?(env: NodeJS.ProcessEnv): C | null;
  /** Starts the loopback sandbox; `config` reaches it and `credentials` are what it accepts. */
  startSandbox(options: SandboxOptions): Promise<{
    readonly server: SandboxServer;
    readonly config: C;
    readonly credentials: Readonly<Record<string, string>>;
  }>;
  /**
   * The credential fields a sender of this provider must carry (e.g. ['botToken']) unless
   * the environment configures them; the senders API checks them on create.
   */
  readonly credentialFields: readonly string[];
  createAdapter(config: C, sender: SenderIdentity, context: ProviderContext): ChannelAdapter<M>;
  /** Null for providers that send no receipts (FCM's delivery data is not a webhook). */
  readonly receipts: ReceiptHandler<C> | null;
}
