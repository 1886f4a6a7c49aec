import { type Readable, pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import type { Kysely } from 'kysely';
import { type AttributeType, type FieldError, normaliseContacts } from '../domain/contact.js';
import type { ColumnTarget } from '../domain/import.js';
import { attributeTypes, declareTypes } from '../store/attributes.js';
import type { Database } from '../store/schema.js';
import { type BatchRow, ConcurrentWrite, type RowRejection, upsertBatch } from './bulk-upsert.js';
import { type ColumnPlan, draftOf, identifies, planColumns } from './drafts.js';
import { type ImportCounts, finishImport, recordBatch, refreshStatistics, setMapping } from './imports-store.js';
import { resolveMapping } from './mapping.js';

/**
 * The CSV import (DESIGN §5), shared by `herald import` and `POST /v1/imports`: the file
 * streams through csv-parse, rows are checked by the domain's `normaliseContacts` (the
 * same rules as the API) a batch at a time, and each batch lands in one transaction with
 * its refused lines and the import's counters. Memory is bounded by one batch: the
 * for-await loop does not pull the next record while a batch is being written, so the
 * parser, and behind it the file or the upload, waits (stream backpressure).
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

interface Pending {
  readonly line: number;
  readonly record: string[];
}

/** How many lines a record spans: 1 plus the line breaks inside its quoted fields. */
function linesOf(record: readonly string[]): number {
  let n = 1;
  for (const field of record) {
    let at = field.indexOf('\n');
    while (at !== -1) {
      n++;
      at = field.indexOf('\n', at + 1);
    }
  }
  return n;
}

/** Someone else wrote one of the batch's contacts between its read and its write: worth running it again. */
const isRace = (err: unknown) => {
  if (err instanceof ConcurrentWrite) return true;
  const code = (err as { code?: unknown }).code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT';
};

const reasonOf = (errors: readonly FieldError[]) => errors.map((e) => `${e.field} ${e.reason}`).join('; ');

/** Imports a CSV stream into the workspace; resolves with the outcome (a failure is recorded on the import, not thrown). */
export async function runImport(source: Readable, run: ImportRun): Promise<ImportSummary> {
  const now = run.now ?? (() => new Date());
  const batchSize = run.batchSize ?? defaultBatchSize;
  const counts = { rowsRead: 0, rowsImported: 0, rowsInvalid: 0, created: 0, updated: 0 };
  const types = new Map<string, AttributeType>(await attributeTypes(run.db, run.workspaceId));
  let mapping: Record<string, ColumnTarget> = {};
  let plan: ColumnPlan | null = null;
  let analyseAt = batchSize;

  const flush = async (batch: readonly Pending[]) => {
    const rejected: RowRejection[] = [];
    const drafts = [];
    const lines: number[] = [];
    for (const { line, record } of batch) {
      if (record.length !== plan!.width) {
        rejected.push({ line, field: null, reason: `has ${record.length} fields; the header has ${plan!.width}` });
        continue;
      }
      drafts.push(draftOf(record, plan!));
      lines.push(line);
    }
    const checked = normaliseContacts(drafts, types, { fromText: true });
    const rows: BatchRow[] = [];
    checked.values.forEach((contact, i) => {
      const line = lines[i]!;
      if (contact === null) {
        const errors = checked.errors[i]!;
        rejected.push({ line, field: errors[0]?.field ?? null, reason: reasonOf(errors) });
      } else if (!contact.email && !contact.phone && !contact.externalId) {
        rejected.push({ line, field: null, reason: 'has no email, phone or external id to find the contact by' });
      } else rows.push({ line, contact });
    });

    const at = now();
    for (let attempt = 1; ; attempt++) {
      try {
        const outcome = await run.db.transaction().execute(async (trx) => {
          await declareTypes(trx, run.workspaceId, checked.inferred, at);
          const o = await upsertBatch(trx, { workspaceId: run.workspaceId, listId: run.listId, now: at }, rows);
          const refused = [...rejected, ...o.rejected].sort((a, b) => a.line - b.line);
          await recordBatch(
            trx,
            run.importId,
            refused,
            {
              rowsRead: counts.rowsRead + batch.length,
              rowsImported: counts.rowsImported + rows.length - o.rejected.length,
              rowsInvalid: counts.rowsInvalid + refused.length,
              created: counts.created + o.created,
              updated: counts.updated + o.updated,
            },
            at,
          );
          return { ...o, refused: refused.length };
        });
        counts.rowsRead += batch.length;
        counts.rowsImported += rows.length - outcome.rejected.length;
        counts.rowsInvalid += outcome.refused;
        counts.created += outcome.created;
        counts.updated += outcome.updated;
        for (const [name, type] of checked.inferred) types.set(name, type);
        break;
      } catch (err) {
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
  try {
    const parser = parse({ bom: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: false });
    // pipeline: an error in the source (an upload cut short) ends the loop below with it.
    const records = pipeline(source, parser, () => undefined);
    let line = 1;
    let batch: Pending[] = [];
    for await (const record of records as AsyncIterable<string[]>) {
      const at = line;
      line += linesOf(record);
      if (record.length === 1 && record[0] === '') continue; // an empty line
      if (plan === null) {
        const targets = resolveMapping(record, run.overrides ?? {});
        mapping = Object.fromEntries(record.map((h, i) => [h, targets[i]!]));
        plan = planColumns(targets);
        await setMapping(run.db, run.importId, mapping, now());
        if (!identifies(plan)) {
          throw new Error(
            `No column maps to email, phone or externalId (the header is ${record.map((h) => JSON.stringify(h)).join(', ')}); ` +
              'map one, e.g. --map "E-Mail=email".',
          );
        }
        continue;
      }
      batch.push({ line: at, record });
      if (batch.length >= batchSize) {
        if (run.signal?.aborted)
          throw new Error(`Interrupted after ${counts.rowsRead} rows: Herald was shutting down. Import the file again.`);
        await flush(batch);
        batch = [];
      }
    }
    if (plan === null) throw new Error('The file is empty: a CSV import needs a header line.');
    if (batch.length > 0) await flush(batch);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    source.destroy();
  }
  await finishImport(run.db, run.importId, error, now());
  return { status: error === null ? 'completed' : 'failed', error, mapping, ...counts };
}
