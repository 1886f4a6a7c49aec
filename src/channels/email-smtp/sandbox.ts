import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerAddress } from 'smtp-server';

/**
 * The sandbox SMTP server (DESIGN §1): a real SMTP peer on loopback that keeps what it
 * receives instead of delivering it, so the demo and the tests exercise the real
 * SMTP path and no message reaches a person. It counts raw deliveries and de-duplicates
 * by Message-ID, as an idempotent provider would, and it can be told to fail:
 *
 * - `…+fail@…`     → 550 5.1.1 (permanent: the address does not exist)
 * - `…+tempfail@…` → 451 4.3.0 (transient, every time)
 * - `…+flaky@…`    → 451 4.3.0 the first time for that address, then accepted
 */

export interface SandboxMessage {
  readonly messageId: string;
  readonly from: string;
  readonly to: readonly string[];
  readonly subject: string;
  readonly workspaceId: string | null;
  readonly campaignId: string | null;
  readonly receivedAt: string;
  readonly size: number;
  /** How many times this Message-ID arrived; more than 1 means a re-delivery after a crash. */
  deliveries: number;
  /** The first 4 KiB of the raw message, kept for the most recent messages only. */
  raw?: string;
}

export interface MailboxFilter {
  readonly workspaceId?: string | undefined;
  readonly campaignId?: string | undefined;
  readonly to?: string | undefined;
}

export interface MailboxSummary {
  /** Raw SMTP deliveries accepted, duplicates included. */
  readonly received: number;
  /** Distinct Message-IDs. */
  readonly unique: number;
  /** Deliveries of a Message-ID already seen. */
  readonly duplicates: number;
}

const keepRawFor = 1000;

/**
 * Messages kept whole, for listing and for filtering by recipient. Older ones are kept only
 * as a delivery count per Message-ID and per campaign: a million-message send in sandbox
 * mode held about 1.3 KB a message in the sending process when every message was kept.
 */
const keepWholeFor = 100_000;

/** What the sandbox received, in memory (it is a development and test tool). */
export class SandboxMailbox {
  /** The latest messages, oldest first (a Map keeps insertion order). */
  readonly #recent = new Map<string, SandboxMessage>();
  /** Deliveries of every Message-ID ever received, kept or not. */
  readonly #deliveries = new Map<string, number>();
  /** Received and unique per workspace and campaign, for summaries past the kept window. */
  readonly #byCampaign = new Map<string, { workspaceId: string | null; campaignId: string | null; received: number; unique: number }>();
  #received = 0;
  readonly #recentRaw: SandboxMessage[] = [];
  readonly #keepWhole: number;

  constructor(opts: { keepWhole?: number } = {}) {
    this.#keepWhole = opts.keepWhole ?? keepWholeFor;
  }

  record(message: Omit<SandboxMessage, 'deliveries'>): void {
    this.#received++;
    const key = `${message.workspaceId ?? ''}\u0000${message.campaignId ?? ''}`;
    let group = this.#byCampaign.get(key);
    if (!group)
      this.#byCampaign.set(key, (group = { workspaceId: message.workspaceId, campaignId: message.campaignId, received: 0, unique: 0 }));
    group.received++;
    const before = this.#deliveries.get(message.messageId) ?? 0;
    this.#deliveries.set(message.messageId, before + 1);
    if (before > 0) {
      const seen = this.#recent.get(message.messageId);
      if (seen) seen.deliveries++;
      return;
    }
    group.unique++;
    const entry: SandboxMessage = { ...message, deliveries: 1 };
    this.#recent.set(message.messageId, entry);
    if (this.#recent.size > this.#keepWhole) this.#recent.delete(this.#recent.keys().next().value!);
    if (entry.raw !== undefined) {
      this.#recentRaw.push(entry);
      if (this.#recentRaw.length > keepRawFor) delete this.#recentRaw.shift()!.raw;
    }
  }

  /** The kept messages that match, oldest first. */
  #matching(filter: MailboxFilter): SandboxMessage[] {
    const out: SandboxMessage[] = [];
    for (const m of this.#recent.values()) {
      if (filter.workspaceId && m.workspaceId !== filter.workspaceId) continue;
      if (filter.campaignId && m.campaignId !== filter.campaignId) continue;
      if (filter.to && !m.to.includes(filter.to.toLowerCase())) continue;
      out.push(m);
    }
    return out;
  }

  /** Counts over everything received; a filter by recipient counts the kept (latest) messages only. */
  summary(filter: MailboxFilter = {}): MailboxSummary {
    let received = 0;
    let unique = 0;
    if (filter.to) {
      const rows = this.#matching(filter);
      received = rows.reduce((n, m) => n + m.deliveries, 0);
      unique = rows.length;
    } else if (!filter.workspaceId && !filter.campaignId) {
      received = this.#received;
      unique = this.#deliveries.size;
    } else {
      for (const g of this.#byCampaign.values()) {
        if (filter.workspaceId && g.workspaceId !== filter.workspaceId) continue;
        if (filter.campaignId && g.campaignId !== filter.campaignId) continue;
        received += g.received;
        unique += g.unique;
      }
    }
    return { received, unique, duplicates: received - unique };
  }

  /** The most recent messages first. */
  latest(filter: MailboxFilter & { limit: number }): SandboxMessage[] {
    return this.#matching(filter).slice(-filter.limit).reverse();
  }

  clear(): void {
    this.#recent.clear();
    this.#deliveries.clear();
    this.#byCampaign.clear();
    this.#recentRaw.length = 0;
    this.#received = 0;
  }
}

/** Reads the header block of a raw message: unfolded, names in lower case, first value wins. */
export function parseHeaders(raw: string): Map<string, string> {
  const end = raw.search(/\r?\n\r?\n/);
  const block = (end === -1 ? raw : raw.slice(0, end)).replace(/\r?\n[ \t]+/g, ' ');
  const headers = new Map<string, string>();
  for (const line of block.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (!headers.has(name)) headers.set(name, line.slice(colon + 1).trim());
  }
  return headers;
}

/** Decodes RFC 2047 encoded words (`=?UTF-8?B?…?=`, `=?UTF-8?Q?…?=`) in a header value. */
export function decodeWords(value: string): string {
  return value
    .replace(/(=\?[^?]+\?[BbQq]\?[^?]*\?=)\s+(?==\?)/g, '$1')
    .replace(/=\?([^?]+)\?([BbQq])\?([^?]*)\?=/g, (_all, charset: string, enc: string, text: string) => {
      const bytes =
        enc.toUpperCase() === 'B'
          ? Buffer.from(text, 'base64')
          : Buffer.from(
              text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
              'latin1',
            );
      return new TextDecoder(charset.toLowerCase() === 'utf-8' ? 'utf-8' : 'latin1').decode(bytes);
    });
}

/**
 * A copy of a string that does not keep its source alive: V8 keeps a slice of the raw
 * message pointing into the whole message, so a million kept Message-IDs would hold a
 * million raw messages (about 4 KB each instead of about 100 bytes).
 */
function detach(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
const detachOrNull = (s: string | undefined) => (s === undefined ? null : detach(s));

function injectedFailure(address: string, seen: Set<string>): { code: number; message: string } | null {
  const local = address.split('@')[0]?.toLowerCase() ?? '';
  if (local.endsWith('+fail')) return { code: 550, message: '5.1.1 Sandbox: this mailbox does not exist' };
  if (local.endsWith('+tempfail')) return { code: 451, message: '4.3.0 Sandbox: try again later' };
  if (local.endsWith('+flaky') && !seen.has(address.toLowerCase())) {
    seen.add(address.toLowerCase());
    return { code: 451, message: '4.3.0 Sandbox: try again later (this address fails once)' };
  }
  return null;
}

export interface SandboxSmtpServer {
  readonly host: string;
  readonly port: number;
  readonly mailbox: SandboxMailbox;
  close(): Promise<void>;
}

/** Starts the sandbox SMTP server on loopback (port 0 picks a free one). */
export async function startSandboxSmtp(
  options: { host?: string; port?: number; mailbox?: SandboxMailbox } = {},
): Promise<SandboxSmtpServer> {
  const host = options.host ?? '127.0.0.1';
  const mailbox = options.mailbox ?? new SandboxMailbox();
  const flakySeen = new Set<string>();
  const server = new SMTPServer({
    name: 'herald-sandbox',
    banner: 'Herald sandbox: messages are kept here and reach no real person',
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 25 * 1024 * 1024,
    maxClients: 200,
    onRcptTo(address: SMTPServerAddress, _session, callback) {
      const failure = injectedFailure(address.address, flakySeen);
      if (!failure) return callback();
      const err = new Error(failure.message) as Error & { responseCode: number };
      err.responseCode = failure.code;
      return callback(err);
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const headers = parseHeaders(raw);
        const envelopeFrom = session.envelope.mailFrom;
        mailbox.record({
          messageId: detach(headers.get('message-id') ?? `<no-id-${Date.now()}-${Math.random()}@sandbox>`),
          from: envelopeFrom ? envelopeFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          subject: detach(decodeWords(headers.get('subject') ?? '')),
          workspaceId: detachOrNull(headers.get('x-herald-workspace')),
          campaignId: detachOrNull(headers.get('x-herald-campaign')),
          receivedAt: new Date().toISOString(),
          size: raw.length,
          raw: raw.slice(0, 4096),
        });
        callback(null, 'Queued in the Herald sandbox');
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // SMTPServer emits 'error' for a single client's broken connection (a sender killed
  // mid-session: ECONNRESET); without a listener that would crash the whole sandbox.
  server.on('error', () => {});
  const port = (server.server.address() as AddressInfo).port;
  return {
    host,
    port,
    mailbox,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
