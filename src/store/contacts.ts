import { type Kysely, sql } from 'kysely';
import { type Device, normaliseTags } from '../domain/contact.js';
import { type Result, fail, ok } from '../domain/errors.js';
import type { Contact, ContactFields, ContactPatch } from '../domain/resources.js';
import { declareAttributes } from './attributes.js';
import { saveDevices } from './devices.js';
import { dialectOf, inList, isWriteRace, jsonArrayHas, jsonMerge } from './dialect.js';
import { addMembers } from './lists.js';
import { type Page, decodeCursor, pageOfRows } from './pagination.js';
import type { ContactRow, Database } from './schema.js';

/**
 * Rows per statement. 500 rows × 14 columns = 7,000 bound parameters, well under SQLite's
 * 32,766, and a chunk writes in a few milliseconds so readers are never kept waiting long.
 */
const chunkSize = 500;
/** Attempts of an upsert that lost a race to a concurrent writer (see upsertContacts). */
const maxAttempts = 6;

export interface ContactUpsert {
  /** contacts[i] is the stored contact of inputs[i] (inputs naming the same contact share one row). */
  readonly contacts: ContactRow[];
  readonly created: number;
  /** Existing contacts the inputs named (each counted once). */
  readonly updated: number;
  /** List memberships added (a contact already in a list is not counted). */
  readonly added: number;
}

/** An input that names a key another contact holds; CONFLICT carries these in `extra.conflicts`. */
export interface UpsertConflict {
  readonly index: number;
  readonly field: 'email' | 'externalId';
  readonly contactId: number;
  readonly reason: string;
}

/** The API shape of a stored contact. */
export function contactOf(row: ContactRow): Contact {
  return {
    id: row.id,
    email: row.email,
    phone: row.phone,
    firstName: row.first_name,
    lastName: row.last_name,
    timeZone: row.time_zone,
    externalId: row.external_id,
    telegramChatId: row.telegram_chat_id,
    viberId: row.viber_id,
    tags: JSON.parse(row.tags) as string[],
    attributes: JSON.parse(row.attributes) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** The stored form of an email: trimmed, lower-cased, null when empty. */
const emailKey = (email: string | null | undefined) => email?.trim().toLowerCase() || null;
const textKey = (value: string | number | null | undefined) =>
  value === null || value === undefined ? null : String(value).trim() || null;

/** A contact as one batch sees it: read from the database (id set) or new in this batch. */
interface Slot {
  row: ContactRow;
  attributes: Record<string, unknown>;
  tags: string[];
  existing: boolean;
  dirty: boolean;
}

/** Applies one input the way an upsert does: given fields replace, tags are added, attributes merge (null removes). */
function apply(slot: Slot, input: ContactFields): void {
  const set = (
    column: 'email' | 'phone' | 'first_name' | 'last_name' | 'time_zone' | 'external_id' | 'telegram_chat_id' | 'viber_id',
    v: string | null,
  ) => {
    if (v !== null && slot.row[column] !== v) {
      slot.row[column] = v;
      slot.dirty = true;
    }
  };
  set('email', emailKey(input.email));
  set('phone', textKey(input.phone));
  set('first_name', textKey(input.firstName));
  set('last_name', textKey(input.lastName));
  set('time_zone', textKey(input.timeZone));
  set('external_id', textKey(input.externalId));
  set('telegram_chat_id', textKey(input.telegramChatId));
  set('viber_id', textKey(input.viberId));
  if (input.tags && input.tags.length > 0) {
    const tags = normaliseTags([...slot.tags, ...input.tags]);
    if (tags.length !== slot.tags.length || tags.some((t, i) => t !== slot.tags[i])) {
      slot.tags = tags;
      slot.dirty = true;
    }
  }
  for (const [key, v] of Object.entries(input.attributes ?? {})) {
    if (v === null) {
      if (Object.hasOwn(slot.attributes, key)) {
        delete slot.attributes[key];
        slot.dirty = true;
      }
    } else if (v !== undefined && slot.attributes[key] !== v) {
      slot.attributes[key] = v;
      slot.dirty = true;
    }
  }
}

function slotOf(row: ContactRow, existing: boolean): Slot {
  // A null-prototype object keeps a key such as `__proto__` a plain key.
  const attributes = Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(row.attributes));
  return { row: { ...row }, attributes, tags: JSON.parse(row.tags) as string[], existing, dirty: false };
}

/**
 * Creates or updates contacts, all in one transaction, and adds them to `listIds`, which
 * are checked first: an unknown or deleted list changes nothing. Which contact an input
 * updates: the one with its externalId, else its email (matched case-insensitively; a
 * contact with another external id is a conflict), else, for an input with neither, the
 * oldest with its phone; otherwise it is a new contact. Inputs naming the same contact
 * apply in order. On update an absent or null field keeps its stored value, tags are
 * added, attributes merge (a null value removes the key) and must fit their declared
 * types (undeclared ones are declared). An input whose email or external id belongs to
 * another contact fails the whole call with CONFLICT (`extra.conflicts`), before any write.
 *
 * Set-based: per 500 inputs one read of the candidates (one index search per key), one insert
 * and one update; the attribute declarations, devices and memberships add a statement each.
 * Inputs should come from `normaliseContact` (emails are lower-cased here regardless).
 */
export async function upsertContacts(
  db: Kysely<Database>,
  workspaceId: string,
  inputs: readonly ContactFields[],
  now: Date,
  listIds: readonly string[] = [],
): Promise<Result<ContactUpsert>> {
  // A concurrent writer may insert one of these emails or take a lock first. PostgreSQL
  // reports the duplicate only once that writer committed, so the read of a new attempt
  // sees its row and matches it; each writer in flight can cost one attempt (four
  // concurrent 300-row batches over the same 400 emails took up to four attempts).
  for (let attempt = 1; ; attempt++) {
    try {
      return await upsertOnce(db, workspaceId, inputs, now, listIds);
    } catch (err) {
      if (attempt >= maxAttempts || !isWriteRace(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 20 * attempt));
    }
  }
}

async function upsertOnce(
  db: Kysely<Database>,
  workspaceId: string,
  inputs: readonly ContactFields[],
  now: Date,
  listIds: readonly string[],
): Promise<Result<ContactUpsert>> {
  const at = now.toISOString();
  const postgres = dialectOf(db) === 'postgres';
  return db.transaction().execute(async (trx) => {
    const wanted = [...new Set(listIds)];
    if (wanted.length > 0) {
      const live = await trx
        .selectFrom('lists')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('deleted_at', 'is', null)
        .where('id', 'in', wanted)
        .execute();
      const missing = wanted.filter((id) => !live.some((l) => l.id === id));
      if (missing.length > 0) return fail('NOT_FOUND', `No list ${missing.join(', ')} in this workspace.`, { listIds: missing });
    }

    // 1. The contacts any input could name, by any of its keys; locked on PostgreSQL so a
    // concurrent PATCH is not lost between this read and the write.
    const byExternal = new Map<string, Slot>();
    const byEmail = new Map<string, Slot>();
    const byPhone = new Map<string, Slot>();
    const index = (slot: Slot) => {
      const { external_id, email, phone } = slot.row;
      if (external_id !== null) byExternal.set(external_id, slot);
      if (email !== null) byEmail.set(email, slot);
      // Several contacts may share a phone: the oldest is the one a phone-only input updates.
      if (phone !== null && !byPhone.has(phone)) byPhone.set(phone, slot);
    };
    const loaded = new Map<number, Slot>();
    for (let i = 0; i < inputs.length; i += chunkSize) {
      const chunk = inputs.slice(i, i + chunkSize);
      const keys = (pick: (c: ContactFields) => string | null) => [...new Set(chunk.map(pick).filter((k): k is string => k !== null))];
      const externals = keys((c) => textKey(c.externalId));
      const emails = keys((c) => emailKey(c.email));
      // A phone names a contact only for an input with neither key (step 2), so only those look it up.
      const phones = keys((c) => (textKey(c.externalId) || emailKey(c.email) ? null : textKey(c.phone)));
      const searches = (
        [
          ['external_id', externals],
          ['email', emails],
          ['phone', phones],
        ] as const
      )
        .filter(([, values]) => values.length > 0)
        .map(([column, values]) => sql`select id from contacts where workspace_id = ${workspaceId} and ${inList(sql.ref(column), values)}`);
      if (searches.length === 0) continue;
      // One index search per key, as a UNION ALL of ids (as import/batch-sql.ts): with
      // `external_id IN (…) OR email IN (…) OR phone IN (…)` SQLite scanned the whole workspace.
      // PostgreSQL takes the ids as one array (an InitPlan) and probes the primary key, which
      // holds without table statistics and lets the outer select lock its rows.
      const ids = sql.join(searches, sql` union all `);
      let query = trx
        .selectFrom('contacts')
        .selectAll()
        .where(postgres ? sql<boolean>`id = any(array(${ids}))` : sql<boolean>`id in (${ids})`)
        .orderBy('id');
      if (postgres) query = query.forUpdate();
      for (const row of await query.execute()) if (!loaded.has(row.id)) loaded.set(row.id, slotOf(row, true));
    }
    // Indexed in id order, whichever chunk found them, so a shared phone names the oldest.
    for (const slot of [...loaded.values()].sort((a, b) => a.row.id - b.row.id)) index(slot);

    // 2. Each input, in order, onto its contact: a later input sees what an earlier one set.
    const conflicts: UpsertConflict[] = [];
    const slots: Slot[] = [];
    inputs.forEach((input, i) => {
      const externalId = textKey(input.externalId);
      const email = emailKey(input.email);
      const phone = textKey(input.phone);
      let slot = externalId ? byExternal.get(externalId) : undefined;
      if (!slot && email) {
        slot = byEmail.get(email);
        if (slot && externalId && slot.row.external_id !== null) {
          conflicts.push({
            index: i,
            field: 'externalId',
            contactId: slot.row.id,
            reason: `the contact with this email has the external id ${slot.row.external_id}`,
          });
          return;
        }
      }
      if (!slot && !email && !externalId && phone) slot = byPhone.get(phone);
      const owner = email ? byEmail.get(email) : undefined;
      if (slot && owner && owner !== slot) {
        conflicts.push({ index: i, field: 'email', contactId: owner.row.id, reason: 'is already the email of another contact' });
        return;
      }
      if (!slot) {
        const blank = {
          id: 0,
          workspace_id: workspaceId,
          email: null,
          phone: null,
          first_name: null,
          last_name: null,
          time_zone: null,
          attributes: '{}',
          external_id: null,
          telegram_chat_id: null,
          viber_id: null,
          tags: '[]',
          created_at: at,
          updated_at: at,
        };
        slot = slotOf(blank, false);
      }
      const before = slot.row.email;
      apply(slot, input);
      if (before !== null && before !== slot.row.email) byEmail.delete(before);
      index(slot);
      slots.push(slot);
    });
    if (conflicts.length > 0) {
      const first = conflicts[0]!;
      return fail('CONFLICT', `contacts[${first.index}]: ${first.field} ${first.reason} (contact ${first.contactId}).`, { conflicts });
    }

    const issues = await declareAttributes(
      trx,
      workspaceId,
      inputs.map((i) => i.attributes),
      now,
    );
    // Checked and declared only now, when nothing else can fail: a failed call declares nothing.
    if (issues.length > 0) {
      const first = issues[0]!;
      return fail('VALIDATION_FAILED', `contacts[${first.index}]: ${first.field} ${first.reason}`, { issues });
    }

    // 3. Writes: new contacts, then changed ones.
    const distinct = [...new Set(slots)];
    const fresh = distinct.filter((s) => !s.existing);
    const changed = distinct.filter((s) => s.existing && s.dirty);
    const columns = (s: Slot) => ({
      email: s.row.email,
      phone: s.row.phone,
      first_name: s.row.first_name,
      last_name: s.row.last_name,
      time_zone: s.row.time_zone,
      external_id: s.row.external_id,
      telegram_chat_id: s.row.telegram_chat_id,
      viber_id: s.row.viber_id,
      tags: JSON.stringify(s.tags),
      attributes: JSON.stringify(s.attributes),
    });
    for (let i = 0; i < fresh.length; i += chunkSize) {
      const chunk = fresh.slice(i, i + chunkSize);
      const ids = await trx
        .insertInto('contacts')
        .values(chunk.map((s) => ({ workspace_id: workspaceId, ...columns(s), created_at: at, updated_at: at })))
        .returning('id')
        .execute();
      // A plain insert numbers its rows in VALUES order.
      const sorted = ids.map((r) => r.id).sort((a, b) => a - b);
      chunk.forEach((s, k) => (s.row.id = sorted[k]!));
    }
    for (let i = 0; i < changed.length; i += chunkSize) {
      const chunk = changed.slice(i, i + chunkSize);
      const names = Object.keys(columns(chunk[0]!)) as (keyof ReturnType<typeof columns>)[];
      const tuples = chunk.map((s) => {
        const values = columns(s);
        return sql`(${postgres ? sql`cast(${s.row.id} as bigint)` : s.row.id}, ${sql.join(names.map((n) => values[n]))})`;
      });
      await sql`
        with v (id, ${sql.join(names.map((n) => sql.id(n)))}) as (values ${sql.join(tuples)})
        update contacts set ${sql.join(names.map((n) => sql`${sql.id(n)} = v.${sql.id(n)}`))}, updated_at = ${at}
        from v where contacts.id = v.id and contacts.workspace_id = ${workspaceId}
      `.execute(trx);
    }
    for (const s of distinct) {
      s.row.tags = JSON.stringify(s.tags);
      s.row.attributes = JSON.stringify(s.attributes);
      if (s.existing && s.dirty) s.row.updated_at = at;
    }

    const devices = inputs.flatMap((input, i) =>
      (input.devices ?? []).map((device) => ({ contactId: slots[i]!.row.id, device: device as Device })),
    );
    await saveDevices(trx, workspaceId, devices, now);

    let added = 0;
    const ids = distinct.map((s) => s.row.id);
    for (const listId of wanted) added += await addMembers(trx, workspaceId, listId, ids, now);
    return ok({ contacts: slots.map((s) => s.row), created: fresh.length, updated: distinct.length - fresh.length, added });
  });
}

export async function getContact(db: Kysely<Database>, workspaceId: string, id: number): Promise<ContactRow | undefined> {
  return db.selectFrom('contacts').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

export interface ContactSearch {
  readonly limit: number;
  readonly cursor?: string | undefined;
  /** Substring of the email or name, or the start of the phone number (case-insensitive). */
  readonly q?: string | undefined;
  readonly email?: string | undefined;
  readonly phone?: string | undefined;
  readonly externalId?: string | undefined;
  readonly tag?: string | undefined;
  readonly listId?: string | undefined;
}

/** One page of a workspace's contacts in id order, narrowed by every filter given. */
export async function listContacts(
  db: Kysely<Database>,
  workspaceId: string,
  args: ContactSearch,
): Promise<Page<ContactRow> | 'bad_cursor'> {
  let query = db.selectFrom('contacts as c').selectAll('c').where('c.workspace_id', '=', workspaceId);
  if (args.q) {
    const escaped = args.q.toLowerCase().replace(/[%_\\]/g, '\\$&');
    const pattern = `%${escaped}%`;
    const name = sql`lower(coalesce(c.first_name, '') || ' ' || coalesce(c.last_name, ''))`;
    // A phone search ignores the formatting people type ("+1 555" finds +1555…).
    const digits = args.q.replace(/[\s().-]/g, '');
    query = query.where(
      sql<boolean>`(lower(c.email) like ${pattern} escape '\\' or ${name} like ${pattern} escape '\\'
        or c.phone like ${`${digits.replace(/[%_\\]/g, '\\$&')}%`} escape '\\')`,
    );
  }
  if (args.email) query = query.where('c.email', '=', emailKey(args.email));
  if (args.phone) query = query.where('c.phone', '=', args.phone.replace(/[\s().-]/g, ''));
  if (args.externalId) query = query.where('c.external_id', '=', args.externalId);
  if (args.tag) query = query.where(jsonArrayHas(db, sql.ref('c.tags'), args.tag));
  if (args.listId) {
    const listId = args.listId;
    query = query.where((eb) =>
      eb.exists(
        eb.selectFrom('list_members as m').select('m.contact_id').where('m.list_id', '=', listId).whereRef('m.contact_id', '=', 'c.id'),
      ),
    );
  }
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.id !== 'number') return 'bad_cursor';
    query = query.where('c.id', '>', cursor.id);
  }
  const rows = await query
    .orderBy('c.id')
    .limit(args.limit + 1)
    .execute();
  return pageOfRows(rows, args.limit, (last) => ({ value: null, id: last.id }));
}

/**
 * Applies a PATCH: given fields replace the stored ones (null clears; tags are replaced),
 * attributes merge as a JSON merge patch and must fit their declared types. Fails
 * NOT_FOUND, or CONFLICT when the email or external id belongs to another contact.
 */
export async function updateContact(
  db: Kysely<Database>,
  workspaceId: string,
  id: number,
  patch: ContactPatch,
  now: Date,
): Promise<Result<ContactRow>> {
  return db.transaction().execute(async (trx) => {
    const found = await trx
      .selectFrom('contacts')
      .select('id')
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .executeTakeFirst();
    if (!found) return fail('NOT_FOUND', `No contact ${id} in this workspace.`);
    const email = patch.email === undefined ? undefined : emailKey(patch.email);
    const externalId = patch.externalId === undefined ? undefined : textKey(patch.externalId);
    for (const [field, column, value] of [
      ['email', 'email', email],
      ['externalId', 'external_id', externalId],
    ] as const) {
      if (!value) continue;
      const other = await trx
        .selectFrom('contacts')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where(column, '=', value)
        .where('id', '!=', id)
        .executeTakeFirst();
      if (other) return fail('CONFLICT', `Contact ${other.id} already has the ${field} ${value}.`, { contactId: other.id, field });
    }
    const issues = await declareAttributes(trx, workspaceId, [patch.attributes], now);
    if (issues.length > 0) return fail('VALIDATION_FAILED', `${issues[0]!.field} ${issues[0]!.reason}`, { issues });
    const row = await trx
      .updateTable('contacts')
      .set({
        email,
        phone: patch.phone,
        first_name: patch.firstName,
        last_name: patch.lastName,
        time_zone: patch.timeZone,
        external_id: externalId,
        telegram_chat_id: patch.telegramChatId === undefined ? undefined : textKey(patch.telegramChatId),
        viber_id: patch.viberId,
        tags: patch.tags === undefined ? undefined : JSON.stringify(normaliseTags(patch.tags ?? [])),
        attributes: patch.attributes ? jsonMerge(db, sql.ref('attributes'), sql`${JSON.stringify(patch.attributes)}`) : undefined,
        updated_at: now.toISOString(),
      })
      .where('workspace_id', '=', workspaceId)
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row ? ok(row) : fail('NOT_FOUND', `No contact ${id} in this workspace.`);
  });
}

/**
 * Adds and removes tags on many contacts: one read and one write per 500 contacts, only
 * of contacts whose tags change. A tag both added and removed ends up removed.
 */
export async function retagContacts(
  db: Kysely<Database>,
  workspaceId: string,
  contactIds: readonly number[],
  change: { readonly add?: readonly string[] | undefined; readonly remove?: readonly string[] | undefined },
  now: Date,
): Promise<{ changed: number }> {
  const add = normaliseTags(change.add ?? []);
  const remove = new Set(normaliseTags(change.remove ?? []));
  const ids = [...new Set(contactIds)];
  let changed = 0;
  await db.transaction().execute(async (trx) => {
    for (let i = 0; i < ids.length; i += chunkSize) {
      let query = trx
        .selectFrom('contacts')
        .select(['id', 'tags'])
        .where('workspace_id', '=', workspaceId)
        .where(inList(sql.ref('id'), ids.slice(i, i + chunkSize)));
      if (dialectOf(db) === 'postgres') query = query.forUpdate();
      const updates: { id: number; tags: string }[] = [];
      for (const row of await query.execute()) {
        const tags = normaliseTags([...(JSON.parse(row.tags) as string[]), ...add]).filter((t) => !remove.has(t));
        const text = JSON.stringify(tags);
        if (text !== row.tags) updates.push({ id: row.id, tags: text });
      }
      if (updates.length === 0) continue;
      const cast = (id: number) => (dialectOf(db) === 'postgres' ? sql`cast(${id} as bigint)` : sql`${id}`);
      await sql`
        with v (id, tags) as (values ${sql.join(updates.map((u) => sql`(${cast(u.id)}, ${u.tags})`))})
        update contacts set tags = v.tags, updated_at = ${now.toISOString()}
        from v where contacts.id = v.id and contacts.workspace_id = ${workspaceId}
      `.execute(trx);
      changed += updates.length;
    }
  });
  return { changed };
}

/** Deletes a contact, its list memberships and devices; false when there was none. Sent messages keep their address. */
export async function deleteContact(db: Kysely<Database>, workspaceId: string, id: number): Promise<boolean> {
  const result = await db.deleteFrom('contacts').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
