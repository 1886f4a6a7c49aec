import cliProgress from 'cli-progress';
import { assertUnreachable } from '../domain/errors.js';
import { startWorker } from '../threads.js';

/**
 * `herald import FILE --list NAME [--map header=field]…`: the same import pipeline as the
 * API, on the database of DATABASE_URL, for the first workspace (or --workspace). Progress
 * goes to stderr, the summary and the bad lines to stdout.
 *
 * The import itself (the database, `runImport`, the summary) runs in a worker thread
 * (import-worker.ts); this thread only draws the progress bar and prints what the worker
 * sends. The reason is memory: V8 sizes the main thread's heap from the machine's memory
 * (gigabytes on 24 GB) and let the written batches pile up to 90–140 MB before collecting
 * them, which was most of the import's 291–303 MB peak at 1,000,000 rows; a worker's heap
 * can be bounded (`resourceLimits`), and this thread no longer loads Kysely, better-sqlite3
 * or TypeBox. `POST /v1/imports` runs `runImport` in the server's own thread, as before.
 */

export interface ImportCommand {
  readonly list?: string | undefined;
  readonly map: readonly string[];
  readonly workspace?: string | undefined;
  /** How many bad lines to print (all of them are kept on the import). */
  readonly showErrors: number;
}

/** What the worker is started with. */
export interface ImportWorkerData extends ImportCommand {
  readonly file: string;
}

/** Worker → this thread: lines for stdout, the progress bar's moves, and the outcome. */
export type FromImportWorker =
  | { type: 'print'; line: string }
  | { type: 'start'; total: number }
  | { type: 'progress'; value: number; rows: string; rate: string; invalid: string }
  | { type: 'stop'; value: number }
  | { type: 'done'; exitCode: number }
  | { type: 'failed'; message: string };

/** Imports a CSV file; the exit code is 0 when the import completed (bad lines are reported, not fatal). */
export async function runImportCommand(file: string, opts: ImportCommand): Promise<number> {
  const data: ImportWorkerData = { file, list: opts.list, map: opts.map, workspace: opts.workspace, showErrors: opts.showErrors };
  // The worker holds a few batches at a time. With a 32 MB young generation the 1M-row
  // import peaked at 178-188 MB at the CPU it had on the main thread (medians: import 23.9 s,
  // re-import 18.9 s, against 25.5 and 18.8); 16 MB peaked at 154-171 MB but scavenged the
  // live batches three times as often (re-import 21.9 s). The old generation is capped as the
  // parse worker's is, so V8 collects it long before it holds a share of the machine's memory.
  const worker = startWorker(import.meta.url, 'import-worker', data, {
    resourceLimits: { maxYoungGenerationSizeMb: 32, maxOldGenerationSizeMb: 256 },
  });
  const bar = new cliProgress.SingleBar(
    {
      format: 'importing [{bar}] {percentage}% | {rows} rows | {rate} rows/s | {invalid} invalid | ETA {eta_formatted}',
      hideCursor: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  let drawing = false;
  return new Promise<number>((resolve, reject) => {
    const fail = (err: Error) => {
      if (drawing) bar.stop();
      drawing = false;
      reject(err);
    };
    worker.on('message', (m: FromImportWorker) => {
      switch (m.type) {
        case 'print':
          return console.log(m.line);
        case 'start':
          drawing = true;
          return bar.start(m.total, 0, { rows: 0, rate: 0, invalid: 0 });
        case 'progress':
          return bar.update(m.value, { rows: m.rows, rate: m.rate, invalid: m.invalid });
        case 'stop':
          bar.update(m.value);
          bar.stop();
          drawing = false;
          return;
        case 'done':
          return resolve(m.exitCode);
        case 'failed':
          return fail(new Error(m.message));
        default:
          assertUnreachable(m);
      }
    });
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`The import stopped (exit code ${code}).`)));
  });
}
