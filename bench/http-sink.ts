/**
 * The loopback HTTP batch sink the HTTP benchmarks send to: Herald's own sandbox HTTP email
 * API (`startSandboxHttpEmail`, POST /email/batch, ≤ 500 a request) in a child process of
 * its own, so it does not share the sender's core, as a real provider would not. Every side
 * of a comparison (Herald, the bare loop, BullMQ) posts to a fresh one.
 *
 * Its mailbox counts deliveries per Message-ID (raw duplicates: what a provider that ignores
 * the key would deliver twice) and keeps the arrival time of every message on the sink's
 * clock (for the rate scenario's sliding windows), but not the messages themselves: a
 * million-message run would otherwise hold gigabytes in the sink.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sandboxHttpEmailToken } from '../src/channels/email-http/config.js';
import { startSandboxHttpEmail } from '../src/channels/email-http/sandbox.js';
import { type MailboxSummary, SandboxMailbox, type SandboxMessage } from '../src/channels/email-smtp/sandbox.js';

export const sinkToken = sandboxHttpEmailToken;

/** Counts per Message-ID and stamps arrivals; keeps nothing else of a message. */
class CountingMailbox extends SandboxMailbox {
  readonly #deliveries = new Map<string, number>();
  #received = 0;
  /** Arrival times (ms on the sink's clock), in arrival order. */
  arrivals: number[] = [];

  override record(message: Omit<SandboxMessage, 'deliveries'>): void {
    this.#received++;
    this.arrivals.push(performance.timeOrigin + performance.now());
    this.#deliveries.set(message.messageId, (this.#deliveries.get(message.messageId) ?? 0) + 1);
  }

  override summary(): MailboxSummary {
    return { received: this.#received, unique: this.#deliveries.size, duplicates: this.#received - this.#deliveries.size };
  }

  override clear(): void {
    this.#deliveries.clear();
    this.arrivals = [];
    this.#received = 0;
  }
}

export interface SinkSummary extends MailboxSummary {
  /** Batch requests received. */
  readonly requests: number;
}

export interface HttpSink {
  /** Base URL for EMAIL_HTTP_URL. */
  readonly url: string;
  /** The sink process, for CPU accounting. */
  readonly pid: number;
  summary(): Promise<SinkSummary>;
  /** Every arrival time (epoch ms, sink clock), in arrival order. */
  arrivals(): Promise<number[]>;
  close(): void;
}

type SinkReply = { id: number; summary?: SinkSummary; arrivals?: number[] };

/** Starts the sink in a child process (this file run with --http-sink); asked over IPC. */
export function startHttpSink(opts: { latencyMs?: number } = {}): Promise<HttpSink> {
  // A profiled phase profiles itself, not its sink.
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--cpu-prof'));
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--http-sink', String(opts.latencyMs ?? 0)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv,
  });
  const waiting = new Map<number, (m: SinkReply) => void>();
  let nextId = 1;
  const ask = (what: 'summary' | 'arrivals') =>
    new Promise<SinkReply>((resolve) => {
      const id = nextId++;
      waiting.set(id, resolve);
      child.send({ id, what });
    });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the HTTP sink exited with ${code} before it listened`)));
    child.on('message', (m: SinkReply & { url?: string }) => {
      if (m.url)
        resolve({
          url: m.url,
          pid: child.pid!,
          summary: async () => (await ask('summary')).summary!,
          arrivals: async () => (await ask('arrivals')).arrivals!,
          close: () => child.kill(),
        });
      else {
        waiting.get(m.id)?.(m);
        waiting.delete(m.id);
      }
    });
  });
}

if (process.argv[2] === '--http-sink') {
  const mailbox = new CountingMailbox();
  const server = await startSandboxHttpEmail({ port: 0, mailbox, latencyMs: Number(process.argv[3] ?? 0) });
  process.on('message', (m: { id: number; what: 'summary' | 'arrivals' }) => {
    if (m.what === 'summary') process.send!({ id: m.id, summary: { ...mailbox.summary(), requests: server.requests } });
    else process.send!({ id: m.id, arrivals: mailbox.arrivals });
  });
  process.on('disconnect', () => process.exit(0));
  process.send!({ url: server.url });
}
