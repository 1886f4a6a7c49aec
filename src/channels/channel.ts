import type { RecipientVerdict } from './receipts.js';
import type { Channel } from '../domain/lifecycle.js';

/** One rendered message, ready for a provider. */
export interface OutgoingEmail {
  readonly channel?: 'email';
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

/** What every rendered message carries, whatever its channel. */
interface OutgoingCommon {
  /** The ledger row's id: the idempotency key of this send. */
  readonly messageId: number;
  readonly runId: number;
  /**
   * `<runId>.<messageId>`: adapters hand it to the provider wherever the provider echoes
   * something back in its receipts (a callback URL's query, tracking data, metadata), so a
   * receipt finds its ledger row without a lookup by provider id.
   */
  readonly ledgerKey: string;
  /** The channel address from the snapshot (messages.address; see store/addresses.ts). */
  readonly to: string;
}

/** An SMS (Twilio Messages API). `to` is E.164. */
export interface OutgoingSms extends OutgoingCommon {
  readonly channel: 'sms';
  /** The sender's number (E.164) or alphanumeric sender id. */
  readonly from: string;
  readonly body: string;
  /** Counted by domain/sms.ts; the cost is segments × the workspace's SMS price. */
  readonly segments: number;
  readonly encoding: 'GSM-7' | 'UCS-2';
}

/** A phone call that speaks a script or plays a recording (Twilio Calls API with TwiML). `to` is E.164. */
export interface OutgoingVoice extends OutgoingCommon {
  readonly channel: 'voice';
  readonly from: string;
  /** Text to speech; exactly one of `say` and `audioUrl` is set. */
  readonly say: string | null;
  readonly audioUrl: string | null;
  /** TTS voice and language (e.g. "alice", "en-GB"); null: the provider's default. */
  readonly voice: string | null;
  readonly language: string | null;
}

/** A web push notification. `to` is the PushSubscription JSON ({ endpoint, keys: { p256dh, auth } }). */
export interface OutgoingWebPush extends OutgoingCommon {
  readonly channel: 'webpush';
  readonly title: string;
  readonly body: string;
  readonly url: string | null;
  readonly icon: string | null;
  /** Seconds the push service keeps an undelivered notification. */
  readonly ttlSeconds: number;
}

/** A mobile push notification (FCM HTTP v1). `to` is the device's registration token. */
export interface OutgoingPush extends OutgoingCommon {
  readonly channel: 'push';
  readonly title: string;
  readonly body: string;
  readonly imageUrl: string | null;
  /** FCM data payload: string values only. */
  readonly data: Readonly<Record<string, string>>;
}

/** A Telegram message (Bot API sendMessage). `to` is the chat id. */
export interface OutgoingTelegram extends OutgoingCommon {
  readonly channel: 'telegram';
  readonly text: string;
  readonly parseMode: 'HTML' | 'MarkdownV2' | null;
  /** One row of URL buttons under the message (inline keyboard). */
  readonly buttons: readonly { readonly text: string; readonly url: string }[];
}

/** A Viber message (REST send_message). `to` is the Viber user id. */
export interface OutgoingViber extends OutgoingCommon {
  readonly channel: 'viber';
  /** The sender name shown to the user (≤ 28 characters) and its avatar. */
  readonly senderName: string;
  readonly senderAvatar: string | null;
  readonly text: string | null;
  readonly imageUrl: string | null;
  readonly button: { readonly text: string; readonly url: string } | null;
}

/** A signed JSON POST to the workspace's endpoint, for custom channels. `to` is the contact id. */
export interface OutgoingWebhook extends OutgoingCommon {
  readonly channel: 'webhook';
  /** The JSON document posted: event, ids, the contact and the rendered data. */
  readonly payload: Readonly<Record<string, unknown>>;
}

/** A rendered message of any channel; `channel` tells them apart. */
export type Outgoing =
  | (OutgoingEmail & { readonly channel: 'email' })
  | OutgoingSms
  | OutgoingVoice
  | OutgoingWebPush
  | OutgoingPush
  | OutgoingTelegram
  | OutgoingViber
  | OutgoingWebhook;

/** What the provider did with one message. Vendor codes are mapped to these at the edge. */
export type SendResult =
  | {
      readonly messageId: number;
      readonly ok: true;
      readonly providerId: string | null;
      /** The provider that took it when not the channel's first: its failover (engine/failover-adapter.ts). */
      readonly via?: string;
    }
  | {
      readonly messageId: number;
      readonly ok: false;
      /** transient: try again later; permanent: this recipient will never accept it. */
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      /** The provider asked not to be called again for this long (Retry-After), if it said so. */
      readonly retryAfterMs?: number;
      /**
       * What the answer says about the address itself, so the engine stops using it: a web
       * push subscription gone (404/410), an FCM token unregistered, a bot blocked by the person.
       */
      readonly recipient?: RecipientVerdict;
      /** The provider that answered when not the channel's first (engine/failover-adapter.ts). */
      readonly via?: string;
    };

export interface ChannelCapabilities {
  /** Messages the adapter wants per send() call. */
  readonly batchSize: number;
  /** Messages in flight at once. */
  readonly concurrency: number;
  /** The provider drops a repeated idempotency key (so crash re-sends never reach a person). */
  readonly idempotent: boolean;
  readonly costUnit: 'message' | 'segment' | 'call';
  /**
   * The provider's acceptance is the delivery (Telegram's Bot API answers once the message is
   * in the chat and sends no receipts): the engine records an accepted message as delivered.
   */
  readonly acceptedIsDelivered?: boolean;
  /**
   * The provider's receipts name a message only by the id it answered with (Viber's message
   * token; Telegram's sandbox lists messages by message id): the ledger indexes that id for
   * this adapter's messages (`messages.receipt_key`), and for no one else's.
   */
  readonly receiptsByProviderId?: boolean;
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
