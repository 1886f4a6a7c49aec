import { once } from 'node:events';
import { parentPort, workerData } from 'node:worker_threads';
import { parse } from 'csv-parse';
import { parseBatches } from './batches.js';
import type { ParseWorkerData, ToParser } from './parse-thread.js';

/**
 * The parse worker (started by parse-thread.ts): the CSV bytes the main thread posts go
 * through csv-parse and `parseBatches`, and each header or batch goes back as one JSON
 * string. At most `ahead` batches are unacknowledged; then the loop waits, the parser's
 * buffers fill, and the bytes posted stop being consumed, which pauses the main thread's
 * source (parse-thread.ts keeps a byte window).
 */

const port = parentPort!;
const data = workerData as ParseWorkerData;
const parser = parse({ bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false });

let unacked = 0;
let wake: (() => void) | null = null;
// Chunks are written one after the other, each once the parser has room for it.
let feeding: Promise<unknown> = Promise.resolve();

port.on('message', (m: ToParser) => {
  if (m.type === 'ack') {
    unacked--;
    wake?.();
  } else if (m.type === 'chunk') {
    feeding = feeding.then(async () => {
      if (!parser.write(m.chunk)) await once(parser, 'drain');
      port.postMessage({ type: 'consumed', bytes: m.chunk.byteLength });
    });
  } else {
    feeding = feeding.then(() => parser.end());
  }
});

try {
  for await (const parsed of parseBatches(parser, data)) {
    port.postMessage({ type: 'parsed', json: JSON.stringify(parsed) });
    if (parsed.kind === 'header' && !parsed.identifies) break;
    unacked++;
    while (unacked >= data.ahead) await new Promise<void>((resolve) => (wake = resolve));
  }
  port.postMessage({ type: 'done' });
} catch (err) {
  port.postMessage({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
port.close();
