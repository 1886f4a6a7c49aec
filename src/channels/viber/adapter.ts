import { Pool, request } from 'undici';
import { assertUnreachable } from '../../domain/errors.js';
import { type ChannelAdapter, type ChannelCapabilities, type OutgoingViber, ProviderFatalError, type SendResult } from '../channel.js';
import type { SenderIdentity } from '../provider.js';
import type { RecipientVerdict } from '../receipts.js';
import type { ViberConfig } from './config.js';
import { postForAnswer } from '../http-post.js';
import { type SendOutcome, sendEach } from '../send-each.js';
import { Slots } from '../slots.js';

/** Viber's limits on one message (REST bot API, send_message), checked before a request is spent on them. */
export const viberLimits = {
  senderName: 28,
  text: 7000,
  pictureText: 768,
  /** A rich media or keyboard button's Text, markup included. */
  buttonText: 250,
  /** Rows of one rich media card. */
  cardRows: 7,
} as const;

/**
 * min_api_version: 1 reaches every client that can talk to bots; rich media needs clients
 * of API level 2 or later (older ones get `alt_text` instead, which is why it is always set).
 */
const minApiVersion = { text: 1, picture: 1, rich_media: 2 } as const;

/** One button of a rich media card or a keyboard (Viber's field names). */
export interface WireButton {
  readonly Columns: number;
  readonly Rows: number;
  readonly ActionType: 'open-url';
  readonly ActionBody: string;
  readonly Text?: string;
  readonly TextSize?: 'small' | 'regular' | 'large';
  readonly TextVAlign?: 'top' | 'middle' | 'bottom';
  readonly TextHAlign?: 'left' | 'center' | 'right';
  readonly Image?: string;
  readonly BgColor?: string;
}

/** The send_message body as Viber takes it. */
export interface WireViber {
  readonly receiver: string;
  readonly min_api_version: number;
  readonly sender: { readonly name: string; readonly avatar?: string };
  /** The ledger key; Viber returns it only with a user's reply, not with receipts (see receipts.ts). */
  readonly tracking_data: string;
  readonly type: 'text' | 'picture' | 'rich_media';
  readonly text?: string;
  readonly media?: string;
  readonly rich_media?: {
    readonly Type: 'rich_media';
    readonly ButtonsGroupColumns: number;
    readonly ButtonsGroupRows: number;
    readonly BgColor: string;
    readonly Buttons: readonly WireButton[];
  };
  readonly alt_text?: string;
  readonly keyboard?: { readonly Type: 'keyboard'; readonly DefaultHeight: boolean; readonly Buttons: readonly WireButton[] };
}

/** Viber's answer to any /pa/ call (HTTP 200 whatever the outcome; `status` says it). */
export interface ViberAnswer {
  readonly status?: unknown;
  readonly status_message?: unknown;
  /** Read by parseViberJson as a string: the tokens pass 2^53. */
  readonly message_token?: unknown;
}

/**
 * JSON.parse for Viber's bodies, keeping every `message_token` exact: the tokens are
 * 64-bit integers (e.g. 4912661846655238145) that a JS number would round to the nearest
 * multiple of 1024, so the digits are quoted before parsing. The match needs the key's
 * quote right after `{` or `,`, which a quote inside a JSON string never is (it is
 * escaped), so only real keys are touched. Throws SyntaxError as JSON.parse does.
 */
export function parseViberJson(text: string): unknown {
  return JSON.parse(text.replace(/(?<=[{,]\s*)"message_token"(\s*:\s*)(-?\d+)(?=\s*[,}])/g, '"message_token"$1"$2"'));
}

/** A message token as our providerId: digits as a string, whatever shape it arrived in. */
export function tokenOf(value: unknown): string | null {
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  return null;
}

/** The auth token a sender sends with: its own, else the environment's. */
export function viberTokenOf(config: ViberConfig, sender: SenderIdentity): string | null {
  return sender.credentials.authToken?.trim() || config.authToken || null;
}

/** What one answer means for us; nothing vendor-shaped passes this point. */
export type ViberVerdict =
  | { readonly verdict: 'accepted'; readonly providerId: string | null }
  | {
      readonly verdict: 'failed';
      readonly kind: 'transient' | 'permanent';
      readonly code: string;
      readonly detail: string;
      readonly recipient?: RecipientVerdict;
    }
  /** The whole campaign cannot go on (token, account, webhook): ProviderFatalError. */
  | { readonly verdict: 'fatal'; readonly code: string; readonly detail: string };

type Rule = { readonly verdict: 'fatal' | 'transient' | 'permanent'; readonly code: string; readonly recipient?: RecipientVerdict };

/**
 * Viber's send_message statuses (REST bot API, "Error codes") in our words. Statuses about
 * the token, the bot account, its billing or its webhook are fatal: every message of the
 * campaign would fail the same way. Anything unlisted rejects that one message.
 */
const statusRules: ReadonlyMap<number, Rule> = new Map<number, Rule>([
  [1, { verdict: 'permanent', code: 'VIBER_INVALID_URL' }], // invalidUrl: the media or avatar URL
  [2, { verdict: 'fatal', code: 'VIBER_AUTH' }], // invalidAuthToken
  [3, { verdict: 'permanent', code: 'VIBER_BAD_DATA' }], // badData
  [4, { verdict: 'permanent', code: 'VIBER_MISSING_DATA' }], // missingData
  [5, { verdict: 'permanent', code: 'VIBER_NOT_REGISTERED', recipient: 'invalid' }], // receiverNotRegistered: no such Viber user
  [6, { verdict: 'permanent', code: 'VIBER_NOT_SUBSCRIBED', recipient: 'blocked' }], // receiverNotSubscribed: unsubscribed or never subscribed
  [7, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // publicAccountBlocked
  [8, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // publicAccountNotFound
  [9, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // publicAccountSuspended
  [10, { verdict: 'fatal', code: 'VIBER_WEBHOOK' }], // webhookNotSet: Viber refuses sends from a bot without one
  [11, { verdict: 'permanent', code: 'VIBER_NO_SUITABLE_DEVICE' }], // receiverNoSuitableDevice: the person's client cannot show bot messages
  [12, { verdict: 'transient', code: 'VIBER_THROTTLED' }], // tooManyRequests
  [13, { verdict: 'permanent', code: 'VIBER_API_VERSION' }], // apiVersionNotSupported
  [14, { verdict: 'permanent', code: 'VIBER_API_VERSION' }], // incompatibleWithVersion
  [15, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // publicAccountNotAuthorized
  [23, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // freeMessagesExceeded: the bot's billing, not the person
  [24, { verdict: 'fatal', code: 'VIBER_ACCOUNT' }], // noBalance
]);

/** Maps one answer body (already parsed with parseViberJson) to our verdict. */
export function verdictOfAnswer(answer: ViberAnswer): ViberVerdict {
  const status = typeof answer.status === 'number' ? answer.status : -1;
  if (status === 0) return { verdict: 'accepted', providerId: tokenOf(answer.message_token) };
  const said = typeof answer.status_message === 'string' ? answer.status_message.slice(0, 400) : 'rejected by Viber';
  const detail = `${said} (Viber status ${status})`;
  const rule = statusRules.get(status) ?? { verdict: 'permanent', code: 'VIBER_REJECTED' };
  switch (rule.verdict) {
    case 'fatal':
      return { verdict: 'fatal', code: rule.code, detail };
    case 'transient':
    case 'permanent':
      return rule.recipient
        ? { verdict: 'failed', kind: rule.verdict, code: rule.code, detail, recipient: rule.recipient }
        : { verdict: 'failed', kind: rule.verdict, code: rule.code, detail };
    default:
      return assertUnreachable(rule.verdict);
  }
}

/**
 * Maps a response that is not 2xx. Viber answers 200 with a status for everything it
 * understood, so these come from the edge: 5xx, 429 and 408 are transient; 401/403 mean the
 * token; 404 and redirects mean VIBER_API_URL is wrong; any other 4xx rejects the message.
 */
export function verdictOfHttpStatus(
  status: number,
  body: string,
  location: string | null = null,
): Exclude<ViberVerdict, { verdict: 'accepted' }> {
  const said = body.slice(0, 400).trim();
  if (status === 401 || status === 403)
    return { verdict: 'fatal', code: 'VIBER_AUTH', detail: `Viber refused the auth token (HTTP ${status}): ${said}` };
  if (status === 429) return { verdict: 'failed', kind: 'transient', code: 'VIBER_THROTTLED', detail: `HTTP 429: ${said}` };
  if (status >= 500 || status === 408)
    return { verdict: 'failed', kind: 'transient', code: 'VIBER_UNAVAILABLE', detail: `HTTP ${status}: ${said}` };
  if (status === 404 || (status >= 300 && status < 400)) {
    const where = location ? ` (it redirects to ${location})` : '';
    return { verdict: 'fatal', code: 'VIBER_ENDPOINT', detail: `HTTP ${status} from send_message${where}: check VIBER_API_URL` };
  }
  return { verdict: 'failed', kind: 'permanent', code: 'VIBER_REJECTED', detail: `HTTP ${status}: ${said}` };
}

/** Our message as Viber's body, or why it cannot be one (fatal when every message of the campaign shares the reason). */
export type WireOutcome =
  | { readonly ok: true; readonly wire: WireViber }
  | { readonly ok: false; readonly fatal: boolean; readonly code: string; readonly detail: string };

/** Text for a rich media or keyboard button: Viber reads a few HTML tags there, so the person's text is escaped. */
function markup(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\r?\n/g, '<br>');
}

const buttonColor = '#7360F2';

function urlButton(url: string, label: string, columns = 6, rows = 1): WireButton {
  return {
    Columns: columns,
    Rows: rows,
    ActionType: 'open-url',
    ActionBody: url,
    Text: `<font color="#FFFFFF"><b>${markup(label)}</b></font>`,
    TextSize: 'regular',
    TextVAlign: 'middle',
    TextHAlign: 'center',
    BgColor: buttonColor,
  };
}

/**
 * A message with a URL button as a one-card rich media carousel: image (3 rows, 4 alone),
 * text (3 rows) and the button (1 row), every part opening the URL. This is the shape
 * Viber shows inside the conversation, beside the message, for as long as the chat lasts;
 * a keyboard would sit under the input field and vanish with the next message. A card's
 * text stops at 250 characters, so a longer text goes as a text (or picture) message with
 * a one-button keyboard instead: the words matter more than where the button sits.
 */
function richCard(m: OutgoingViber, button: NonNullable<OutgoingViber['button']>): WireViber['rich_media'] | null {
  const text = m.text ? markup(m.text) : null;
  const label = urlButton(button.url, button.text);
  if ((label.Text?.length ?? 0) > viberLimits.buttonText || (text !== null && text.length > viberLimits.buttonText)) return null;
  const parts: WireButton[] = [];
  if (m.imageUrl) parts.push({ Columns: 6, Rows: text ? 3 : 4, ActionType: 'open-url', ActionBody: button.url, Image: m.imageUrl });
  if (text)
    parts.push({
      Columns: 6,
      Rows: 3,
      ActionType: 'open-url',
      ActionBody: button.url,
      Text: text,
      TextSize: 'regular',
      TextVAlign: 'top',
      TextHAlign: 'left',
    });
  parts.push(label);
  return {
    Type: 'rich_media',
    ButtonsGroupColumns: 6,
    ButtonsGroupRows: parts.reduce((rows, b) => rows + b.Rows, 0),
    BgColor: '#FFFFFF',
    Buttons: parts,
  };
}

/**
 * Our message in Viber's shape: a picture (with its text as caption) when it has an image,
 * a text message otherwise, and a button makes it rich media (see richCard). The sender name
 * is the message's, else the sender resource's.
 */
export function toWireViber(m: OutgoingViber, fallbackName: string | null = null): WireOutcome {
  const name = m.senderName.trim() || fallbackName?.trim() || '';
  if (!name) return { ok: false, fatal: true, code: 'VIBER_SENDER_NAME', detail: 'A Viber message needs a sender name' };
  if ([...name].length > viberLimits.senderName)
    return { ok: false, fatal: true, code: 'VIBER_SENDER_NAME', detail: `The Viber sender name "${name}" is longer than 28 characters` };
  const text = m.text ?? '';
  if (!text && !m.imageUrl)
    return { ok: false, fatal: false, code: 'VIBER_EMPTY_MESSAGE', detail: 'The message has neither text nor an image' };
  const invalid = (detail: string): WireOutcome => ({ ok: false, fatal: false, code: 'VIBER_INVALID_MESSAGE', detail });
  const common = {
    receiver: m.to,
    sender: m.senderAvatar ? { name, avatar: m.senderAvatar } : { name },
    tracking_data: m.ledgerKey,
  };

  if (m.button) {
    const card = richCard(m, m.button);
    if (card) {
      const alt = [text, m.button.url].filter(Boolean).join('\n');
      return {
        ok: true,
        wire: { ...common, min_api_version: minApiVersion.rich_media, type: 'rich_media', rich_media: card, alt_text: alt },
      };
    }
  }
  const keyboard = m.button
    ? { Type: 'keyboard' as const, DefaultHeight: false, Buttons: [urlButton(m.button.url, m.button.text)] }
    : undefined;
  if (keyboard && (keyboard.Buttons[0]!.Text?.length ?? 0) > viberLimits.buttonText)
    return invalid(`The button text is longer than Viber's ${viberLimits.buttonText} characters`);
  if (m.imageUrl) {
    if (text.length > viberLimits.pictureText)
      return invalid(`A picture's text stops at ${viberLimits.pictureText} characters; this one has ${text.length}`);
    const wire: WireViber = { ...common, min_api_version: minApiVersion.picture, type: 'picture', text, media: m.imageUrl };
    return { ok: true, wire: keyboard ? { ...wire, keyboard } : wire };
  }
  if (text.length > viberLimits.text) return invalid(`A Viber text stops at ${viberLimits.text} characters; this one has ${text.length}`);
  const wire: WireViber = { ...common, min_api_version: minApiVersion.text, type: 'text', text };
  return { ok: true, wire: keyboard ? { ...wire, keyboard } : wire };
}

/**
 * Viber's REST bot API: `POST {base}/pa/send_message`, one message and one answer a request,
 * authenticated by `X-Viber-Auth-Token`. Requests go through an undici Pool of the adapter's
 * own, one keep-alive connection per request in flight.
 *
 * batchSize is 1. broadcast_message takes up to 300 receivers in one request, but it
 * answers one message_token for all of them and names only the receivers that failed, so
 * a receipt could not tell whose message it is, and one bad receiver's status would be
 * ours to guess for the rest; per-message sends keep one token, one status and one
 * outcome per ledger row.
 *
 * Viber has no idempotency key: a message re-sent after a crash or a timeout reaches the
 * person again, so `idempotent: false`. tracking_data still carries the ledger key.
 */
export class ViberAdapter implements ChannelAdapter<OutgoingViber> {
  readonly name = 'viber';
  readonly channel = 'viber' as const;
  readonly capabilities: ChannelCapabilities;
  readonly #config: ViberConfig;
  readonly #sender: SenderIdentity;
  readonly #token: string | null;
  readonly #path: string;
  readonly #pool: Pool;
  readonly #slots: Slots;

  constructor(config: ViberConfig, sender: SenderIdentity) {
    this.#config = config;
    this.#sender = sender;
    this.#token = viberTokenOf(config, sender);
    this.capabilities = {
      batchSize: 1,
      concurrency: config.concurrency,
      idempotent: false,
      costUnit: 'message',
      receiptsByProviderId: true,
    };
    const base = new URL(config.baseUrl);
    this.#path = `${base.pathname.replace(/\/+$/, '')}/pa/send_message`;
    this.#pool = new Pool(base.origin, { connections: config.concurrency, keepAliveTimeout: 30_000 });
    this.#slots = new Slots(config.concurrency);
  }

  /**
   * Sends each message in its own request, concurrently up to the adapter's limit, and
   * answers one result per message in input order. After a fatal answer no further request
   * starts; the ProviderFatalError carries the results of the requests that had completed
   * (what Viber accepted must be recorded as sent), and none for the rest.
   */
  async send(batch: readonly OutgoingViber[]): Promise<SendResult[]> {
    if (!this.#token)
      throw new ProviderFatalError('VIBER_AUTH', 'The sender has no Viber auth token (credentials.authToken or VIBER_AUTH_TOKEN)');
    return sendEach(batch, this.#slots, (m) => this.#sendOne(m));
  }

  async #sendOne(m: OutgoingViber): Promise<SendOutcome> {
    const failed = (kind: 'transient' | 'permanent', code: string, detail: string, recipient?: RecipientVerdict): SendOutcome => ({
      result: recipient
        ? { messageId: m.messageId, ok: false, kind, code, detail, recipient }
        : { messageId: m.messageId, ok: false, kind, code, detail },
    });
    const built = toWireViber(m, this.#sender.name);
    if (!built.ok)
      return built.fatal ? { fatal: { code: built.code, detail: built.detail } } : failed('permanent', built.code, built.detail);

    const answer = await postForAnswer(this.#pool, {
      path: this.#path,
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-Viber-Auth-Token': this.#token! },
      body: JSON.stringify(built.wire),
      timeoutMs: this.#config.timeoutMs,
    });
    if (!answer.ok) {
      if (answer.timedOut) return failed('transient', 'VIBER_TIMEOUT', `No answer from Viber within ${this.#config.timeoutMs} ms`);
      return failed('transient', 'VIBER_NETWORK', (answer.error.code ?? answer.error.message).slice(0, 400));
    }

    const { status, text } = answer;
    const v = status >= 200 && status < 300 ? this.#readAnswer(text) : verdictOfHttpStatus(status, text, answer.header('location'));
    switch (v.verdict) {
      case 'accepted':
        return { result: { messageId: m.messageId, ok: true, providerId: v.providerId } };
      case 'failed':
        return failed(v.kind, v.code, v.detail, v.recipient);
      case 'fatal':
        return { fatal: { code: v.code, detail: v.detail } };
      default:
        return assertUnreachable(v);
    }
  }

  /**
   * A 200 whose body is not a Viber answer is transient: Viber may have taken the message,
   * but only a retry makes sure it is not lost (at worst the person gets it twice, DESIGN §4).
   */
  #readAnswer(text: string): ViberVerdict {
    let answer: unknown;
    try {
      answer = parseViberJson(text);
    } catch {
      answer = null;
    }
    if (answer === null || typeof answer !== 'object' || Array.isArray(answer) || typeof (answer as ViberAnswer).status !== 'number')
      return {
        verdict: 'failed',
        kind: 'transient',
        code: 'VIBER_BAD_RESPONSE',
        detail: `Viber gave no readable answer: ${text.slice(0, 200)}`,
      };
    return verdictOfAnswer(answer as ViberAnswer);
  }

  async close(): Promise<void> {
    await this.#pool.close();
  }
}

/** The callbacks Herald asks for: receipts, and the subscription changes that say whether an address still takes messages. */
export const viberWebhookEvents = ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed'] as const;

/**
 * Points the bot's webhook at Herald (`POST {base}/pa/set_webhook`). A Viber bot has one
 * webhook, and setting it replaces whatever the bot's owner had there, so the adapter never
 * calls this on its own: the senders API does, when a person connects a bot to Herald.
 * Viber calls the URL once (event "webhook") before it answers.
 */
export async function setWebhook(
  config: ViberConfig,
  sender: SenderIdentity,
  url: string,
): Promise<
  { readonly ok: true; readonly eventTypes: readonly string[] } | { readonly ok: false; readonly code: string; readonly detail: string }
> {
  const token = viberTokenOf(config, sender);
  if (!token) return { ok: false, code: 'VIBER_AUTH', detail: 'The sender has no Viber auth token' };
  let status: number;
  let text: string;
  try {
    const response = await request(`${config.baseUrl}/pa/set_webhook`, {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'X-Viber-Auth-Token': token },
      body: JSON.stringify({ url, event_types: viberWebhookEvents, send_name: false, send_photo: false }),
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
    });
    status = response.statusCode;
    text = await response.body.text();
  } catch (err) {
    const e = err as Error & { code?: string };
    return { ok: false, code: 'VIBER_NETWORK', detail: (e.code ?? e.message).slice(0, 400) };
  }
  if (status < 200 || status >= 300) {
    const v = verdictOfHttpStatus(status, text);
    return { ok: false, code: v.code, detail: v.detail };
  }
  let answer: (ViberAnswer & { event_types?: unknown }) | null = null;
  try {
    const parsed = parseViberJson(text);
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) answer = parsed as ViberAnswer;
  } catch {
    // Handled below as an unreadable answer.
  }
  if (!answer) return { ok: false, code: 'VIBER_BAD_RESPONSE', detail: `Viber gave no readable answer: ${text.slice(0, 200)}` };
  const v = verdictOfAnswer(answer);
  if (v.verdict !== 'accepted') return { ok: false, code: v.code, detail: v.detail };
  const eventTypes = Array.isArray(answer.event_types) ? answer.event_types.filter((e): e is string => typeof e === 'string') : [];
  return { ok: true, eventTypes };
}
