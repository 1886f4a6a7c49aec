import type { ChannelAdapter, ChannelCapabilities, OutgoingVoice, SendResult } from '../channel.js';
import type { ProviderContext, SenderIdentity } from '../provider.js';
import { statusCallbackUrl } from '../twilio/callbacks.js';
import { type TwilioConfig, twilioCredentials } from '../twilio/config.js';
import { type TwilioRequest, TwilioRest } from '../twilio/rest.js';

/** Twilio's ceiling on the Twiml parameter. */
export const maxTwimlLength = 4000;

/** The call progress events Herald asks for; `completed` carries the final CallStatus (completed, busy, no-answer, …). */
export const statusCallbackEvents = ['initiated', 'ringing', 'answered', 'completed'] as const;

/** Text as XML character data or an attribute value; characters XML 1.0 cannot carry at all are dropped. */
export function xmlEscape(text: string): string {
  return text
    .replace(/[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, '')
    .replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[ch]!);
}

/** The call's inline TwiML: `<Say>` the script (with its voice and language) or `<Play>` the recording; null when it has neither. */
export function twimlOf(m: OutgoingVoice): string | null {
  if (m.say !== null && m.say !== '') {
    const voice = m.voice ? ` voice="${xmlEscape(m.voice)}"` : '';
    const language = m.language ? ` language="${xmlEscape(m.language)}"` : '';
    return `<Response><Say${voice}${language}>${xmlEscape(m.say)}</Say></Response>`;
  }
  if (m.audioUrl !== null && m.audioUrl !== '') return `<Response><Play>${xmlEscape(m.audioUrl)}</Play></Response>`;
  return null;
}

/**
 * The create-Call form (`POST /2010-04-01/Accounts/{sid}/Calls.json`): To, From, the TwiML
 * inline (no TwiML server of ours for Twilio to fetch) and, with a receipt URL, a
 * StatusCallback carrying the ledger key and the progress events to report. A call
 * that cannot be described (no script, TwiML over 4,000 characters) is refused before any
 * request, as Twilio would refuse it.
 */
export function toCallRequest(m: OutgoingVoice, receiptUrl: string | null): TwilioRequest {
  const twiml = twimlOf(m);
  if (twiml === null)
    return { refused: { code: 'TWILIO_INVALID_MESSAGE', detail: 'The call has neither a script to say nor a recording to play' } };
  if (twiml.length > maxTwimlLength)
    return {
      refused: {
        code: 'TWILIO_INVALID_MESSAGE',
        detail: `The call's TwiML is ${twiml.length} characters; Twilio takes at most ${maxTwimlLength}: shorten the script`,
      },
    };
  const form = new URLSearchParams({ To: m.to, From: m.from, Twiml: twiml });
  const callback = statusCallbackUrl(receiptUrl, m.ledgerKey);
  if (callback) {
    form.set('StatusCallback', callback);
    form.set('StatusCallbackMethod', 'POST');
    for (const event of statusCallbackEvents) form.append('StatusCallbackEvent', event);
  }
  return { form };
}

/**
 * Voice calls through Twilio's Calls API, one request a call. Like SMS, a create carries no
 * idempotency key Twilio honours (`idempotent: false`); cost is counted per call.
 */
export class TwilioVoiceAdapter implements ChannelAdapter<OutgoingVoice> {
  readonly name = 'twilio-voice';
  readonly channel = 'voice' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #rest: TwilioRest<OutgoingVoice>;

  constructor(config: TwilioConfig, sender: SenderIdentity, context: ProviderContext) {
    this.capabilities = { batchSize: 1, concurrency: config.concurrency, idempotent: false, costUnit: 'call' };
    this.#rest = new TwilioRest(config, twilioCredentials(config, sender), 'Calls', (m) => toCallRequest(m, context.receiptUrl));
  }

  /** One result per call, in order; bad credentials or a caller id Twilio refuses throw ProviderFatalError. */
  send(batch: readonly OutgoingVoice[]): Promise<SendResult[]> {
    return this.#rest.send(batch);
  }

  close(): Promise<void> {
    return this.#rest.close();
  }
}
