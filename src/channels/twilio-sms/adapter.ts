import type { ChannelAdapter, ChannelCapabilities, OutgoingSms, SendResult } from '../channel.js';
import type { ProviderContext, SenderIdentity } from '../provider.js';
import { statusCallbackUrl } from '../twilio/callbacks.js';
import { type TwilioConfig, twilioCredentials } from '../twilio/config.js';
import { TwilioRest } from '../twilio/rest.js';

/**
 * The create-Message form (`POST /2010-04-01/Accounts/{sid}/Messages.json`): To, From, Body
 * and, when Herald has a receipt URL, a StatusCallback carrying the ledger key, so each
 * status callback finds its ledger row without a lookup by MessageSid.
 */
export function toMessageForm(m: OutgoingSms, receiptUrl: string | null): URLSearchParams {
  const form = new URLSearchParams({ To: m.to, From: m.from, Body: m.body });
  const callback = statusCallbackUrl(receiptUrl, m.ledgerKey);
  if (callback) form.set('StatusCallback', callback);
  return form;
}

/**
 * SMS through Twilio's Messages API, one request a message (Twilio has no batch create).
 * Twilio honours no idempotency key on create, so a message re-sent after a crash or an
 * ambiguous failure (a timeout after Twilio had taken it) reaches the person again: the
 * adapter declares `idempotent: false`. Cost is counted in segments (domain/sms.ts).
 */
export class TwilioSmsAdapter implements ChannelAdapter<OutgoingSms> {
  readonly name = 'twilio-sms';
  readonly channel = 'sms' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #rest: TwilioRest<OutgoingSms>;

  constructor(config: TwilioConfig, sender: SenderIdentity, context: ProviderContext) {
    this.capabilities = { batchSize: 1, concurrency: config.concurrency, idempotent: false, costUnit: 'segment' };
    this.#rest = new TwilioRest(config, twilioCredentials(config, sender), 'Messages', (m) => ({
      form: toMessageForm(m, context.receiptUrl),
    }));
  }

  /** One result per message, in order; bad credentials or a From Twilio refuses throw ProviderFatalError. */
  send(batch: readonly OutgoingSms[]): Promise<SendResult[]> {
    return this.#rest.send(batch);
  }

  close(): Promise<void> {
    return this.#rest.close();
  }
}
