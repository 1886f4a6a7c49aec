import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import { loadConfig } from '../config.js';
import type { Result } from '../domain/errors.js';
import { exportContacts, exportRecipients } from '../export/csv.js';
import { createImport, listByName, listImportErrors } from '../import/imports-store.js';
import { parseOverrides } from '../import/mapping.js';
import { runImport } from '../import/pipeline.js';
import { type Db, migrate, openDatabase } from '../store/database.js';
import { firstWorkspace, getWorkspace } from '../store/workspaces.js';

/**
 * `herald import FILE --list NAME [--map header=field]…` and `herald export …`: the same
 * import pipeline and exports as the API, on the database of DATABASE_URL, for the first
 * workspace (or --workspace). Progress goes to stderr, the summary and the bad lines to stdout.
 */

export interface ImportCommand {
  readonly list?: string | undefined;
  readonly map: readonly string[];
  readonly workspace?: string | undefined;
  /** How many bad lines to print (all of them are kept on the import). */
  readonly showErrors: number;
}

async function open(workspace: string | undefined): Promise<{ db: Db; workspaceId: string; timeZone: string }> {
  const db = openDatabase(loadConfig().database);
  await migrate(db);
  const ws = workspace ? await getWorkspace(db, workspace) : await firstWorkspace(db);
  if (!ws) {
    await db.destroy();
    throw new Error(
      workspace
        ? `No workspace ${workspace} in this database.`
        : 'No workspace yet: run `herald serve` once (it creates the first workspace and its API key), or pass --workspace.',
    );
  }
  return { db, workspaceId: ws.id, timeZone: ws.time_zone };
}

const fmt = (n: number) => n.toLocaleString('en-US');

/** Imports a CSV file; the exit code is 0 when the import completed (bad lines are reported, not fatal). */
export async function runImportCommand(file: string, opts: ImportCommand): Promise<number> {
  const overrides = parseOverrides(opts.map);
  if (!overrides.ok) throw new Error(overrides.error.detail);
  const size = (await stat(file)).size;
  const { db, workspaceId } = await open(opts.workspace);
  try {
    const now = new Date();
    const list = opts.list ? await listByName(db, workspaceId, opts.list, now) : null;
    if (list?.created) console.log(`Created the list "${opts.list}" (${list.id}).`);
    const imp = await createImport(db, { workspaceId, listId: list?.id ?? null, filename: basename(file), now });

    const source = createReadStream(file);
    let bytes = 0;
    source.on('data', (chunk) => (bytes += chunk.length));
    const bar = new cliProgress.SingleBar(
      {
        format: 'importing [{bar}] {percentage}% | {rows} rows | {rate} rows/s | {invalid} invalid | ETA {eta_formatted}',
        hideCursor: true,
        stream: process.stderr,
      },
      cliProgress.Presets.shades_classic,
    );
    const started = performance.now();
    bar.start(size, 0, { rows: 0, rate: 0, invalid: 0 });
    const summary = await runImport(source, {
      db,
      workspaceId,
      importId: imp.id,
      listId: list?.id ?? null,
      overrides: overrides.value,
      onProgress: (c) => {
        const seconds = (performance.now() - started) / 1000;
        bar.update(Math.min(bytes, size), {
          rows: fmt(c.rowsRead),
          rate: fmt(Math.round(c.rowsRead / Math.max(seconds, 0.001))),
          invalid: fmt(c.rowsInvalid),
        });
      },
    });
    bar.update(summary.status === 'completed' ? size : Math.min(bytes, size));
    bar.stop();
    const seconds = (performance.now() - started) / 1000;

    const unchanged = summary.rowsImported - summary.created - summary.updated;
    console.log(
      `Import ${imp.id} ${summary.status} in ${seconds.toFixed(1)} s (${fmt(Math.round(summary.rowsRead / Math.max(seconds, 0.001)))} rows/s): ` +
        `${fmt(summary.rowsRead)} rows read, ${fmt(summary.rowsImported)} imported ` +
        `(${fmt(summary.created)} created, ${fmt(summary.updated)} updated, ${fmt(unchanged)} unchanged), ${fmt(summary.rowsInvalid)} invalid.`,
    );
    if (summary.error) console.log(`Stopped: ${summary.error}`);
    if (summary.rowsInvalid > 0) {
      console.log('Bad lines:');
      const page = await listImportErrors(db, imp.id, { limit: opts.showErrors });
      for (const e of page.data) console.log(`  line ${e.line}: ${e.reason}`);
      if (summary.rowsInvalid > page.data.length) {
        console.log(`  … and ${fmt(summary.rowsInvalid - page.data.length)} more: --show-errors N, or GET /v1/imports/${imp.id}/errors`);
      }
    }
    return summary.status === 'completed' ? 0 : 1;
  } finally {
    await db.destroy();
  }
}

export interface ExportCommand {
  readonly what: 'contacts' | 'recipients';
  /** recipients: the campaign id. */
  readonly campaign?: string | undefined;
  readonly list?: string | undefined;
  readonly segment?: string | undefined;
  readonly out?: string | undefined;
  readonly workspace?: string | undefined;
}

/** Writes an export to --out or stdout. */
export async function runExportCommand(opts: ExportCommand): Promise<number> {
  const { db, workspaceId, timeZone } = await open(opts.workspace);
  try {
    let result: Result<Readable>;
    if (opts.what === 'recipients') {
      if (!opts.campaign) throw new Error('herald export recipients needs the campaign id.');
      result = await exportRecipients(db, { workspaceId, campaignId: opts.campaign });
    } else {
      let listId: string | undefined;
      if (opts.list) {
        const found = await db
          .selectFrom('lists')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('deleted_at', 'is', null)
          .where((eb) => eb.or([eb('id', '=', opts.list!), eb('name', '=', opts.list!)]))
          .executeTakeFirst();
        if (!found) throw new Error(`No list named (or with the id) "${opts.list}".`);
        listId = found.id;
      }
      result = await exportContacts(db, { workspaceId, filter: { listId, segmentId: opts.segment }, now: new Date(), timeZone });
    }
    if (!result.ok) throw new Error(result.error.detail);
    if (opts.out) await pipeline(result.value, createWriteStream(opts.out));
    else await pipeline(result.value, process.stdout, { end: false });
    return 0;
  } finally {
    await db.destroy();
  }
}
