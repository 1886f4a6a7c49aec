import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SandboxMailbox } from '../email-smtp/sandbox.js';
import type { WireAnswer } from './adapter.js';
import { maxHttpEmailBatch, sandboxHttpEmailToken } from './config.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';

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
}

export interface SandboxHttpEmailServer {
  /** Base URL for EMAIL_HTTP_URL / sandboxHttpEmailConfig, e.g. http://127.0.0.1:41234. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly mailbox: SandboxMailbox;
  /** Batch requests received, whatever their answer. */
  readonly requests: number;
  close(): Promise<void>;
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
    close: () => listening.close(),
  };
}
