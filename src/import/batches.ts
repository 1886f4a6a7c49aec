import { type AttributeType, type FieldError, normaliseContacts } from '../domain/contact.js';
import type { ColumnTarget } from '../domain/import.js';
import type { BatchRow, RowRejection } from './bulk-upsert.js';
import { type ColumnPlan, draftOf, identifies, planColumns } from './drafts.js';
import { resolveMapping } from './mapping.js';

/**
 * The reading half of a CSV import: records of csv-parse in, checked batches out, with no
 * database. It runs in the parse worker (parse-worker.ts) while the main thread writes the
 * batches before it, so everything it yields is plain data that survives `JSON.stringify`.
 */

/** The header: what each column maps to, and whether a contact can be found by it. */
export interface ParsedHeader {
  readonly kind: 'header';
  readonly header: readonly string[];
  readonly mapping: Readonly<Record<string, ColumnTarget>>;
  readonly identifies: boolean;
}

/** One batch of data lines, checked: the rows to upsert and the lines refused. */
export interface ParsedBatch {
  readonly kind: 'batch';
  /** Data records read (valid or not); empty lines do not count. */
  readonly read: number;
  readonly rows: readonly BatchRow[];
  readonly rejected: readonly RowRejection[];
  /** Attribute types this batch's values imply, not declared before it: declare them with the batch. */
  readonly inferred: readonly (readonly [string, AttributeType])[];
}

export type Parsed = ParsedHeader | ParsedBatch;

export interface BatchOptions {
  readonly overrides: Readonly<Record<string, ColumnTarget>>;
  readonly batchSize: number;
  /** The workspace's declared attribute types when the import started. */
  readonly types: Iterable<readonly [string, AttributeType]>;
}

/** How many lines a record spans: 1 plus the line breaks inside its quoted fields. */
export function linesOf(record: readonly string[]): number {
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

const reasonOf = (errors: readonly FieldError[]) => errors.map((e) => `${e.field} ${e.reason}`).join('; ');

/** Checks one batch of records with the domain's `normaliseContacts` (the API's rules). */
export function checkBatch(
  batch: readonly { readonly line: number; readonly record: readonly string[] }[],
  plan: ColumnPlan,
  types: ReadonlyMap<string, AttributeType>,
): ParsedBatch {
  const rejected: RowRejection[] = [];
  const drafts = [];
  const lines: number[] = [];
  for (const { line, record } of batch) {
    if (record.length !== plan.width) {
      rejected.push({ line, field: null, reason: `has ${record.length} fields; the header has ${plan.width}` });
      continue;
    }
    drafts.push(draftOf(record, plan));
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
  return { kind: 'batch', read: batch.length, rows, rejected, inferred: [...checked.inferred] };
}

/**
 * The header, then checked batches of `batchSize` records (the last one shorter). Line
 * numbers count the file's lines from 1 (the header), quoted line breaks included. Types
 * a batch infers count as declared for the batches after it: the writer declares them
 * with that batch, and an import stops at the first batch that fails to land.
 */
export async function* parseBatches(records: AsyncIterable<string[]>, opts: BatchOptions): AsyncGenerator<Parsed> {
  const types = new Map(opts.types);
  let plan: ColumnPlan | null = null;
  let line = 1;
  let batch: { line: number; record: string[] }[] = [];
  const next = () => {
    const parsed = checkBatch(batch, plan!, types);
    for (const [name, type] of parsed.inferred) types.set(name, type);
    batch = [];
    return parsed;
  };
  for await (const record of records) {
    const at = line;
    line += linesOf(record);
    if (record.length === 1 && record[0] === '') continue; // an empty line
    if (plan === null) {
      const targets = resolveMapping(record, opts.overrides);
      plan = planColumns(targets);
      const mapping = Object.fromEntries(record.map((h, i) => [h, targets[i]!]));
      yield { kind: 'header', header: record, mapping, identifies: identifies(plan) };
      continue;
    }
    batch.push({ line: at, record });
    if (batch.length >= opts.batchSize) yield next();
  }
  if (plan !== null && batch.length > 0) yield next();
}
