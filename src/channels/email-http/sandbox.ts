import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import { SandboxMailbox } from '../email-smtp/sandbox.js';
import type { WireAnswer } from './adapter.js';
import { type HttpEmailWebhookAuth, maxHttpEmailBatch, sandboxHttpEmailToken, sandboxHttpEmailWebhookAuth } from './config.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';

/**
 * The sandbox HTTP email API (DESIGN §1): a loopback server speaking the provider's batch
 * protocol (`POST /email/batch`, `X-Postmark-Server-Token`, one answer per message in
 * order; `POST /email` for one message a request) that keeps what it receives instead of
 * delivering it. Like the SMTP sandbox it
 * counts deliveries and de-duplicates by the Message-ID header, as an idempotent provider
 * would, so a test can see a crash re-send as a duplicate. Failures on demand:
 *
 * - `…+fail@…`      → ErrorCode 406 for that message (inactive recipient: permanent)
 * - `…+tempfail@…`  → HTTP 503 with Retry-After for the whole request: the provider's shape
 *                     has no per-message transient answer, so neither has the sandbox
 * - `failRate`      → that fraction of requests answers 503 with Retry-After
 * - `latencyMs`     → every batch answer waits this long
 *
 * With a `receiptUrl` it posts Postmark's webhooks back, one record a request, with HTTP
 * basic auth (`webhookAuth`), after `receiptDelayMs`, each carrying the Metadata the message
 * came with so Herald finds its ledger row: Delivery for every accepted message, then Open
 * for a `readRate` fraction of them (seeded, so a run is repeatable);
 *
 * - `…+bounce@…`    → accepted, then Bounce (HardBounce, Inactive) instead of Delivery
 * - `…+complaint@…` → accepted, delivered, then SpamComplaint
 *
 * Receipts wait in one bounded queue (at most 10,000 besides the four being posted; beyond
 * it they are dropped and counted in `receiptsDropped`) and go out four at a time, so
 * memory stays flat through a million-message run whatever the receiver's speed.
 *
 * It is plain node:http and JSON.parse, not Fastify: a benchmark pushes a million messages
 * through it, and the server's cost must stay small beside the sender's.
 */

export interface SandboxHttpEmailOptions {
  readonly host?: string;
  readonly port?: number;
  /** The server token to require (default: the one sandboxHttpEmailConfig sends). */
  readonly token?: string;
  readonly latencyMs?: number;
  /** Fraction of requests, 0 to 1, answered 503 whatever they carry. */
  readonly failRate?: number;
  /** Retry-After, in seconds, on every 503 (default 1). */
  readonly retryAfterSeconds?: number;
  readonly mailbox?: SandboxMailbox;
  /** Where to post webhooks; called for each, as Herald learns its URL once it listens. Absent or null: no webhooks. */
  readonly receiptUrl?: () => string | null;
  /** The basic auth credentials on each webhook (default sandboxHttpEmailWebhookAuth). */
  readonly webhookAuth?: HttpEmailWebhookAuth;
  /** Fraction, 0 to 1, of delivered messages that are also opened. */
  readonly readRate?: number;
  /** Delay before a webhook goes out, in milliseconds (default 5). */
  readonly receiptDelayMs?: number;
  /** Seed of the open-rate PRNG (default 1). */
  readonly seed?: number;
}

export interface SandboxHttpEmailServer {
  /** Base URL for EMAIL_HTTP_URL / sandboxHttpEmailConfig, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly mailbox: SandboxMailbox;
  /** Batch requests received, whatever their answer. */
  readonly requests: number;
  /** Webhooks posted (whatever the receiver answered), and dropped because the queue was full. */
  readonly receiptsPosted: number;
  readonly receiptsDropped: number;
  /** Resolves once every webhook queued so far has been posted (or failed to post). */
  drainReceipts(): Promise<void>;
  close(): Promise<void>;
}

/** Webhooks queued at most (besides those in the lanes); more are dropped (counted) so the sandbox's memory stays bounded. */
const maxQueuedReceipts = 10_000;
/** Webhooks in flight at once. */
const receiptLanes = 4;
const defaultReceiptDelayMs = 5;

/** One webhook to post: what it says, about which message; its JSON is written when it goes. */
interface QueuedReceipt {
  readonly record: 'Delivery' | 'Open' | 'Bounce' | 'SpamComplaint';
  readonly providerId: string;
  readonly recipient: string;
  readonly from: string;
  readonly subject: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly stream: string;
  readonly due: number;
}

/** Postmark's webhook body for one record (postmarkapp.com/developer/webhooks). */
function webhookBody(r: QueuedReceipt): string {
  const at = new Date().toISOString();
  const common = { MessageID: r.providerId, MessageStream: r.stream, ServerID: 1, Tag: '', Metadata: r.metadata };
  switch (r.record) {
    case 'Delivery':
      return JSON.stringify({ RecordType: 'Delivery', ...common, Recipient: r.recipient, DeliveredAt: at, Details: 'Sandbox: delivered' });
    case 'Open':
      return JSON.stringify({
        RecordType: 'Open',
        ...common,
        Recipient: r.recipient,
        ReceivedAt: at,
        FirstOpen: true,
        Platform: 'Sandbox',
      });
    case 'Bounce':
      return JSON.stringify({
        RecordType: 'Bounce',
        ...common,
        ID: 1,
        Type: 'HardBounce',
        TypeCode: 1,
        Name: 'Hard bounce',
        Description: 'The server was unable to deliver your message (ex: unknown user, mailbox not found).',
        Details: 'Sandbox: the address asked to bounce',
        Email: r.recipient,
        From: r.from,
        Subject: r.subject,
        BouncedAt: at,
        DumpAvailable: false,
        Inactive: true,
        CanActivate: true,
      });
    case 'SpamComplaint':
      return JSON.stringify({
        RecordType: 'SpamComplaint',
        ...common,
        ID: 2,
        Type: 'SpamComplaint',
        TypeCode: 512,
        Name: 'Spam complaint',
        Description: 'The subscriber explicitly marked this message as spam.',
        Details: 'Sandbox: the address asked to complain',
        Email: r.recipient,
        From: r.from,
        Subject: r.subject,
        BouncedAt: at,
        DumpAvailable: false,
        Inactive: true,
        CanActivate: false,
      });
  }
}

/** The string values of a message's Metadata (what Postmark keeps and returns), or none. */
function metadataOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return out;
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (typeof v === 'string') out[k] = v.slice(0, 80);
  return out;
}

/** Postmark's ceiling on one request (50 MB); a bigger body is refused unread. */
const maxBodyBytes = 50 * 1024 * 1024;

const inactiveMessage = 'You tried to send to recipient(s) that have been marked as inactive (sandbox: the address asked to fail).';

interface IncomingEmail {
  readonly From?: unknown;
  readonly To?: unknown;
  readonly Subject?: unknown;
  readonly TextBody?: unknown;
  readonly HtmlBody?: unknown;
  readonly Headers?: unknown;
  readonly Metadata?: unknown;
  readonly MessageStream?: unknown;
}

/** The bare addresses of a To or From field: `"Ann, A." <ann@x.test>, bob@y.test` → both addresses, lower case. */
function addresses(field: string): string[] {
  // Commas inside a quoted display name do not separate addresses.
  const parts = field.match(/(?:"(?:[^"\\]|\\.)*"|[^,])+/g) ?? [];
  return parts.map((part) => {
    const angle = /<([^>]*)>\s*$/.exec(part);
    return (angle ? angle[1]! : part).trim().toLowerCase();
  });
}

function headerValues(headers: unknown): { messageId?: string; workspaceId?: string; campaignId?: string } {
  const out: { messageId?: string; workspaceId?: string; campaignId?: string } = {};
  if (!Array.isArray(headers)) return out;
  for (const h of headers as { Name?: unknown; Value?: unknown }[]) {
    if (typeof h?.Name !== 'string' || typeof h.Value !== 'string') continue;
    const name = h.Name.toLowerCase();
    if (name === 'message-id') out.messageId ??= h.Value;
    else if (name === 'x-herald-workspace') out.workspaceId ??= h.Value;
    else if (name === 'x-herald-campaign') out.campaignId ??= h.Value;
  }
  return out;
}

/** Starts the sandbox HTTP email API on loopback (port 0 picks a free one). */
export async function startSandboxHttpEmail(options: SandboxHttpEmailOptions = {}): Promise<SandboxHttpEmailServer> {
  const host = options.host ?? '127.0.0.1';
  const token = options.token ?? sandboxHttpEmailToken;
  const mailbox = options.mailbox ?? new SandboxMailbox();
  const latencyMs = options.latencyMs ?? 0;
  const failRate = options.failRate ?? 0;
  const unavailable = { 'Retry-After': String(options.retryAfterSeconds ?? 1) };
  let requests = 0;

  // Webhooks back to Herald: a bounded FIFO drained by a few lanes.
  const receiptUrl = options.receiptUrl ?? (() => null);
  const webhookAuth = options.webhookAuth ?? sandboxHttpEmailWebhookAuth;
  const authorization = `Basic ${Buffer.from(`${webhookAuth.user}:${webhookAuth.password}`).toString('base64')}`;
  const readRate = options.readRate ?? 0;
  const receiptDelayMs = options.receiptDelayMs ?? defaultReceiptDelayMs;
  const random = seededRandom(options.seed ?? 1);
  const queue: (QueuedReceipt | undefined)[] = [];
  let head = 0;
  let lanes = 0;
  let posted = 0;
  let dropped = 0;
  let closed = false;
  const idle = new Set<() => void>();
  const pools = new Map<string, Pool>();
  const waits = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();
  const later = (ms: number) =>
    new Promise<void>((resolve) => {
      const wait = { timer: setTimeout(() => (waits.delete(wait), resolve()), ms), resolve };
      waits.add(wait);
    });

  /** Posts one webhook, once (Postmark retries; the sandbox's receiver is local, and a lost one is only a lost receipt). */
  const post = async (r: QueuedReceipt): Promise<void> => {
    const target = receiptUrl();
    if (closed || !target) return;
    try {
      const url = new URL(target);
      let pool = pools.get(url.origin);
      if (!pool) pools.set(url.origin, (pool = new Pool(url.origin, { connections: receiptLanes })));
      const response = await pool.request({
        method: 'POST',
        path: `${url.pathname}${url.search}`,
        headers: { 'content-type': 'application/json', authorization },
        body: webhookBody(r),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await response.body.dump();
    } catch {
      // The receiver is down or gone: the receipt is lost, as the sender would see it.
    }
    posted++;
  };

  const lane = async (): Promise<void> => {
    lanes++;
    try {
      while (head < queue.length && !closed) {
        const r = queue[head]!;
        queue[head++] = undefined; // let it go
        if (head === queue.length) {
          queue.length = 0;
          head = 0;
        } else if (head > 1024 && head * 2 > queue.length) {
          queue.splice(0, head);
          head = 0;
        }
        const wait = r.due - Date.now();
        if (wait > 0) await later(wait);
        await post(r);
      }
    } finally {
      lanes--;
      if (lanes === 0) for (const done of idle) done();
      if (lanes === 0) idle.clear();
    }
  };

  const enqueue = (r: Omit<QueuedReceipt, 'due'>): void => {
    if (closed || receiptUrl() === null) return;
    if (queue.length - head >= maxQueuedReceipts) {
      dropped++;
      return;
    }
    queue.push({ ...r, due: Date.now() + receiptDelayMs });
    if (lanes < receiptLanes) void lane();
  };

  /** The webhooks an accepted message earns. */
  const scheduleReceipts = (m: IncomingEmail, to: string, providerId: string): void => {
    if (options.receiptUrl === undefined) return;
    const base = {
      providerId,
      recipient: addresses(to)[0] ?? to,
      from: typeof m.From === 'string' ? (addresses(m.From)[0] ?? '') : '',
      subject: typeof m.Subject === 'string' ? m.Subject.slice(0, 200) : '',
      metadata: metadataOf(m.Metadata),
      stream: typeof m.MessageStream === 'string' ? m.MessageStream.slice(0, 100) : 'outbound',
    };
    if (/\+bounce@/i.test(to)) return enqueue({ ...base, record: 'Bounce' });
    enqueue({ ...base, record: 'Delivery' });
    if (/\+complaint@/i.test(to)) enqueue({ ...base, record: 'SpamComplaint' });
    else if (readRate > 0 && random() < readRate) enqueue({ ...base, record: 'Open' });
  };

  const answerBatch = (body: string, res: ServerResponse): void => {
    let messages: unknown;
    try {
      messages = JSON.parse(body);
    } catch {
      return replyJson(res, 422, { ErrorCode: 402, Message: 'Received invalid JSON input.' });
    }
    if (!Array.isArray(messages)) return replyJson(res, 422, { ErrorCode: 403, Message: 'The batch must be a JSON array of messages.' });
    if (messages.length > maxHttpEmailBatch)
      return replyJson(res, 422, {
        ErrorCode: 410,
        Message: `Too many batch messages (${messages.length}); the limit is ${maxHttpEmailBatch}.`,
      });
    const list = messages as IncomingEmail[];
    if ((failRate > 0 && Math.random() < failRate) || list.some((m) => typeof m?.To === 'string' && /\+tempfail@/i.test(m.To)))
      return replyJson(res, 503, { ErrorCode: 100, Message: 'Sandbox: service unavailable, try again later.' }, unavailable);

    const submittedAt = new Date().toISOString();
    replyJson(
      res,
      200,
      list.map((m) => answerOne(m, submittedAt)),
    );
  };

  /** Postmark's single-message endpoint: one object in, one answer out; a rejection is a 422 carrying its ErrorCode. */
  const answerSingle = (body: string, res: ServerResponse): void => {
    let message: unknown;
    try {
      message = JSON.parse(body);
    } catch {
      return replyJson(res, 422, { ErrorCode: 402, Message: 'Received invalid JSON input.' });
    }
    if (message === null || typeof message !== 'object' || Array.isArray(message))
      return replyJson(res, 422, { ErrorCode: 403, Message: 'The message must be a JSON object.' });
    const m = message as IncomingEmail;
    if ((failRate > 0 && Math.random() < failRate) || (typeof m.To === 'string' && /\+tempfail@/i.test(m.To)))
      return replyJson(res, 503, { ErrorCode: 100, Message: 'Sandbox: service unavailable, try again later.' }, unavailable);
    const answer = answerOne(m, new Date().toISOString());
    replyJson(res, answer.ErrorCode === 0 ? 200 : 422, answer);
  };

  /** Accepts (records) or rejects one message, as both endpoints do. */
  const answerOne = (m: IncomingEmail | undefined, submittedAt: string): WireAnswer => {
    const to = typeof m?.To === 'string' ? m.To : '';
    if (typeof m?.From !== 'string' || !to.includes('@'))
      return { ErrorCode: 300, Message: 'Invalid email request: From and To must be email addresses.', To: to };
    if (/\+fail@/i.test(to)) return { ErrorCode: 406, Message: inactiveMessage, To: to };
    const providerId = randomUUID();
    const h = headerValues(m.Headers);
    const subject = typeof m.Subject === 'string' ? m.Subject : '';
    const text = typeof m.TextBody === 'string' ? m.TextBody : '';
    const html = typeof m.HtmlBody === 'string' ? m.HtmlBody : '';
    const messageId = h.messageId ?? `<${providerId}@sandbox>`;
    mailbox.record({
      messageId,
      from: addresses(m.From)[0] ?? '',
      to: addresses(to),
      subject,
      workspaceId: h.workspaceId ?? null,
      campaignId: h.campaignId ?? null,
      receivedAt: submittedAt,
      size: text.length + html.length,
      raw: `Message-ID: ${messageId}\r\nFrom: ${m.From}\r\nTo: ${to}\r\nSubject: ${subject}\r\n\r\n${text}`.slice(0, 4096),
    });
    scheduleReceipts(m, to, providerId);
    return { ErrorCode: 0, Message: 'OK', MessageID: providerId, SubmittedAt: submittedAt, To: to };
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const answer =
      req.method !== 'POST' ? undefined : req.url === '/email/batch' ? answerBatch : req.url === '/email' ? answerSingle : undefined;
    if (!answer) {
      req.resume();
      return replyJson(res, 404, { ErrorCode: 404, Message: 'Sandbox: only POST /email and POST /email/batch are served.' });
    }
    requests++;
    if (req.headers['x-postmark-server-token'] !== token) {
      req.resume();
      return replyJson(res, 401, { ErrorCode: 10, Message: 'Bad or missing API token.' });
    }
    collectBody(req, maxBodyBytes, (raw, bytes) => {
      if (bytes > maxBodyBytes) return replyJson(res, 413, { ErrorCode: 300, Message: 'Sandbox: the request is larger than 50 MB.' });
      const body = raw.toString('utf8');
      if (latencyMs > 0) setTimeout(() => answer(body, res), latencyMs);
      else answer(body, res);
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  return {
    url: listening.url,
    host,
    port: listening.port,
    mailbox,
    get requests() {
      return requests;
    },
    get receiptsPosted() {
      return posted;
    },
    get receiptsDropped() {
      return dropped;
    },
    drainReceipts: () => (lanes === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.add(resolve))),
    async close() {
      closed = true;
      for (const wait of waits) {
        clearTimeout(wait.timer);
        wait.resolve();
      }
      waits.clear();
      await listening.close();
      await Promise.allSettled([...pools.values()].map((p) => p.close()));
      pools.clear();
    },
  };
}
