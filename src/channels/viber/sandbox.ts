import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { replyJsonText } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { Ring } from '../sandbox-kit/ring.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';
import { viberLimits } from './adapter.js';
import { sandboxViberToken } from './config.js';
import { viberSignature } from './receipts.js';

/**
 * The sandbox Viber REST bot API (DESIGN §1): a loopback server speaking send_message and
 * set_webhook as Viber does (HTTP 200 with a `status`, 64-bit message tokens written as bare
 * JSON integers), keeping what it accepts instead of delivering it, and posting signed
 * callbacks (delivered, then seen; or failed; unsubscribed) to `receiptUrl()`.
 *
 * Faults, exact on demand by the receiver id (Viber ids are opaque strings, so any will do):
 *
 * - `…+unsubscribed…` → status 6 receiverNotSubscribed, and an `unsubscribed` callback
 * - `…+unregistered…` → status 5 receiverNotRegistered
 * - `…+throttled…`    → status 12 tooManyRequests
 * - `…+unavailable…`  → HTTP 503
 * - `…+undelivered…`  → accepted, then a `failed` callback
 * - `…+seen…`         → accepted, delivered, then seen
 *
 * and by rate (SandboxFaults), from a seeded PRNG drawn in the order requests arrive, so a
 * run with the same seed and the same order of requests makes the same choices:
 * transientRate → status 12, permanentRate → status 6 (with its callback), undeliveredRate →
 * a failed callback, readRate → seen after delivered.
 *
 * Plain node:http, as the HTTP email sandbox: a benchmark may push a million messages
 * through it. It keeps the latest 10,000 messages; Viber has no idempotency key, so it
 * counts no duplicates.
 */

export interface ViberSandboxOptions extends SandboxOptions {
  /** The auth token it accepts (default sandboxViberToken); callbacks are signed with it. */
  readonly authToken?: string;
  /** Seed of the fault PRNG (default 1). */
  readonly seed?: number;
}

export interface ViberSandbox extends SandboxServer {
  readonly authToken: string;
  /** The URL the last set_webhook named; callbacks go there when receiptUrl() gives none. */
  readonly webhookUrl: string | null;
  /** Requests received on /pa/, whatever their answer. */
  readonly requests: number;
}

/** Viber's ceiling on one request body (30 KB). */
const maxBodyBytes = 30 * 1024;
const keep = 10_000;
const chatHostname = 'SN-SANDBOX_';
const defaultReceiptDelayMs = 5;

/**
 * Message tokens above 2^53 and odd, so no double can hold one exactly: a sender that parses
 * them as numbers gets a different token back, and a test sees it.
 */
const tokenBase = 4_912_661_846_655_238_145n;

/** JSON with `message_token` written as a bare integer, as Viber writes it. */
function withToken(fields: Record<string, unknown>, token: string): string {
  return `${JSON.stringify(fields).slice(0, -1)},"message_token":${token}}`;
}

const statusJson = (status: number, message: string) => JSON.stringify({ status, status_message: message, chat_hostname: chatHostname });

const isUrl = (value: unknown): value is string => typeof value === 'string' && /^https?:\/\/\S+$/i.test(value);

/** Checks the buttons of a rich media card or a keyboard; the problem, or null. */
function buttonsProblem(buttons: unknown): string | null {
  if (!Array.isArray(buttons) || buttons.length === 0) return 'Buttons must be a non-empty array';
  for (const b of buttons as Record<string, unknown>[]) {
    if (b === null || typeof b !== 'object') return 'each button must be an object';
    if (typeof b.ActionType !== 'string' || typeof b.ActionBody !== 'string') return 'each button needs ActionType and ActionBody';
    if (b.ActionType === 'open-url' && !isUrl(b.ActionBody)) return 'an open-url button needs a URL in ActionBody';
    if (b.Text !== undefined && (typeof b.Text !== 'string' || b.Text.length > viberLimits.buttonText))
      return 'a button Text stops at 250 characters';
    if (b.Image !== undefined && !isUrl(b.Image)) return 'a button Image must be a URL';
  }
  return null;
}

type Check = { readonly status: 3 | 4; readonly message: string } | null;

/** Validates a send_message body as Viber does: 4 missingData for an absent field, 3 badData for a wrong one. */
function sendProblem(m: Record<string, unknown>): Check {
  const missing = (what: string): Check => ({ status: 4, message: `missingData: ${what}` });
  const bad = (what: string): Check => ({ status: 3, message: `badData: ${what}` });
  if (typeof m.receiver !== 'string' || m.receiver === '') return missing('receiver');
  const sender = m.sender as Record<string, unknown> | undefined;
  if (sender === null || typeof sender !== 'object' || typeof sender.name !== 'string' || sender.name === '') return missing('sender.name');
  if ([...sender.name].length > viberLimits.senderName) return bad('sender.name is longer than 28 characters');
  if (sender.avatar !== undefined && !isUrl(sender.avatar)) return bad('sender.avatar must be a URL');
  if (m.tracking_data !== undefined && (typeof m.tracking_data !== 'string' || m.tracking_data.length > 4096)) return bad('tracking_data');
  if (m.keyboard !== undefined) {
    const k = m.keyboard as Record<string, unknown> | null;
    if (k === null || typeof k !== 'object' || k.Type !== 'keyboard') return bad('keyboard.Type must be "keyboard"');
    const problem = buttonsProblem(k.Buttons);
    if (problem) return bad(`keyboard: ${problem}`);
  }
  switch (m.type) {
    case undefined:
      return missing('type');
    case 'text':
      if (typeof m.text !== 'string' || m.text === '') return missing('text');
      return m.text.length > viberLimits.text ? bad('text is longer than 7000 characters') : null;
    case 'picture':
      if (m.media === undefined) return missing('media');
      if (!isUrl(m.media)) return bad('media must be a URL');
      if (typeof m.text !== 'string') return missing('text');
      return m.text.length > viberLimits.pictureText ? bad('a picture text stops at 768 characters') : null;
    case 'rich_media': {
      const r = m.rich_media as Record<string, unknown> | undefined;
      if (r === null || typeof r !== 'object') return missing('rich_media');
      const rows = r.ButtonsGroupRows;
      if (rows !== undefined && (typeof rows !== 'number' || rows < 1 || rows > viberLimits.cardRows))
        return bad('ButtonsGroupRows is 1 to 7');
      const problem = buttonsProblem(r.Buttons);
      return problem ? bad(`rich_media: ${problem}`) : null;
    }
    default:
      return bad(`type ${JSON.stringify(m.type)} is not one the sandbox takes (text, picture, rich_media)`);
  }
}

function summaryOf(m: Record<string, unknown>): string {
  const text = typeof m.text === 'string' ? m.text : typeof m.alt_text === 'string' ? m.alt_text : '';
  const prefix = m.type === 'picture' ? '[picture] ' : m.type === 'rich_media' ? '[rich media] ' : '';
  return `${prefix}${text}`.slice(0, 200);
}

/** Starts the sandbox Viber API on loopback (port 0 picks a free one). */
export async function startViberSandbox(options: ViberSandboxOptions): Promise<ViberSandbox> {
  const host = options.host ?? '127.0.0.1';
  const authToken = options.authToken ?? sandboxViberToken;
  const receiptDelayMs = options.receiptDelayMs ?? defaultReceiptDelayMs;
  const random = seededRandom(options.seed ?? 1);
  let faults: SandboxFaults = { ...options };
  let requests = 0;
  let accepted = 0;
  let sequence = 0n;
  let webhookUrl: string | null = null;
  let closed = false;
  const kept = new Ring<SandboxMessage>(keep);
  const pending = new Set<Promise<void>>();
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  const nextToken = () => String(tokenBase + 2n * sequence++);
  const chance = (rate: number | undefined) => rate !== undefined && rate > 0 && random() < rate;

  /** Waits `ms`, or until close(), whichever comes first. */
  const later = (ms: number) =>
    new Promise<void>((resolve) => {
      const wait = { timer: setTimeout(() => (waits.delete(wait), resolve()), ms), resolve };
      waits.add(wait);
    });

  /** Posts one signed callback, once (a real Viber retries for an hour; the sandbox's receiver is local). */
  const post = async (body: string): Promise<void> => {
    const url = options.receiptUrl() ?? webhookUrl;
    if (closed || !url) return;
    try {
      const response = await request(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Viber-Content-Signature': viberSignature(authToken, body) },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await response.body.dump();
    } catch {
      // The receiver is down or gone: as with Viber, the sender learns nothing more.
    }
  };

  /** Callbacks in order, each after the receipt delay; drainReceipts() waits for the whole chain. */
  const schedule = (bodies: (() => string)[]): void => {
    const chain = (async () => {
      for (const body of bodies) {
        await later(receiptDelayMs);
        await post(body());
      }
    })();
    pending.add(chain);
    void chain.finally(() => pending.delete(chain));
  };

  const callback =
    (event: string, userId: string | null, token: string, extra: Record<string, unknown> = {}) =>
    () =>
      withToken(
        { event, timestamp: Date.now(), chat_hostname: chatHostname, ...(userId === null ? {} : { user_id: userId }), ...extra },
        token,
      );

  const sendMessage = (m: Record<string, unknown>, res: ServerResponse): void => {
    const problem = sendProblem(m);
    if (problem) return replyJsonText(res, 200, statusJson(problem.status, problem.message));
    const receiver = m.receiver as string;
    if (receiver.includes('+unavailable')) return replyJsonText(res, 503, JSON.stringify({ error: 'Sandbox: service unavailable' }));
    if (receiver.includes('+throttled') || chance(faults.transientRate)) return replyJsonText(res, 200, statusJson(12, 'tooManyRequests'));
    if (receiver.includes('+unregistered')) return replyJsonText(res, 200, statusJson(5, 'receiverNotRegistered'));
    if (receiver.includes('+unsubscribed') || chance(faults.permanentRate)) {
      schedule([callback('unsubscribed', receiver, nextToken())]);
      return replyJsonText(res, 200, statusJson(6, 'receiverNotSubscribed'));
    }

    const token = nextToken();
    accepted++;
    kept.push({
      channel: 'viber',
      to: receiver,
      ledgerKey: typeof m.tracking_data === 'string' ? m.tracking_data : null,
      providerId: token,
      summary: summaryOf(m),
      receivedAt: new Date().toISOString(),
    });
    replyJsonText(res, 200, withToken({ status: 0, status_message: 'ok', chat_hostname: chatHostname, billing_status: 1 }, token));

    if (receiver.includes('+undelivered') || chance(faults.undeliveredRate))
      schedule([callback('failed', receiver, token, { desc: 'Sandbox: the message could not be delivered' })]);
    else if (receiver.includes('+seen') || chance(faults.readRate))
      schedule([callback('delivered', receiver, token), callback('seen', receiver, token)]);
    else schedule([callback('delivered', receiver, token)]);
  };

  const setWebhook = (m: Record<string, unknown>, res: ServerResponse): void => {
    if (m.url === '') {
      webhookUrl = null;
      return replyJsonText(res, 200, statusJson(0, 'ok'));
    }
    if (!isUrl(m.url)) return replyJsonText(res, 200, statusJson(1, 'invalidUrl'));
    webhookUrl = m.url;
    const events = Array.isArray(m.event_types) ? m.event_types : ['delivered', 'seen', 'failed', 'subscribed', 'unsubscribed'];
    // Viber calls the new webhook once before it answers; the sandbox answers first and calls after.
    schedule([() => withToken({ event: 'webhook', timestamp: Date.now(), chat_hostname: chatHostname }, nextToken())]);
    replyJsonText(res, 200, JSON.stringify({ status: 0, status_message: 'ok', chat_hostname: chatHostname, event_types: events }));
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const route =
      req.method !== 'POST'
        ? undefined
        : req.url === '/pa/send_message'
          ? sendMessage
          : req.url === '/pa/set_webhook'
            ? setWebhook
            : undefined;
    if (!route) {
      req.resume();
      return replyJsonText(res, 404, JSON.stringify({ error: 'Sandbox: only POST /pa/send_message and POST /pa/set_webhook are served' }));
    }
    requests++;
    collectBody(req, maxBodyBytes, (raw, bytes) => {
      const answer = () => {
        if (req.headers['x-viber-auth-token'] !== authToken) return replyJsonText(res, 200, statusJson(2, 'invalidAuthToken'));
        if (bytes > maxBodyBytes) return replyJsonText(res, 200, statusJson(3, 'badData: the request is larger than 30 KB'));
        let body: unknown;
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          return replyJsonText(res, 200, statusJson(3, 'badData: the body is not JSON'));
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body))
          return replyJsonText(res, 200, statusJson(3, 'badData: the body must be an object'));
        route(body as Record<string, unknown>, res);
      };
      const latency = faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(answer, latency);
      else answer();
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  return {
    url: listening.url,
    authToken,
    get webhookUrl() {
      return webhookUrl;
    },
    get requests() {
      return requests;
    },
    get accepted() {
      return accepted;
    },
    duplicates: 0,
    messages: () => kept.toArray(),
    setFaults(next: SandboxFaults) {
      faults = { ...next };
    },
    async drainReceipts() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    close: () => {
      closed = true;
      for (const wait of waits) {
        clearTimeout(wait.timer);
        wait.resolve();
      }
      waits.clear();
      return listening.close();
    },
  };
}
