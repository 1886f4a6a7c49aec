import type { Readable } from 'node:stream';
import { startWorker } from '../threads.js';
import type { AttributeType } from '../domain/contact.js';
import type { ColumnTarget } from '../domain/import.js';
import type { Parsed, ParsedBatch } from './batches.js';

/**
 * Runs the reading half of an import (csv-parse, header mapping, `normaliseContacts`) in a
 * worker thread, so that it overlaps the main thread's batch writes: per million rows,
 * parsing and checking cost ≈ 10.7 s and the writes ≈ 16 s (docs/benchmarks.md).
 *
 * Bounded both ways. Bytes: the main thread posts the source's chunks while fewer than
 * `windowBytes` are unconsumed by the parser, else pauses the source. Batches: the worker
 * stops after `ahead` unacknowledged batches; the consumer acknowledges each once written.
 * Batches come as JSON text: deserialising 1,000 checked rows with `JSON.parse` cost
 * 1.2 ms against 3.1 ms for the structured clone of the same objects, on the main thread
 * that is the import's bottleneck.
 */

export interface ParseWorkerData {
  readonly overrides: Readonly<Record<string, ColumnTarget>>;
  readonly batchSize: number;
  readonly types: readonly (readonly [string, AttributeType])[];
  /** How many parsed batches may await acknowledgement. */
  readonly ahead: number;
}

/** Main thread → worker. */
export type ToParser = { type: 'chunk'; chunk: Uint8Array } | { type: 'end' } | { type: 'ack' };

/** Worker → main thread. */
export type FromParser =
  { type: 'consumed'; bytes: number } | { type: 'parsed'; json: string } | { type: 'done' } | { type: 'failed'; message: string };

/** Parsed headers and batches in file order; `ack()` after handling each; `close()` always. */
export interface ParseThread {
  /** The next header or batch; null at the end of the file. Rejects with the parser's or the source's error. */
  next(): Promise<Parsed | null>;
  /** Up to `max` more batches already parsed, without waiting (none if the next item is not a batch). */
  take(max: number): ParsedBatch[];
  ack(): void;
  close(): Promise<void>;
}

/** Unconsumed bytes posted to the worker before the source is paused: ≈ 10 batches of 100-byte rows. */
const windowBytes = 1 << 20;

/** Starts the parse worker on a CSV byte stream. */
export function startParseThread(source: Readable, data: ParseWorkerData): ParseThread {
  // The worker keeps a few batches alive at a time (≈ 15 MB of live heap over a 1M-row import,
  // its modules included): a 12 MB young generation instead of V8's 48 MB default took its
  // heap from 42 to 30 MB, and a 256 MB old generation instead of a share of the machine's
  // memory (gigabytes on 24 GB) makes V8 collect it before it fills with dead batches
  // (22 MB at the peak; 64 MB did no better, and a batch holding 100 MB of text, which the
  // checks would refuse line by line, then killed the worker). More frequent collections
  // slow the worker, which has time to spare: the main thread's writes set the pace.
  const worker = startWorker(import.meta.url, 'parse-worker', data, {
    resourceLimits: { maxYoungGenerationSizeMb: 12, maxOldGenerationSizeMb: 256 },
  });
  const queue: (Parsed | null | Error)[] = [];
  let waiting: (() => void) | null = null;
  let finished = false;
  let unconsumed = 0;

  const settle = (item: Parsed | null | Error) => {
    if (finished) return;
    if (item === null || item instanceof Error) finished = true;
    queue.push(item);
    waiting?.();
  };
  const post = (m: ToParser) => worker.postMessage(m);

  worker.on('message', (m: FromParser) => {
    switch (m.type) {
      case 'consumed':
        unconsumed -= m.bytes;
        if (unconsumed < windowBytes && source.isPaused()) source.resume();
        return;
      case 'parsed':
        return settle(JSON.parse(m.json) as Parsed);
      case 'done':
        return settle(null);
      case 'failed':
        return settle(new Error(m.message));
    }
  });
  worker.on('error', (err) => settle(err));
  worker.on('exit', (code) => settle(new Error(`The CSV parser stopped (exit code ${code}).`)));

  source.on('data', (chunk: Buffer | string) => {
    // Moved rather than cloned: a chunk owning its whole ArrayBuffer (a file stream reads each
    // into a fresh one) as it is, else a copy of exactly its bytes (a Buffer may view a larger pool).
    const whole = typeof chunk !== 'string' && chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength;
    const bytes = typeof chunk === 'string' ? new TextEncoder().encode(chunk) : whole ? chunk : new Uint8Array(chunk);
    // Counted before posting: the transfer detaches the buffer, and its byteLength is 0 after.
    // Counted after, the window never filled and the whole file went to the worker at once
    // (92 MB of a 93 MB file held there at the start of a 1M-row import).
    unconsumed += bytes.byteLength;
    worker.postMessage({ type: 'chunk', chunk: bytes } satisfies ToParser, [bytes.buffer as ArrayBuffer]);
    if (unconsumed >= windowBytes) source.pause();
  });
  source.on('end', () => post({ type: 'end' }));
  source.on('error', (err) => settle(err));

  return {
    async next() {
      while (queue.length === 0) await new Promise<void>((resolve) => (waiting = resolve));
      waiting = null;
      const item = queue.shift()!;
      if (item instanceof Error) throw item;
      return item;
    },
    take(max) {
      const out: ParsedBatch[] = [];
      while (out.length < max) {
        const item = queue[0];
        if (item === undefined || item === null || item instanceof Error || item.kind !== 'batch') break;
        out.push(item);
        queue.shift();
      }
      return out;
    },
    ack: () => post({ type: 'ack' }),
    async close() {
      finished = true;
      source.destroy();
      await worker.terminate();
    },
  };
}
