import { type AttributeType, type FieldError, normaliseContact } from '../domain/contact.js';
import type { ColumnTarget } from '../domain/import.js';
import { type BatchRow, type RowRejection, storedValues } from './bulk-upsert.js';
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

/** A batch being filled: each record is checked as it arrives, and only its row (or refusal) is kept. */
interface Filling {
  read: number;
  readonly rows: BatchRow[];
  readonly rejected: RowRejection[];
  readonly inferred: Map<string, AttributeType>;
}

const filling = (): Filling => ({ read: 0, rows: [], rejected: [], inferred: new Map() });

/**
 * Checks one record with the domain's `normaliseContact` (the API's rules) into the batch.
 * `known` holds the types declared before the batch and those it inferred so far, so one
 * batch cannot write a number and then a string to the same new attribute.
 */
function checkRecord(
  record: readonly string[],
  line: number,
  plan: ColumnPlan,
  known: ReadonlyMap<string, AttributeType>,
  into: Filling,
): void {
  into.read++;
  if (record.length !== plan.width) {
    into.rejected.push({ line, field: null, reason: `has ${record.length} fields; the header has ${plan.width}` });
    return;
  }
  const checked = normaliseContact(draftOf(record, plan), known, { fromText: true });
  if (!checked.ok) {
    into.rejected.push({ line, field: checked.errors[0]?.field ?? null, reason: reasonOf(checked.errors) });
    return;
  }
  const c = checked.value;
  if (!c.email && !c.phone && !c.externalId) {
    into.rejected.push({ line, field: null, reason: 'has no email, phone or external id to find the contact by' });
    return;
  }
  for (const [name, type] of checked.inferred) into.inferred.set(name, type);
  into.rows.push({ line, values: storedValues(c) });
}

/**
 * The header, then checked batches of `batchSize` records (the last one shorter). Line
 * numbers count the file's lines from 1 (the header), quoted line breaks included. Types
 * a batch infers count as declared for the batches after it: the writer declares them
 * with that batch, and an import stops at the first batch that fails to land.
 *
 * Records are checked one by one rather than a batch at a time: what stays alive until the
 * batch is posted is then its rows' values, not 1,000 records, drafts and contact objects
 * each (which the worker's young generation copied on every scavenge).
 */
export async function* parseBatches(records: AsyncIterable<string[]>, opts: BatchOptions): AsyncGenerator<Parsed> {
  const types = new Map(opts.types);
  let plan: ColumnPlan | null = null;
  let line = 1;
  let batch = filling();
  const known = { get: (key: string) => types.get(key) ?? batch.inferred.get(key) } as ReadonlyMap<string, AttributeType>;
  const next = (): ParsedBatch => {
    const done = batch;
    for (const [name, type] of done.inferred) types.set(name, type);
    batch = filling();
    return { kind: 'batch', read: done.read, rows: done.rows, rejected: done.rejected, inferred: [...done.inferred] };
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
    checkRecord(record, at, plan, known, batch);
    if (batch.read >= opts.batchSize) yield next();
  }
  if (plan !== null && batch.read > 0) yield next();
}
