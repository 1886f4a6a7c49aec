import { type Result, fail, ok } from '../domain/errors.js';
import { type ColumnTarget, type ContactColumn, contactColumns } from '../domain/import.js';

/**
 * Well-known headers, compared lower-cased with everything but letters and digits
 * removed, so `First Name`, `first_name` and `firstName` are one header. `herald_id` is
 * the contact id our own export writes: ignored, so an export imports back unchanged.
 */
const wellKnown: Readonly<Record<string, ColumnTarget>> = {
  email: 'email',
  emailaddress: 'email',
  phone: 'phone',
  phonenumber: 'phone',
  mobile: 'phone',
  firstname: 'firstName',
  lastname: 'lastName',
  timezone: 'timeZone',
  externalid: 'externalId',
  tags: 'tags',
  telegramchatid: 'telegramChatId',
  viberid: 'viberId',
  heraldid: 'ignore',
};

const squash = (header: string) => header.toLowerCase().replace(/[^a-z0-9]/g, '');

/** What a header maps to when nobody said otherwise: a well-known field, else a custom attribute of that name. */
export function defaultTarget(header: string): ColumnTarget {
  const name = header.trim();
  if (name === '') return 'ignore';
  return wellKnown[squash(name)] ?? `attributes.${name}`;
}

/** Reads a target as people write it: `email`, `first_name`, `attributes.plan`, `plan` (an attribute), `ignore`. */
export function parseTarget(raw: string): Result<ColumnTarget> {
  const value = raw.trim();
  if (value === '') return fail('VALIDATION_FAILED', 'A mapping target is empty.');
  if (value === 'ignore' || value === '-') return ok('ignore');
  if ((contactColumns as readonly string[]).includes(value)) return ok(value as ContactColumn);
  if (value.startsWith('attributes.')) {
    const name = value.slice('attributes.'.length);
    if (name === '' || name.length > 100) return fail('VALIDATION_FAILED', `"${value}" names no attribute (1 to 100 characters).`);
    return ok<ColumnTarget>(`attributes.${name}`);
  }
  const known = wellKnown[squash(value)];
  if (known && known !== 'ignore') return ok(known);
  if (value.length > 100) return fail('VALIDATION_FAILED', `Attribute names are at most 100 characters: "${value.slice(0, 20)}…".`);
  return ok<ColumnTarget>(`attributes.${value}`);
}

/** Parses `header=field` overrides (CLI `--map`, API `?map=`); the last one for a header wins. */
export function parseOverrides(pairs: readonly string[]): Result<Record<string, ColumnTarget>> {
  const out: Record<string, ColumnTarget> = {};
  for (const pair of pairs) {
    const at = pair.lastIndexOf('=');
    if (at <= 0) return fail('VALIDATION_FAILED', `"${pair}" is not header=field (e.g. "E-Mail=email" or "Plan=attributes.plan").`);
    const target = parseTarget(pair.slice(at + 1));
    if (!target.ok) return target;
    out[pair.slice(0, at).trim()] = target.value;
  }
  return ok(out);
}

/** One target per column of the header row; an override names a header exactly (after trimming). */
export function resolveMapping(header: readonly string[], overrides: Readonly<Record<string, ColumnTarget>>): ColumnTarget[] {
  return header.map((h) => overrides[h.trim()] ?? defaultTarget(h));
}
