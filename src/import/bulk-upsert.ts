import type { Kysely } from 'kysely';
import type { NormalisedContact } from '../domain/contact.js';
import { dialectOf } from '../store/dialect.js';
import type { Database } from '../store/schema.js';
import {
  type ContactColumn,
  type ContactValues,
  contactColumns,
  contactsAfter,
  insertContacts,
  insertMembers,
  insertMembersAfter,
  lookupContacts,
  newestContact,
  updateContacts,
} from './batch-sql.js';

/**
 * The write side of a CSV import: one batch of checked contacts, upserted in one
 * transaction with a fixed number of statements whatever the batch size (a lookup, an
 * insert, an update, the list memberships, the rejected lines, the progress row).
 *
 * Why not `upsertContacts` (store/contacts.ts): it upserts on the email key alone with
 * `ON CONFLICT … DO UPDATE` and always rewrites a matched row, so a re-import would count
 * every row as updated, and rows keyed by external id or phone have no unique index to
 * conflict on. Here the batch's contacts are read first (one `SELECT` over the three keys),
 * merged in memory, and only rows that really change are written; the SQL semantics are
 * the store's: absent cells keep the stored value, attributes merge key by key, tags are
 * added, memberships `ON CONFLICT DO NOTHING`.
 *
 * The statements are in batch-sql.ts: text with positional parameters (`CompiledQuery.raw`),
 * because building a 1,000-row insert through Kysely's query builder compiles 13,000 value
 * nodes a batch.
 */

/**
 * One checked row, as the parse worker sends it: the line, and the row's values in the
 * order of `contactColumns` as the database stores them (tags and attributes as JSON text),
 * null where the file gave nothing. Plain strings rather than contact objects: a batch
 * crosses threads as JSON, and the write side mostly binds these values as they are.
 * Which contact a row updates: its external id, else its email, else (for a row with
 * neither) its phone.
 */
export interface BatchRow {
  readonly line: number;
  readonly values: ContactValues;
}

export interface RowRejection {
  readonly line: number;
  readonly field: string | null;
  readonly reason: string;
}

export interface BatchOutcome {
  readonly created: number;
  /** Existing contacts whose stored values changed (each counted once, however many rows named it). */
  readonly updated: number;
  /** Memberships added to the import's list. */
  readonly added: number;
  /** Rows refused by the merge (a key that belongs to another contact). */
  readonly rejected: readonly RowRejection[];
}

export interface BatchTarget {
  readonly workspaceId: string;
  readonly listId: string | null;
  readonly now: Date;
}

// Positions in `ContactValues` (the order of `contactColumns`).
const email = contactColumns.indexOf('email');
const phone = contactColumns.indexOf('phone');
const externalId = contactColumns.indexOf('external_id');
const tags = contactColumns.indexOf('tags');
const attributes = contactColumns.indexOf('attributes');
const scalars = contactColumns.length - 2;

const text = (v: string | null | undefined) => (typeof v === 'string' ? v : null);

/** The values a checked contact gives, in the stored form: what a new contact made of this row alone would hold, with null for absent. */
export function storedValues(c: NormalisedContact): ContactValues {
  return [
    text(c.email),
    text(c.phone),
    text(c.firstName),
    text(c.lastName),
    text(c.timeZone),
    text(c.externalId),
    text(c.telegramChatId),
    text(c.viberId),
    // Sorted and unique already (normaliseTags).
    c.tags && c.tags.length > 0 ? JSON.stringify(c.tags) : null,
    c.attributes ? attributesText(c.attributes) : null,
  ];
}

/** Attributes as stored, null values left out (the merge skips them; a CSV cell is never null); null when none is left. */
function attributesText(given: Readonly<Record<string, unknown>>): string | null {
  let nulls = false;
  let any = false;
  for (const key in given) {
    if (given[key] === null) nulls = true;
    else any = true;
  }
  if (!any) return null;
  if (!nulls) return JSON.stringify(given);
  return JSON.stringify(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== null)));
}

/**
 * A contact as the batch sees it: loaded from the database (id set) or new in this batch.
 * Its tags and attributes stay JSON text until a row changes them (`open`): most rows either
 * create a contact or find one already holding their values, and neither needs them parsed.
 */
interface Slot {
  id: number | null;
  /** The contact's values; the tags and attributes entries are stale once `opened`. */
  values: (string | null)[];
  opened: { tags: string[]; attributes: Record<string, unknown> } | null;
  /** A loaded contact's stored values when opened, to tell a real change from rows that changed a field and changed it back. */
  stored: string | null;
  /** A loaded contact's updated_at as read: the update only lands if nobody wrote the contact since. */
  seen: string | null;
  /** A loaded contact's email as read. */
  readonly storedEmail: string | null;
}

const byCodeUnit = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const sameJson = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** A slot's values as the database stores them. */
function columnValues(s: Slot): ContactValues {
  if (s.opened === null) return s.values;
  const out = s.values.slice();
  out[tags] = JSON.stringify(s.opened.tags);
  out[attributes] = JSON.stringify(s.opened.attributes);
  return out;
}

/** Parses a slot's tags and attributes for a merge; a loaded slot remembers what is stored. */
function open(s: Slot): NonNullable<Slot['opened']> {
  if (s.opened === null) {
    s.opened = {
      tags: JSON.parse(s.values[tags] ?? '[]') as string[],
      attributes: Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(s.values[attributes] ?? '{}')),
    };
    if (s.id !== null) s.stored = JSON.stringify(columnValues(s));
  }
  return s.opened;
}

/**
 * Whether a row would leave an unopened slot as it is: every value it gives is already the
 * slot's, tags and attributes compared as text. A re-import's rows mostly are; a false
 * answer only means the row is merged the long way.
 */
function holds(s: Slot, row: ContactValues): boolean {
  if (s.opened !== null) return false;
  for (let i = 0; i < row.length; i++) if (row[i] !== null && row[i] !== s.values[i]) return false;
  return true;
}

/** Applies a row to a slot the way an upsert does: given fields replace, attributes merge, tags are added. */
function merge(slot: Slot, row: ContactValues): void {
  const o = open(slot);
  for (let i = 0; i < scalars; i++) if (row[i] !== null) slot.values[i] = row[i]!;
  if (row[tags] !== null) {
    const all = [...new Set([...o.tags, ...(JSON.parse(row[tags]!) as string[])])];
    if (all.length !== o.tags.length) o.tags = all.sort(byCodeUnit);
  }
  if (row[attributes] !== null) {
    for (const [key, v] of Object.entries(JSON.parse(row[attributes]!) as Record<string, unknown>)) {
      if (v !== null && (!Object.hasOwn(o.attributes, key) || !sameJson(o.attributes[key], v))) o.attributes[key] = v;
    }
  }
}

/**
 * A contact the batch read was written by someone else before the batch's update (no row
 * locks are taken: a re-import that changes nothing then writes nothing). The batch is
 * rolled back and run again on fresh reads.
 */
export class ConcurrentWrite extends Error {
  constructor() {
    super('A contact of this batch was changed meanwhile; the batch is retried.');
    this.name = 'ConcurrentWrite';
  }
}

/**
 * A batch inserted first (upsertBatch's `insertFirst`) in which a row that conflicted turned
 * out new after all: an earlier row of the batch had moved its key off a contact. Its
 * contact would get a later id than rows after it in the file, and the oldest contact is the
 * one a phone-only row updates; the batch is rolled back and merged row by row instead.
 */
export class InsertedOutOfOrder extends Error {
  constructor() {
    super('A row of this batch is new only because an earlier row freed its key; the batch is merged in file order.');
    this.name = 'InsertedOutOfOrder';
  }
}

/**
 * Upserts one batch of checked rows (in file order) inside `trx`, which must be a
 * transaction. A contact written by someone else between the batch's read and its update
 * is not overwritten: the update matches its `updated_at` as read, and a miss throws
 * `ConcurrentWrite` (the caller retries the batch).
 *
 * With `insertFirst`, a batch that can be (no two rows share an email or an external id,
 * no row has only a phone) is first inserted with `ON CONFLICT DO NOTHING`, and only the
 * rows that conflicted are looked up and merged. That is the same outcome as merging every
 * row in file order: an inserted row's keys were nobody's, and no other row of the batch
 * holds them, so no row before or after it could have matched it or moved a key onto it.
 * A first import is all new rows, and this saves it the lookup: 1.3–1.5 µs of SQL a row
 * against the bare loop's 9 (docs/benchmarks.md). A row with only a phone is found by it,
 * and phones are shared, so such a batch is merged the long way; so is one where a
 * conflicting row turns out new (`InsertedOutOfOrder`, thrown for the caller to retry).
 */
export async function upsertBatch(
  trx: Kysely<Database>,
  target: BatchTarget,
  rows: readonly BatchRow[],
  insertFirst = false,
): Promise<BatchOutcome> {
  if (!insertFirst || !distinctKeys(rows)) return mergeRows(trx, target, rows, [], 0);
  const dialect = dialectOf(trx);
  const insert = insertContacts(
    dialect,
    target.workspaceId,
    rows.map((r) => newContact(r.values)),
    target.now.toISOString(),
    true,
  );
  type Inserted = { id: number; email: string | null; external_id: string | null };
  let inserted: readonly Inserted[];
  if (dialect === 'postgres') inserted = (await trx.executeQuery<Inserted>(insert)).rows;
  else {
    const newest = Number((await trx.executeQuery<{ id: number }>(newestContact())).rows[0]!.id);
    const landed = Number((await trx.executeQuery(insert)).numAffectedRows ?? 0n);
    if (landed === rows.length) {
      // Every row new, as in most of a first import: their memberships need not pass through here.
      const at = target.now.toISOString();
      const added =
        target.listId === null
          ? 0
          : (await trx.executeQuery(insertMembersAfter(target.workspaceId, target.listId, newest, at))).numAffectedRows;
      return { created: landed, updated: 0, added: Number(added ?? 0n), rejected: [] };
    }
    inserted = (await trx.executeQuery<Inserted>(contactsAfter(newest))).rows;
  }
  const ids: number[] = [];
  const emails = new Set<string>();
  const externals = new Set<string>();
  for (const r of inserted) {
    ids.push(Number(r.id));
    if (r.email !== null) emails.add(r.email);
    if (r.external_id !== null) externals.add(r.external_id);
  }
  const conflicted =
    ids.length === rows.length ? [] : rows.filter(({ values: v }) => !(v[email] ? emails.has(v[email]) : externals.has(v[externalId]!)));
  return mergeRows(trx, target, conflicted, ids, ids.length);
}

/** A new contact's values from a row's: its own copy, with no tags and no attributes where the row gives none. */
function newContact(v: ContactValues): (string | null)[] {
  const values = v.slice();
  values[tags] ??= '[]';
  values[attributes] ??= '{}';
  return values;
}

/** Whether no two rows share an email or an external id, and every row has one of them. */
function distinctKeys(rows: readonly BatchRow[]): boolean {
  const emails = new Set<string>();
  const externals = new Set<string>();
  for (const { values: v } of rows) {
    const e = v[email] ?? null;
    const x = v[externalId] ?? null;
    if (e === null && x === null) return false;
    if (e !== null) {
      if (emails.has(e)) return false;
      emails.add(e);
    }
    if (x !== null) {
      if (externals.has(x)) return false;
      externals.add(x);
    }
  }
  return true;
}

/**
 * Merges rows onto the contacts they match, in file order, and writes the new, the
 * changed and the list memberships; `ids` and `created` are those of rows already inserted.
 */
async function mergeRows(
  trx: Kysely<Database>,
  target: BatchTarget,
  rows: readonly BatchRow[],
  ids: number[],
  created: number,
): Promise<BatchOutcome> {
  const dialect = dialectOf(trx);
  const at = target.now.toISOString();
  const byExternal = new Map<string, Slot>();
  const byEmail = new Map<string, Slot>();
  const byPhone = new Map<string, Slot>();

  // 1. The contacts any row could match, by any of its keys.
  const externals = new Set<string>();
  const emails = new Set<string>();
  const phones = new Set<string>();
  for (const { values: v } of rows) {
    if (v[externalId]) externals.add(v[externalId]);
    if (v[email]) emails.add(v[email]);
    // Only a row with neither key is matched by phone: phones are shared (a family, an office).
    if (v[phone] && !v[email] && !v[externalId]) phones.add(v[phone]);
  }
  if (externals.size + emails.size + phones.size > 0) {
    const lookup = await trx.executeQuery<{ id: number; updated_at: string } & Record<ContactColumn, string | null>>(
      lookupContacts(dialect, target.workspaceId, [
        ['external_id', [...externals]],
        ['email', [...emails]],
        ['phone', [...phones]],
      ]),
    );
    for (const r of lookup.rows) {
      const values = contactColumns.map((c) => r[c]);
      values[tags] ??= '[]';
      values[attributes] ??= '{}';
      const slot: Slot = { id: Number(r.id), values, opened: null, stored: null, seen: r.updated_at, storedEmail: values[email] ?? null };
      if (values[externalId] !== null) byExternal.set(values[externalId]!, slot);
      if (values[email] !== null) byEmail.set(values[email]!, slot);
      // Several contacts may share a phone: the oldest is the one a phone-only row updates.
      if (values[phone] !== null && !byPhone.has(values[phone]!)) byPhone.set(values[phone]!, slot);
    }
  }

  // 2. Each row, in file order, onto its contact: a later row of the same contact sees the earlier one.
  const rejected: RowRejection[] = [];
  const fresh: Slot[] = [];
  const touched = new Set<Slot>();
  for (const { line, values: v } of rows) {
    let slot: Slot | undefined;
    if (v[externalId]) slot = byExternal.get(v[externalId]);
    if (!slot && v[email]) {
      slot = byEmail.get(v[email]);
      const held = slot?.values[externalId] ?? null;
      if (v[externalId] && held !== null && held !== v[externalId]) {
        rejected.push({ line, field: 'externalId', reason: `the contact with this email has the external id ${held}` });
        continue;
      }
    }
    if (!slot && !v[email] && !v[externalId] && v[phone]) slot = byPhone.get(v[phone]!);
    if (slot && v[email] && slot.values[email] !== v[email] && byEmail.has(v[email])) {
      rejected.push({ line, field: 'email', reason: 'is already the email of another contact' });
      continue;
    }
    if (!slot) {
      slot = { id: null, values: newContact(v), opened: null, stored: null, seen: null, storedEmail: null };
      fresh.push(slot);
    } else if (!holds(slot, v)) {
      const before = slot.values[email] ?? null;
      merge(slot, v);
      if (before !== null && before !== slot.values[email]) byEmail.delete(before);
    }
    touched.add(slot);
    const s = slot.values;
    if (s[email] !== null) byEmail.set(s[email]!, slot);
    if (s[externalId] !== null) byExternal.set(s[externalId]!, slot);
    if (s[phone] !== null && !byPhone.has(s[phone]!)) byPhone.set(s[phone]!, slot);
  }

  // 3. Writes: changed contacts, new contacts, memberships. Changed first: a row may move a
  // contact off an email that a later row gives a new contact, or another contact.
  if (created > 0 && fresh.length > 0) throw new InsertedOutOfOrder();
  // Only a merged slot can have changed; one whose merges undid each other has not.
  const changed = [...touched].filter((s) => s.id !== null && s.opened !== null && JSON.stringify(columnValues(s)) !== s.stored);
  if (changed.length > 0) {
    const moving = changed.filter((s) => s.values[email] !== s.storedEmail);
    if (moving.length > 1) {
      // Emails moving between contacts of the batch: the one update would hold one twice for a moment.
      await trx
        .updateTable('contacts')
        .set({ email: null })
        .where(
          'id',
          'in',
          moving.map((s) => s.id!),
        )
        .execute();
    }
    const result = await trx.executeQuery(
      updateContacts(
        dialect,
        changed.map((s) => [s.id!, s.seen!, columnValues(s)] as const),
        at,
      ),
    );
    if (Number(result.numAffectedRows ?? 0n) !== changed.length) throw new ConcurrentWrite();
  }
  if (fresh.length > 0) {
    const inserted = await trx.executeQuery<{ id: number }>(insertContacts(dialect, target.workspaceId, fresh.map(columnValues), at));
    for (const r of inserted.rows) ids.push(Number(r.id));
  }
  for (const s of touched) if (s.id !== null) ids.push(s.id);

  let added = 0;
  if (target.listId !== null && ids.length > 0) {
    const result = await trx.executeQuery(insertMembers(dialect, target.workspaceId, target.listId, ids, at));
    added = Number(result.numAffectedRows ?? 0n);
  }

  return { created: created + fresh.length, updated: changed.length, added, rejected };
}
