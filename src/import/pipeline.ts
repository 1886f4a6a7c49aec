import type { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import type { ColumnTarget } from '../domain/import.js';
import { attributeTypes, declareTypes } from '../store/attributes.js';
import { isWriteRace } from '../store/dialect.js';
import type { Database } from '../store/schema.js';
import type { ParsedBatch } from './batches.js';
import { ConcurrentWrite, InsertedOutOfOrder, upsertBatch } from './bulk-upsert.js';
import { type ImportCounts, finishImport, recordBatch, refreshStatistics, setMapping } from './imports-store.js';
import { type ParseThread, startParseThread } from './parse-thread.js';

/**
 * The CSV import (DESIGN §5), shared by `herald import` and `POST /v1/imports`: the file
 * streams through csv-parse and rows are checked by the domain's `normaliseContacts` (the
 * same rules as the API) a batch at a time in a worker thread (parse-thread.ts), while this
 * thread writes the batches before it; each batch lands in one transaction with its refused
 * lines and the import's counters. Memory is bounded by a few batches: the worker stops once
 * `batchesAhead` batches are unacknowledged (the one being written included), and behind it
 * the file or the upload waits.
 */

/** Rows per transaction: 1,000 × 13 columns stays under SQLite's 32,766 parameters and writes in ~10 ms. */
export const defaultBatchSize = 1000;

export interface ImportRun {
  readonly db: Kysely<Database>;
  readonly workspaceId: string;
  /** The `imports` row (createImport) that receives progress and the refused lines. */
  readonly importId: string;
  readonly listId: string | null;
  /** Header → target overrides; other headers map automatically (mapping.ts). */
  readonly overrides?: Readonly<Record<string, ColumnTarget>>;
  readonly now?: () => Date;
  readonly batchSize?: number;
  /** Aborting stops the import after the batch being written; it is then marked failed. */
  readonly signal?: AbortSignal;
  /** Called after each batch commits. */
  readonly onProgress?: (counts: ImportCounts) => void;
}

export interface ImportSummary extends ImportCounts {
  readonly status: 'completed' | 'failed';
  readonly error: string | null;
  readonly mapping: Readonly<Record<string, ColumnTarget>>;
}

/**
 * Parsed batches written in one transaction at most, when the parser is ahead of the writer
 * (it mostly is). Each COMMIT writes the transaction's pages to the WAL; the import's SQL
 * with 4,000 rows a transaction instead of 1,000, alternated in one process (300,000 rows):
 * COMMITs 3.5–3.9 → 2.5–2.9 µs a row, all statements 15.2–15.8 → 12.2–13.2.
 */
const batchesPerTransaction = 4;

/**
 * Parsed batches unacknowledged at most (those being written and as many parsed meanwhile):
 * the worker waits beyond that.
 */
const batchesAhead = 2 * batchesPerTransaction;

/** Someone else wrote one of the batch's contacts between its read and its write: worth running it again. */
const isRace = (err: unknown) => err instanceof ConcurrentWrite || isWriteRace(err);

/** Imports a CSV stream into the workspace; resolves with the outcome (a failure is recorded on the import, not thrown). */
export async function runImport(source: Readable, run: ImportRun): Promise<ImportSummary> {
  const now = run.now ?? (() => new Date());
  const counts = { rowsRead: 0, rowsImported: 0, rowsInvalid: 0, created: 0, updated: 0 };
  let mapping: Readonly<Record<string, ColumnTarget>> = {};
  let analyseAt = run.batchSize ?? defaultBatchSize;
  // Insert a batch first while the file is bringing new contacts (upsertBatch): on a re-import
  // every row would conflict, and the insert attempt would be wasted on every batch.
  let insertFirst = true;

  /** Writes parsed batches in one transaction, each with its refused lines and the counters after it. */
  const write = async (batches: readonly ParsedBatch[]) => {
    const at = now();
    const target = { workspaceId: run.workspaceId, listId: run.listId, now: at };
    // Off for every batch of the group once one of them had to be merged in file order: the
    // flag set by an earlier batch of the group would otherwise send that one back the same way.
    let mayInsertFirst = true;
    for (let attempt = 1; ; attempt++) {
      try {
        const after = await run.db.transaction().execute(async (trx) => {
          const c = { ...counts };
          for (const batch of batches) {
            await declareTypes(trx, run.workspaceId, new Map(batch.inferred), at);
            const o = await upsertBatch(trx, target, batch.rows, insertFirst && mayInsertFirst);
            insertFirst = o.created * 2 > batch.rows.length;
            const refused = [...batch.rejected, ...o.rejected].sort((a, b) => a.line - b.line);
            c.rowsRead += batch.read;
            c.rowsImported += batch.rows.length - o.rejected.length;
            c.rowsInvalid += refused.length;
            c.created += o.created;
            c.updated += o.updated;
            await recordBatch(trx, run.importId, refused, c, at);
          }
          return c;
        });
        Object.assign(counts, after);
        break;
      } catch (err) {
        if (err instanceof InsertedOutOfOrder && mayInsertFirst) {
          mayInsertFirst = false;
          continue;
        }
        if (attempt < 3 && isRace(err)) continue;
        throw err;
      }
    }
    if (counts.created >= analyseAt) {
      // At 1,000, 2,000, 4,000 … contacts created: ~10 times in a million-row import.
      await refreshStatistics(run.db);
      analyseAt = counts.created * 2;
    }
    run.onProgress?.({ ...counts });
  };

  let error: string | null = null;
  let parsing: ParseThread | null = null;
  try {
    parsing = startParseThread(source, {
      overrides: run.overrides ?? {},
      batchSize: run.batchSize ?? defaultBatchSize,
      types: [...(await attributeTypes(run.db, run.workspaceId))],
      ahead: batchesAhead,
    });
    let header = false;
    for (let parsed = await parsing.next(); parsed !== null; parsed = await parsing.next()) {
      if (parsed.kind === 'header') {
        header = true;
        mapping = parsed.mapping;
        await setMapping(run.db, run.importId, mapping, now());
        if (!parsed.identifies) {
          throw new Error(
            `No column maps to email, phone or externalId (the header is ${parsed.header.map((h) => JSON.stringify(h)).join(', ')}); ` +
              'map one, e.g. --map "E-Mail=email".',
          );
        }
      } else {
        if (run.signal?.aborted)
          throw new Error(`Interrupted after ${counts.rowsRead} rows: Herald was shutting down. Import the file again.`);
        // With the batches parsed meanwhile: fewer, larger transactions (see batchesPerTransaction).
        const batches = [parsed, ...parsing.take(batchesPerTransaction - 1)];
        await write(batches);
        for (let i = 1; i < batches.length; i++) parsing.ack();
      }
      parsing.ack();
    }
    if (!header) throw new Error('The file is empty: a CSV import needs a header line.');
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
  } finally {
    if (parsing) await parsing.close();
    else source.destroy();
  }
  await finishImport(run.db, run.importId, error, now());
  return { status: error === null ? 'completed' : 'failed', error, mapping, ...counts };
}
