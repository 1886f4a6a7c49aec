import type { Worker } from 'node:worker_threads';
import type { ChannelAdapter, OutgoingEmail } from '../channels/channel.js';
import { HttpEmailAdapter } from '../channels/email-http/adapter.js';
import type { HttpEmailConfig } from '../channels/email-http/config.js';
import { SmtpEmailAdapter } from '../channels/email-smtp/adapter.js';
import type { SmtpConfig } from '../channels/email-smtp/config.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import { startWorker } from '../threads.js';
import type { RunContent } from './render-send.js';
import type { BatchResult, RenderSend } from './render-send.js';

/** How to build an adapter in another thread: plain data, as a worker's startup data must be. */
export type AdapterSpec =
  { readonly kind: 'email-http'; readonly config: HttpEmailConfig } | { readonly kind: 'email-smtp'; readonly config: SmtpConfig };

export function adapterFromSpec(spec: AdapterSpec): ChannelAdapter<OutgoingEmail> {
  return spec.kind === 'email-http' ? new HttpEmailAdapter(spec.config) : new SmtpEmailAdapter(spec.config);
}

/** A request to a send thread, and its answer. */
export type ThreadRequest =
  { readonly id: number; readonly content: RunContent; readonly messages: readonly ClaimedMessage[] } | { readonly close: true };
export type ThreadReply =
  { readonly id: number; readonly result: BatchResult } | { readonly id: number; readonly error: string } | { readonly closed: true };

interface Thread {
  readonly worker: Worker;
  /** Batches this thread holds now. */
  load: number;
}

/**
 * Rendering and provider calls in worker threads (HERALD_SEND_THREADS), each with an
 * adapter of its own built from the same configuration. The engine's thread keeps the
 * database work (claim, check, record); a claimed batch crosses over as plain data and
 * its results come back. On a 2-core machine this is what lets SQLite's writes and the
 * Liquid/JSON/HTTP work of the next batch run at the same time: SQLite's calls are
 * synchronous and would otherwise hold the HTTP responses back while they run.
 *
 * The in-flight window is unchanged (the engine's slots × batch), and every message still
 * comes back with a result or the batch fails as a whole; a thread that dies fails its
 * batches, which the engine releases to pending like any send error.
 */
export class SendThreads implements RenderSend {
  readonly #threads: Thread[] = [];
  readonly #waiting = new Map<number, { resolve: (r: BatchResult) => void; reject: (e: Error) => void; thread: Thread }>();
  #nextId = 1;

  constructor(spec: AdapterSpec, count: number) {
    for (let i = 0; i < count; i++) {
      const worker = startWorker(import.meta.url, 'send-thread', { spec });
      const thread: Thread = { worker, load: 0 };
      worker.on('message', (reply: ThreadReply) => {
        if ('closed' in reply) return;
        const waiter = this.#waiting.get(reply.id);
        if (!waiter) return;
        this.#waiting.delete(reply.id);
        thread.load--;
        if ('result' in reply) waiter.resolve(reply.result);
        else waiter.reject(new Error(`send thread: ${reply.error}`));
      });
      worker.on('error', (err) => this.#failAll(thread, err));
      worker.on('exit', (code) => this.#failAll(thread, new Error(`send thread exited with ${code}`)));
      // The engine decides when the process may end, not an idle thread.
      worker.unref();
      this.#threads.push(thread);
    }
  }

  renderAndSend(content: RunContent, messages: readonly ClaimedMessage[]): Promise<BatchResult> {
    const thread = this.#threads.reduce((a, b) => (b.load < a.load ? b : a));
    const id = this.#nextId++;
    thread.load++;
    return new Promise<BatchResult>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, thread });
      thread.worker.postMessage({ id, content, messages } satisfies ThreadRequest);
    });
  }

  #failAll(thread: Thread, err: Error): void {
    for (const [id, waiter] of this.#waiting) {
      if (waiter.thread !== thread) continue;
      this.#waiting.delete(id);
      waiter.reject(err);
    }
    thread.load = 0;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#threads.map(
        ({ worker }) =>
          new Promise<void>((resolve) => {
            const done = () => resolve();
            worker.once('exit', done);
            worker.on('message', (reply: ThreadReply) => {
              if ('closed' in reply) void worker.terminate().then(done, done);
            });
            worker.postMessage({ close: true } satisfies ThreadRequest);
          }),
      ),
    );
  }
}
