import type { ContactDraft } from '../domain/contact.js';
import type { ColumnTarget } from '../domain/import.js';

/** Tags in one cell: `vip;news`, `vip|news` or `vip,news`. */
const tagSeparators = /[;|,]/;

/**
 * The columns of a header, compiled once: for each contact field and attribute, the
 * index of the cell that feeds it (a later column wins over an earlier one for the same field).
 */
export interface ColumnPlan {
  readonly width: number;
  readonly fields: readonly (readonly [Exclude<ColumnTarget, 'ignore' | `attributes.${string}`>, number])[];
  readonly attributes: readonly (readonly [string, number])[];
}

export function planColumns(targets: readonly ColumnTarget[]): ColumnPlan {
  const fields = new Map<string, number>();
  const attributes = new Map<string, number>();
  targets.forEach((t, i) => {
    if (t === 'ignore') return;
    if (t.startsWith('attributes.')) attributes.set(t.slice('attributes.'.length), i);
    else fields.set(t, i);
  });
  return {
    width: targets.length,
    fields: [...fields] as ColumnPlan['fields'][number][],
    attributes: [...attributes],
  };
}

/** Whether the plan can tell contacts apart: a re-import finds them again by external id, email or phone. */
export function identifies(plan: ColumnPlan): boolean {
  return plan.fields.some(([f]) => f === 'externalId' || f === 'email' || f === 'phone');
}

/** One CSV record as a contact draft of text cells, for `normaliseContacts(…, { fromText: true })`. */
export function draftOf(record: readonly string[], plan: ColumnPlan): ContactDraft {
  const draft: Record<string, unknown> = {};
  for (const [field, i] of plan.fields) {
    const cell = record[i];
    if (cell === undefined || cell === '') continue;
    draft[field] = field === 'tags' ? cell.split(tagSeparators).filter((t) => t.trim() !== '') : cell;
  }
  if (plan.attributes.length > 0) {
    // No prototype: a header such as `__proto__` stays an attribute name.
    const attributes = Object.create(null) as Record<string, string>;
    for (const [name, i] of plan.attributes) {
      const cell = record[i];
      if (cell !== undefined && cell !== '') attributes[name] = cell;
    }
    draft.attributes = attributes;
  }
  return draft;
}
