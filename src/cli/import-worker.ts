import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { sql } from 'kysely';
import { loadConfig } from '../config.js';
import { createImport, listByName, listImportErrors } from '../import/imports-store.js';
import { parseOverrides } from '../import/mapping.js';
import { runImport } from '../import/pipeline.js';
import { dialectOf } from '../store/dialect.js';
import type { FromImportWorker, ImportWorkerData } from './import.js';
import { openWorkspace } from './workspace.js';

/**
 * The worker thread of `herald import` (started by import.ts): opens the database, runs the
 * import and sends back the progress, the summary and the bad lines, which the main thread
 * prints. Any error (no such file, no workspace, a bad --map) goes back as `failed`, for the
 * main thread to report as every CLI error is reported.
 */

const port = parentPort!;
const post = (m: FromImportWorker) => port.postMessage(m);
const print = (line: string) => post({ type: 'print', line });
const fmt = (n: number) => n.toLocaleString('en-US');

async function importFile({ file, ...opts }: ImportWorkerData): Promise<number> {
  const overrides = parseOverrides(opts.map);
  if (!overrides.ok) throw new Error(overrides.error.detail);
  const size = (await stat(file)).size;
  const { db, workspaceId } = await openWorkspace(loadConfig().database, opts.workspace);
  try {
    // This connection is the command's own, so its page cache can be smaller than
    // better-sqlite3's 16 MB: 2 MB took the 1M-row import's peak RSS from 177-181 to 157-171 MB
    // (the worker's young generation at 16 MB) at the same CPU: import 23.4-24.2 s against
    // 24.1-24.6, re-import 18.5-19.9 against 18.3-19.8. `herald serve` shares its connection
    // and keeps 16 MB.
    if (dialectOf(db) === 'sqlite') await sql`pragma cache_size = -2000`.execute(db);
    const now = new Date();
    const list = opts.list ? await listByName(db, workspaceId, opts.list, now) : null;
    if (list?.created) print(`Created the list "${opts.list}" (${list.id}).`);
    const imp = await createImport(db, { workspaceId, listId: list?.id ?? null, filename: basename(file), now });

    const source = createReadStream(file);
    let bytes = 0;
    source.on('data', (chunk) => (bytes += chunk.length));
    const started = performance.now();
    post({ type: 'start', total: size });
    const summary = await runImport(source, {
      db,
      workspaceId,
      importId: imp.id,
      listId: list?.id ?? null,
      overrides: overrides.value,
      onProgress: (c) => {
        const seconds = (performance.now() - started) / 1000;
        post({
          type: 'progress',
          value: Math.min(bytes, size),
          rows: fmt(c.rowsRead),
          rate: fmt(Math.round(c.rowsRead / Math.max(seconds, 0.001))),
          invalid: fmt(c.rowsInvalid),
        });
      },
    });
    post({ type: 'stop', value: summary.status === 'completed' ? size : Math.min(bytes, size) });
    const seconds = (performance.now() - started) / 1000;

    const unchanged = summary.rowsImported - summary.created - summary.updated;
    print(
      `Import ${imp.id} ${summary.status} in ${seconds.toFixed(1)} s (${fmt(Math.round(summary.rowsRead / Math.max(seconds, 0.001)))} rows/s): ` +
        `${fmt(summary.rowsRead)} rows read, ${fmt(summary.rowsImported)} imported ` +
        `(${fmt(summary.created)} created, ${fmt(summary.updated)} updated, ${fmt(unchanged)} unchanged), ${fmt(summary.rowsInvalid)} invalid.`,
    );
    if (summary.error) print(`Stopped: ${summary.error}`);
    if (summary.rowsInvalid > 0) {
      print('Bad lines:');
      const page = await listImportErrors(db, imp.id, { limit: opts.showErrors });
      for (const e of page.data) print(`  line ${e.line}: ${e.reason}`);
      if (summary.rowsInvalid > page.data.length) {
        print(`  … and ${fmt(summary.rowsInvalid - page.data.length)} more: --show-errors N, or GET /v1/imports/${imp.id}/errors`);
      }
    }
    return summary.status === 'completed' ? 0 : 1;
  } finally {
    await db.destroy();
  }
}

try {
  post({ type: 'done', exitCode: await importFile(workerData as ImportWorkerData) });
} catch (err) {
  post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
}
