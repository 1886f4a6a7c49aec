import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { smsSegments } from '../../domain/sms.js';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { Ring } from '../sandbox-kit/ring.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';
import { ledgerQueryParam } from './callbacks.js';
import { sandboxTwilioAccountSid, sandboxTwilioAuthToken } from './config.js';
import { twilioSignature } from './signature.js';

/**
 * The sandbox Twilio (DESIGN §1): a loopback server speaking Twilio's REST protocol for
 * Messages and Calls — basic auth, form-encoded creates, 201 with the resource's JSON,
 * errors as `{ code, message, more_info, status }` — that keeps what it receives and then
 * posts signed status callbacks, as Twilio does. SMS and voice share it, as they share an
 * account at Twilio.
 *
 * Failures on demand, exact for tests. Twilio's own test numbers (twilio.com/docs/iam/test-credentials):
 *
 * - To   +15005550001 → 400 21211 invalid number        To   +15005550002 → 400 21612 cannot route
 * - To   +15005550003 → 400 21408 region not enabled    To   +15005550004 → 400 21610 replied STOP
 * - To   +15005550009 → 400 21614 not a mobile number
 * - From +15005550001 → 400 21212 invalid From          From +15005550007 → 400 21606 not your number
 * - From +15005550008 → 400 21611 the From's queue is full
 *
 * and the sandbox's own, by the To number's last four digits:
 *
 * - …0429 → 429 20429 with Retry-After             …0503 → 503
 * - …3003 → accepted, then undelivered 30003 (SMS) or busy (call)
 * - …3005 → accepted, then undelivered 30005 (SMS) or no-answer (call)
 *
 * The SandboxFaults rates draw from a PRNG seeded with `seed`: the same requests in the
 * same order meet the same faults, so a test of rates is exact too. Twilio keeps no
 * idempotency key, so neither does the sandbox: `duplicates` stays 0.
 */

export interface TwilioSandboxOptions extends SandboxOptions {
  /** The account it accepts (default sandboxTwilioAccountSid / sandboxTwilioAuthToken). */
  readonly accountSid?: string;
  readonly authToken?: string;
  /** Seed of the fault-rate PRNG (default 1). */
  readonly seed?: number;
  /** Retry-After, in seconds, on a 429 (default 1). */
  readonly retryAfterSeconds?: number;
}

export interface TwilioSandboxServer extends SandboxServer {
  readonly accountSid: string;
  readonly authToken: string;
  /** Create requests received, whatever their answer. */
  readonly requests: number;
}

/** Messages kept for messages(); older ones are forgotten so memory stays bounded through a million-message run. */
export const sandboxMessageLimit = 10_000;

/** Twilio's ceilings: Body 1,600 characters, Twiml 4,000. */
const maxBody = 1600;
const maxTwiml = 4000;
const maxRequestBytes = 64 * 1024;

const e164 = /^\+[1-9]\d{6,14}$/;
const shortCode = /^\d{3,8}$/;
const alphanumericSender = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;

/** Twilio's dates: RFC 2822 with a numeric zone ("Thu, 24 Aug 2023 05:01:45 +0000"). */
const rfc2822 = (d: Date) => d.toUTCString().replace(/GMT$/, '+0000');

const sidOf = (prefix: string) => `${prefix}${randomBytes(16).toString('hex')}`;

type Fault =
  | { readonly kind: 'error'; readonly status: number; readonly code: number; readonly message: string; readonly retryAfter?: boolean }
  | { readonly kind: 'accept'; readonly outcome: 'ok' | 'undelivered-30003' | 'undelivered-30005' };

const toTriggers: Readonly<Record<string, Fault>> = {
  '+15005550001': { kind: 'error', status: 400, code: 21211, message: "The 'To' number +15005550001 is not a valid phone number." },
  '+15005550002': {
    kind: 'error',
    status: 400,
    code: 21612,
    message: "The 'To' phone number is not currently reachable using the 'From' phone number via SMS.",
  },
  '+15005550003': {
    kind: 'error',
    status: 400,
    code: 21408,
    message: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number.",
  },
  '+15005550004': { kind: 'error', status: 400, code: 21610, message: 'Attempt to send to unsubscribed recipient' },
  '+15005550009': { kind: 'error', status: 400, code: 21614, message: "'To' number is not a valid mobile number" },
};
const fromTriggers: Readonly<Record<string, Fault>> = {
  '+15005550001': {
    kind: 'error',
    status: 400,
    code: 21212,
    message: "The 'From' number +15005550001 is not a valid phone number, shortcode, or alphanumeric sender ID.",
  },
  '+15005550007': {
    kind: 'error',
    status: 400,
    code: 21606,
    message: "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination/account.",
  },
  '+15005550008': {
    kind: 'error',
    status: 400,
    code: 21611,
    message: "This 'From' number has exceeded the maximum number of queued messages.",
  },
};
const endingTriggers: Readonly<Record<string, Fault>> = {
  '0429': { kind: 'error', status: 429, code: 20429, message: 'Too Many Requests', retryAfter: true },
  '0503': { kind: 'error', status: 503, code: 20503, message: 'Service Unavailable' },
  '3003': { kind: 'accept', outcome: 'undelivered-30003' },
  '3005': { kind: 'accept', outcome: 'undelivered-30005' },
};

function twilioError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  replyJson(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }, headers);
}

/** What the sandbox says (and speaks) for a call: the <Say> text or the <Play> URL of its TwiML. */
function twimlSummary(twiml: string): string | null {
  const say = /<Say\b[^>]*>([\s\S]*?)<\/Say>/.exec(twiml);
  const play = /<Play\b[^>]*>([\s\S]*?)<\/Play>/.exec(twiml);
  const unescape = (s: string) =>
    s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
  if (say) return unescape(say[1]!);
  if (play) return `▶ ${unescape(play[1]!)}`;
  return null;
}

/** One status callback to post: the form, in the order Twilio posts them. */
type Callback = Readonly<Record<string, string>>;

/** Starts the sandbox Twilio on loopback (port 0 picks a free one). */
export async function startTwilioSandbox(options: TwilioSandboxOptions): Promise<TwilioSandboxServer> {
  const host = options.host ?? '127.0.0.1';
  const accountSid = options.accountSid ?? sandboxTwilioAccountSid;
  const authToken = options.authToken ?? sandboxTwilioAuthToken;
  const expectedAuth = `Basic ${Buffer.from(`${accountSid}:${authToken}`).toString('base64')}`;
  const receiptDelayMs = options.receiptDelayMs ?? 5;
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  const random = seededRandom(options.seed ?? 1);
  let faults: SandboxFaults = options;
  let requests = 0;
  let accepted = 0;
  const kept = new Ring<SandboxMessage>(sandboxMessageLimit);
  const pending = new Set<Promise<void>>();

  /** The fault for one request: a trigger number wins, else three draws (always three, so the sequence stays aligned). */
  const faultOf = (to: string, from: string): Fault => {
    const [r1, r2, r3] = [random(), random(), random()];
    const triggered = fromTriggers[from] ?? toTriggers[to] ?? endingTriggers[to.slice(-4)];
    if (triggered) return triggered;
    const transient = faults.transientRate ?? 0;
    const permanent = faults.permanentRate ?? 0;
    if (r1 < transient) return r2 < 0.5 ? endingTriggers['0429']! : endingTriggers['0503']!;
    if (r1 < transient + permanent) return r2 < 0.5 ? toTriggers['+15005550001']! : toTriggers['+15005550004']!;
    return { kind: 'accept', outcome: r3 < (faults.undeliveredRate ?? 0) ? 'undelivered-30003' : 'ok' };
  };

  const postCallbacks = (url: string | null, callbacks: readonly Callback[]) => {
    const run = (async () => {
      await new Promise((resolve) => setTimeout(resolve, receiptDelayMs));
      const target = url ?? options.receiptUrl();
      if (!target) return;
      for (const callback of callbacks) {
        const form = new URLSearchParams(callback);
        try {
          const response = await fetch(target, {
            method: 'POST',
            headers: {
              'Content-Type': 'application/x-www-form-urlencoded',
              'X-Twilio-Signature': twilioSignature(authToken, target, form),
              'User-Agent': 'TwilioProxy/1.1',
            },
            body: form.toString(),
            signal: AbortSignal.timeout(10_000),
          });
          await response.arrayBuffer();
        } catch {
          // Twilio does not retry a status callback that fails, and neither does the sandbox.
        }
      }
    })();
    pending.add(run);
    void run.finally(() => pending.delete(run));
  };

  const createMessage = (params: URLSearchParams, res: ServerResponse): void => {
    const to = params.get('To') ?? '';
    const from = params.get('From') ?? '';
    const body = params.get('Body') ?? '';
    if (!to) return twilioError(res, 400, 21604, "A 'To' phone number is required.");
    if (!e164.test(to)) return twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from) return twilioError(res, 400, 21603, "A 'From' phone number is required.");
    if (!e164.test(from) && !shortCode.test(from) && !alphanumericSender.test(from))
      return twilioError(res, 400, 21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`);
    if (!body && !params.get('MediaUrl')) return twilioError(res, 400, 21602, 'Message body is required.');
    if (body.length > maxBody) return twilioError(res, 400, 21617, 'The concatenated message body exceeds the 1600 character limit.');
    const fault = faultOf(to, from);
    if (fault.kind === 'error')
      return twilioError(res, fault.status, fault.code, fault.message, fault.retryAfter ? { 'Retry-After': retryAfter } : {});

    const sid = sidOf('SM');
    const now = new Date();
    const statusCallback = params.get('StatusCallback');
    accepted++;
    kept.push({
      channel: 'sms',
      to,
      ledgerKey: ledgerKeyIn(statusCallback),
      providerId: sid,
      summary: body,
      receivedAt: now.toISOString(),
    });
    const base = { AccountSid: accountSid, ApiVersion: '2010-04-01', MessageSid: sid, SmsSid: sid, From: from, To: to };
    const final =
      fault.outcome === 'ok'
        ? { ...base, MessageStatus: 'delivered', SmsStatus: 'delivered' }
        : { ...base, MessageStatus: 'undelivered', SmsStatus: 'undelivered', ErrorCode: fault.outcome.slice(-5) };
    postCallbacks(statusCallback, [{ ...base, MessageStatus: 'sent', SmsStatus: 'sent' }, final]);
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`;
    replyJson(res, 201, {
      account_sid: accountSid,
      api_version: '2010-04-01',
      body,
      date_created: rfc2822(now),
      date_sent: null,
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from,
      messaging_service_sid: null,
      num_media: '0',
      num_segments: String(smsSegments(body).segments),
      price: null,
      price_unit: 'USD',
      sid,
      status: 'queued',
      subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
      to,
      uri,
    });
  };

  const createCall = (params: URLSearchParams, res: ServerResponse): void => {
    const to = params.get('To') ?? '';
    const from = params.get('From') ?? '';
    const twiml = params.get('Twiml') ?? '';
    if (!to) return twilioError(res, 400, 21201, "No 'To' number is specified");
    if (!e164.test(to)) return twilioError(res, 400, 21217, `Phone number ${to} does not appear to be valid`);
    if (!from) return twilioError(res, 400, 21213, 'Caller phone number is required');
    if (!e164.test(from)) return twilioError(res, 400, 21212, `Invalid 'From' phone number ${from}`);
    if (!twiml && !params.get('Url') && !params.get('ApplicationSid'))
      return twilioError(res, 400, 21205, 'A Url, Twiml or ApplicationSid parameter is required');
    if (twiml.length > maxTwiml) return twilioError(res, 400, 21205, `Twiml is ${twiml.length} characters; the limit is ${maxTwiml}`);
    if (twiml && !/^\s*(<\?xml[^>]*\?>\s*)?<Response>[\s\S]*<\/Response>\s*$/.test(twiml))
      return twilioError(res, 400, 12100, 'Document parse failure: Twiml must be one <Response> element');
    const fault = faultOf(to, from);
    if (fault.kind === 'error')
      return twilioError(res, fault.status, fault.code, fault.message, fault.retryAfter ? { 'Retry-After': retryAfter } : {});

    const sid = sidOf('CA');
    const now = new Date();
    const statusCallback = params.get('StatusCallback');
    accepted++;
    const summary = twimlSummary(twiml) ?? params.get('Url') ?? '';
    kept.push({ channel: 'voice', to, ledgerKey: ledgerKeyIn(statusCallback), providerId: sid, summary, receivedAt: now.toISOString() });
    postCallbacks(statusCallback, callProgress(params, sid, fault.outcome));
    const uri = `/2010-04-01/Accounts/${accountSid}/Calls/${sid}.json`;
    replyJson(res, 201, {
      account_sid: accountSid,
      answered_by: null,
      api_version: '2010-04-01',
      caller_name: null,
      date_created: rfc2822(now),
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      duration: null,
      end_time: null,
      forwarded_from: null,
      from,
      from_formatted: from,
      group_sid: null,
      parent_call_sid: null,
      phone_number_sid: null,
      price: null,
      price_unit: 'USD',
      sid,
      start_time: null,
      status: 'queued',
      subresource_uris: {},
      to,
      to_formatted: to,
      trunk_sid: null,
      uri,
      queue_time: '0',
    });
  };

  /**
   * The progress callbacks of one call: the events it asked for (StatusCallbackEvent), and
   * always the `completed` event, which carries the final CallStatus — completed when
   * answered, busy or no-answer when not.
   */
  const callProgress = (params: URLSearchParams, sid: string, outcome: 'ok' | 'undelivered-30003' | 'undelivered-30005'): Callback[] => {
    const wanted = new Set(params.getAll('StatusCallbackEvent').flatMap((e) => e.split(/[\s,]+/)));
    const to = params.get('To')!;
    const from = params.get('From')!;
    let sequence = 0;
    const event = (callStatus: string, extra: Record<string, string> = {}): Callback => ({
      AccountSid: accountSid,
      ApiVersion: '2010-04-01',
      CallSid: sid,
      CallStatus: callStatus,
      Direction: 'outbound-api',
      From: from,
      Caller: from,
      To: to,
      Called: to,
      CallbackSource: 'call-progress-events',
      SequenceNumber: String(sequence++),
      Timestamp: rfc2822(new Date()),
      ...extra,
    });
    const out: Callback[] = [];
    if (wanted.has('initiated')) out.push(event('initiated'));
    if (wanted.has('ringing')) out.push(event('ringing'));
    if (outcome === 'ok') {
      if (wanted.has('answered')) out.push(event('in-progress'));
      out.push(event('completed', { CallDuration: '7', Duration: '1' }));
    } else if (outcome === 'undelivered-30003') out.push(event('busy', { SipResponseCode: '486', CallDuration: '0' }));
    else out.push(event('no-answer', { SipResponseCode: '487', CallDuration: '0' }));
    return out;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/(Messages|Calls)\.json$/.exec((req.url ?? '').split('?')[0]!);
    if (req.method !== 'POST' || !match) {
      req.resume();
      return twilioError(res, 404, 20404, `The requested resource ${req.url ?? ''} was not found`);
    }
    requests++;
    if (req.headers.authorization !== expectedAuth || decodeURIComponent(match[1]!) !== accountSid) {
      req.resume();
      return twilioError(res, 401, 20003, 'Authenticate');
    }
    collectBody(req, maxRequestBytes, (body, bytes) => {
      if (bytes > maxRequestBytes) return twilioError(res, 413, 20001, 'Request entity too large');
      const params = new URLSearchParams(body.toString('utf8'));
      const answer = () => (match[2] === 'Messages' ? createMessage(params, res) : createCall(params, res));
      const latency = faults.latencyMs ?? 0;
      if (latency > 0) setTimeout(answer, latency);
      else answer();
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  return {
    url: listening.url,
    accountSid,
    authToken,
    get requests() {
      return requests;
    },
    get accepted() {
      return accepted;
    },
    duplicates: 0,
    messages: () => kept.toArray(),
    setFaults(next: SandboxFaults) {
      faults = next;
    },
    async drainReceipts() {
      while (pending.size > 0) await Promise.allSettled([...pending]);
    },
    close: () => listening.close(),
  };
}

/** The ledger key a StatusCallback URL carries in its `m` query, or null. */
function ledgerKeyIn(statusCallback: string | null): string | null {
  if (!statusCallback) return null;
  try {
    return new URL(statusCallback).searchParams.get(ledgerQueryParam);
  } catch {
    return null;
  }
}
