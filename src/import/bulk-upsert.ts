import type { Kysely } from 'kysely';
import type { NormalisedContact } from '../domain/contact.js';
import { dialectOf } from '../store/dialect.js';
import type { Database } from '../store/schema.js';
import { type ContactColumn, type ContactValues, insertContacts, insertMembers, lookupContacts, updateContacts } from './batch-sql.js';

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

/** Which contact a row updates: its external id, else its email, else (for a row with neither) its phone. */
export interface BatchRow {
  readonly line: number;
  readonly contact: NormalisedContact;
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

/** A contact as the batch sees it: loaded from the database (id set) or new in this batch. */
interface Slot {
  id: number | null;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  time_zone: string | null;
  external_id: string | null;
  telegram_chat_id: string | null;
  viber_id: string | null;
  tags: string[];
  attributes: Record<string, unknown>;
  /** A loaded contact's stored values, to tell a real change from rows that changed a field and changed it back. */
  stored: string | null;
  /** A loaded contact's updated_at as read: the update only lands if nobody wrote the contact since. */
  seen: string | null;
}

const scalarFields = [
  ['email', 'email'],
  ['phone', 'phone'],
  ['firstName', 'first_name'],
  ['lastName', 'last_name'],
  ['timeZone', 'time_zone'],
  ['externalId', 'external_id'],
  ['telegramChatId', 'telegram_chat_id'],
  ['viberId', 'viber_id'],
] as const;

const sameJson = (a: unknown, b: unknown) => a === b || JSON.stringify(a) === JSON.stringify(b);

/** Applies a checked row to a slot the way an upsert does: given fields replace, attributes merge, tags are added. */
function merge(slot: Slot, c: NormalisedContact): void {
  for (const [field, column] of scalarFields) {
    const v = c[field];
    if (typeof v === 'string') slot[column] = v;
  }
  if (c.tags && c.tags.length > 0) {
    const all = [...new Set([...slot.tags, ...c.tags])];
    if (all.length !== slot.tags.length) slot.tags = all.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }
  if (c.attributes) {
    for (const [key, v] of Object.entries(c.attributes)) {
      if (v !== null && (!Object.hasOwn(slot.attributes, key) || !sameJson(slot.attributes[key], v))) slot.attributes[key] = v;
    }
  }
}

/** A slot's values in the order of `contactColumns`, as the database stores them. */
const columnValues = (s: Slot): ContactValues => [
  s.email,
  s.phone,
  s.first_name,
  s.last_name,
  s.time_zone,
  s.external_id,
  s.telegram_chat_id,
  s.viber_id,
  JSON.stringify(s.tags),
  JSON.stringify(s.attributes),
];

/** What an update would write, to compare with what is stored. */
const signature = (s: Slot) => JSON.stringify(columnValues(s));

function emptySlot(): Slot {
  return {
    id: null,
    email: null,
    phone: null,
    first_name: null,
    last_name: null,
    time_zone: null,
    external_id: null,
    telegram_chat_id: null,
    viber_id: null,
    tags: [],
    attributes: Object.create(null) as Record<string, unknown>,
    stored: null,
    seen: null,
  };
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
 * Upserts one batch of checked rows (in file order) inside `trx`, which must be a
 * transaction. A contact written by someone else between the batch's read and its update
 * is not overwritten: the update matches its `updated_at` as read, and a miss throws
 * `ConcurrentWrite` (the caller retries the batch).
 */
export async function upsertBatch(trx: Kysely<Database>, target: BatchTarget, rows: readonly BatchRow[]): Promise<BatchOutcome> {
  const dialect = dialectOf(trx);
  const at = target.now.toISOString();
  const byExternal = new Map<string, Slot>();
  const byEmail = new Map<string, Slot>();
  const byPhone = new Map<string, Slot>();

  // 1. The contacts any row could match, by any of its keys.
  const externals = new Set<string>();
  const emails = new Set<string>();
  const phones = new Set<string>();
  for (const { contact: c } of rows) {
    if (c.externalId) externals.add(c.externalId);
    if (c.email) emails.add(c.email);
    // Only a row with neither key is matched by phone: phones are shared (a family, an office).
    if (c.phone && !c.email && !c.externalId) phones.add(c.phone);
  }
  if (externals.size + emails.size + phones.size > 0) {
    const lookup = await trx.executeQuery<
      { id: number; tags: string; attributes: string; updated_at: string } & Record<ContactColumn, string | null>
    >(
      lookupContacts(dialect, target.workspaceId, [
        ['external_id', [...externals]],
        ['email', [...emails]],
        ['phone', [...phones]],
      ]),
    );
    for (const r of lookup.rows) {
      const slot: Slot = {
        id: Number(r.id),
        email: r.email,
        phone: r.phone,
        first_name: r.first_name,
        last_name: r.last_name,
        time_zone: r.time_zone,
        external_id: r.external_id,
        telegram_chat_id: r.telegram_chat_id,
        viber_id: r.viber_id,
        tags: JSON.parse(r.tags ?? '[]') as string[],
        attributes: Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(r.attributes ?? '{}')),
        stored: null,
        seen: r.updated_at,
      };
      slot.stored = signature(slot);
      if (slot.external_id !== null) byExternal.set(slot.external_id, slot);
      if (slot.email !== null) byEmail.set(slot.email, slot);
      // Several contacts may share a phone: the oldest is the one a phone-only row updates.
      if (slot.phone !== null && !byPhone.has(slot.phone)) byPhone.set(slot.phone, slot);
    }
  }

  // 2. Each row, in file order, onto its contact: a later row of the same contact sees the earlier one.
  const rejected: RowRejection[] = [];
  const fresh: Slot[] = [];
  const touched = new Set<Slot>();
  for (const { line, contact: c } of rows) {
    let slot: Slot | undefined;
    if (c.externalId) slot = byExternal.get(c.externalId);
    if (!slot && c.email) {
      slot = byEmail.get(c.email);
      if (slot && c.externalId && slot.external_id !== null && slot.external_id !== c.externalId) {
        rejected.push({ line, field: 'externalId', reason: `the contact with this email has the external id ${slot.external_id}` });
        continue;
      }
    }
    if (!slot && !c.email && !c.externalId && c.phone) slot = byPhone.get(c.phone);
    if (slot && c.email && slot.email !== c.email && byEmail.has(c.email)) {
      rejected.push({ line, field: 'email', reason: 'is already the email of another contact' });
      continue;
    }
    if (!slot) {
      slot = emptySlot();
      fresh.push(slot);
    }
    const before = slot.email;
    merge(slot, c);
    touched.add(slot);
    if (before !== null && before !== slot.email) byEmail.delete(before);
    if (slot.email !== null) byEmail.set(slot.email, slot);
    if (slot.external_id !== null) byExternal.set(slot.external_id, slot);
    if (slot.phone !== null && !byPhone.has(slot.phone)) byPhone.set(slot.phone, slot);
  }

  // 3. Writes: new contacts, changed contacts, memberships.
  const ids: number[] = [];
  if (fresh.length > 0) {
    const inserted = await trx.executeQuery<{ id: number }>(insertContacts(dialect, target.workspaceId, fresh.map(columnValues), at));
    for (const r of inserted.rows) ids.push(Number(r.id));
  }
  const changed = [...touched].filter((s) => s.id !== null && signature(s) !== s.stored);
  if (changed.length > 0) {
    const result = await trx.executeQuery(
      updateContacts(
        dialect,
        changed.map((s) => [s.id!, s.seen!, columnValues(s)] as const),
        at,
      ),
    );
    if (Number(result.numAffectedRows ?? 0n) !== changed.length) throw new ConcurrentWrite();
  }
  for (const s of touched) if (s.id !== null) ids.push(s.id);

  let added = 0;
  if (target.listId !== null && ids.length > 0) {
    const result = await trx.executeQuery(insertMembers(dialect, target.workspaceId, target.listId, ids, at));
    added = Number(result.numAffectedRows ?? 0n);
  }

  return { created: fresh.length, updated: changed.length, added, rejected };
}
