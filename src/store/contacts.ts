import { type Kysely, sql } from 'kysely';
import { type Result, fail, ok } from '../domain/errors.js';
import type { Contact, ContactFields, ContactPatch } from '../domain/resources.js';
import { inList, jsonMerge } from './dialect.js';
import { addMembers } from './lists.js';
import { type Page, decodeCursor, encodeCursor } from './pagination.js';
import type { ContactRow, Database } from './schema.js';

/**
 * Rows per INSERT. 500 rows × 9 columns = 4,500 bound parameters, well under SQLite's
 * 32,766, and a chunk writes in a few milliseconds so readers are never kept waiting long.
 */
const chunkSize = 500;

export interface ContactUpsert {
  /** contacts[i] is the stored contact of inputs[i] (repeated emails share one row). */
  readonly contacts: ContactRow[];
  readonly created: number;
  readonly updated: number;
  /** List memberships added (a contact already in a list is not counted). */
  readonly added: number;
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
    attributes: JSON.parse(row.attributes) as Record<string, unknown>,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Emails are matched case-insensitively: they are stored trimmed and lower-cased. */
export function normaliseEmail(email: string | null | undefined): string | null {
  const e = email?.trim().toLowerCase();
  return e ? e : null;
}

/** Later inputs for one email override earlier ones field by field, as if upserted one after another. */
function mergeByEmail(inputs: readonly ContactFields[]): ContactFields[] {
  const byEmail = new Map<string, ContactFields>();
  const out: ContactFields[] = [];
  for (const input of inputs) {
    const email = normaliseEmail(input.email);
    if (email === null) {
      out.push({ ...input, email: null });
      continue;
    }
    const seen = byEmail.get(email);
    const defined = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined && v !== null));
    if (!seen) {
      const first = { ...defined, email };
      byEmail.set(email, first);
      out.push(first);
    } else {
      Object.assign(seen, defined, { email, attributes: { ...seen.attributes, ...input.attributes } });
    }
  }
  return out;
}

const withoutNulls = (attributes: Record<string, unknown> | undefined) =>
  JSON.stringify(Object.fromEntries(Object.entries(attributes ?? {}).filter(([, v]) => v !== null)));

/**
 * Creates or updates contacts by (workspace, email), all in one transaction, and adds
 * them to `listIds`, which are checked first: an unknown or deleted list changes nothing.
 * On update an absent or null field keeps its stored value and attributes merge as a
 * JSON merge patch (a null value removes the key). Contacts without email are new rows.
 */
export async function upsertContacts(
  db: Kysely<Database>,
  workspaceId: string,
  inputs: readonly ContactFields[],
  now: Date,
  listIds: readonly string[] = [],
): Promise<Result<ContactUpsert>> {
  const at = now.toISOString();
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

    const unique = mergeByEmail(inputs);
    const byEmail = new Map<string, ContactRow>();
    const anonymous: ContactRow[] = [];
    let created = 0;
    for (let i = 0; i < unique.length; i += chunkSize) {
      const chunk = unique.slice(i, i + chunkSize);
      const emails = chunk.map((c) => c.email).filter((e): e is string => typeof e === 'string');
      // Which emails exist decides created vs updated, and whether null attributes are kept
      // (as deletions in the merge patch) or dropped (nothing to delete in a new row).
      const existing = new Set(
        emails.length === 0
          ? []
          : (
              await trx
                .selectFrom('contacts')
                .select('email')
                .where('workspace_id', '=', workspaceId)
                .where(inList(sql.ref('email'), emails))
                .execute()
            ).map((r) => r.email),
      );
      created += chunk.length - existing.size;
      const rows = await trx
        .insertInto('contacts')
        .values(
          chunk.map((c) => ({
            workspace_id: workspaceId,
            email: c.email ?? null,
            phone: c.phone ?? null,
            first_name: c.firstName ?? null,
            last_name: c.lastName ?? null,
            time_zone: c.timeZone ?? null,
            attributes: existing.has(c.email ?? null) ? JSON.stringify(c.attributes ?? {}) : withoutNulls(c.attributes),
            created_at: at,
            updated_at: at,
          })),
        )
        .onConflict((oc) =>
          oc.columns(['workspace_id', 'email']).doUpdateSet((eb) => ({
            phone: eb.fn.coalesce('excluded.phone', 'contacts.phone'),
            first_name: eb.fn.coalesce('excluded.first_name', 'contacts.first_name'),
            last_name: eb.fn.coalesce('excluded.last_name', 'contacts.last_name'),
            time_zone: eb.fn.coalesce('excluded.time_zone', 'contacts.time_zone'),
            attributes: jsonMerge(db, sql.ref('contacts.attributes'), sql.ref('excluded.attributes')),
            updated_at: eb.ref('excluded.updated_at'),
          })),
        )
        .returningAll()
        .execute();
      for (const row of rows) {
        if (row.email === null) anonymous.push(row);
        else byEmail.set(row.email, row);
      }
    }

    // Rows without email are plain inserts, so their ids ascend in input order.
    anonymous.sort((a, b) => a.id - b.id);
    let next = 0;
    const contacts = inputs.map((input) => {
      const email = normaliseEmail(input.email);
      return email === null ? anonymous[next++]! : byEmail.get(email)!;
    });

    let added = 0;
    const ids = [...new Set(contacts.map((c) => c.id))];
    for (const listId of wanted) added += await addMembers(trx, workspaceId, listId, ids, now);
    return ok({ contacts, created, updated: unique.length - created, added });
  });
}

export async function getContact(db: Kysely<Database>, workspaceId: string, id: number): Promise<ContactRow | undefined> {
  return db.selectFrom('contacts').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/** One page of a workspace's contacts in id order; `q` matches email or name (case-insensitive substring). */
export async function listContacts(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined; q?: string | undefined },
): Promise<Page<ContactRow> | 'bad_cursor'> {
  let query = db.selectFrom('contacts').selectAll().where('workspace_id', '=', workspaceId);
  if (args.q) {
    const pattern = `%${args.q.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`;
    const name = sql`lower(coalesce(first_name, '') || ' ' || coalesce(last_name, ''))`;
    query = query.where(sql<boolean>`(lower(email) like ${pattern} escape '\\' or ${name} like ${pattern} escape '\\')`);
  }
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.id !== 'number') return 'bad_cursor';
    query = query.where('id', '>', cursor.id);
  }
  const rows = await query
    .orderBy('id')
    .limit(args.limit + 1)
    .execute();
  const data = rows.slice(0, args.limit);
  const last = data.at(-1);
  return { data, nextCursor: rows.length > args.limit && last ? encodeCursor({ value: null, id: last.id }) : null };
}

/**
 * Applies a PATCH: given fields replace the stored ones (null clears), attributes merge
 * as a JSON merge patch. Fails NOT_FOUND, or CONFLICT when the email belongs to another contact.
 */
export async function updateContact(
  db: Kysely<Database>,
  workspaceId: string,
  id: number,
  patch: ContactPatch,
  now: Date,
): Promise<Result<ContactRow>> {
  return db.transaction().execute(async (trx) => {
    const email = patch.email === undefined ? undefined : normaliseEmail(patch.email);
    if (email) {
      const other = await trx
        .selectFrom('contacts')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('email', '=', email)
        .where('id', '!=', id)
        .executeTakeFirst();
      if (other) return fail('CONFLICT', `Contact ${other.id} already has the email ${email}.`, { contactId: other.id });
    }
    const row = await trx
      .updateTable('contacts')
      .set({
        email,
        phone: patch.phone,
        first_name: patch.firstName,
        last_name: patch.lastName,
        time_zone: patch.timeZone,
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

/** Deletes a contact and its list memberships; false when there was none. Sent messages keep their address. */
export async function deleteContact(db: Kysely<Database>, workspaceId: string, id: number): Promise<boolean> {
  const result = await db.deleteFrom('contacts').where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
