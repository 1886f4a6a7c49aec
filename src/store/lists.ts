import { type Kysely, sql } from 'kysely';
import type { List, ListInput, ListPatch } from '../domain/resources.js';
import { inList } from './dialect.js';
import { newId } from './ids.js';
import { type Page, decodeCursor, pageByCreation, pageOfRows, softDelete } from './pagination.js';
import type { ContactRow, Database, ListRow } from './schema.js';

export type ListWithCount = ListRow & { member_count: number };

/** The API shape of a stored list. */
export function listOf(row: ListWithCount): List {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    memberCount: Number(row.member_count),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Live lists with their member counts. The count walks the (list_id, contact_id) primary
 * key, so it reads the index only; a page of lists costs one index range per list.
 */
function liveLists(db: Kysely<Database>, workspaceId: string) {
  return db
    .selectFrom('lists')
    .selectAll('lists')
    .select(sql<number>`(select count(*) from list_members m where m.list_id = lists.id)`.as('member_count'))
    .where('workspace_id', '=', workspaceId)
    .where('deleted_at', 'is', null);
}

export async function createList(db: Kysely<Database>, workspaceId: string, input: ListInput, now: Date): Promise<ListWithCount> {
  const at = now.toISOString();
  const row: ListRow = {
    id: newId('lst', now.getTime()),
    workspace_id: workspaceId,
    name: input.name,
    description: input.description ?? null,
    deleted_at: null,
    created_at: at,
    updated_at: at,
  };
  await db.insertInto('lists').values(row).execute();
  return { ...row, member_count: 0 };
}

/** A live list of the workspace with its member count; soft-deleted lists are not found. */
export async function getList(db: Kysely<Database>, workspaceId: string, id: string): Promise<ListWithCount | undefined> {
  return liveLists(db, workspaceId).where('id', '=', id).executeTakeFirst();
}

/** One page of a workspace's live lists, oldest first, keyset by (created_at, id). */
export async function listLists(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<ListWithCount> | 'bad_cursor'> {
  return pageByCreation(liveLists(db, workspaceId), args);
}

/** Renames or re-describes a live list; undefined when there is none. */
export async function updateList(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  patch: ListPatch,
  now: Date,
): Promise<ListWithCount | undefined> {
  const result = await db
    .updateTable('lists')
    .set({ name: patch.name, description: patch.description, updated_at: now.toISOString() })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(result.numUpdatedRows) === 1 ? getList(db, workspaceId, id) : undefined;
}

/**
 * Marks a list deleted; false when there was no live list. Memberships stay, so the
 * history of campaigns sent to it still resolves; preflight refuses deleted lists.
 */
export async function softDeleteList(db: Kysely<Database>, workspaceId: string, id: string, now: Date): Promise<boolean> {
  return softDelete(db, 'lists', workspaceId, id, now);
}

/**
 * Adds contacts to a live list with one `INSERT … SELECT` over the ids as a JSON array.
 * The join takes only contacts of the list's own workspace, so a foreign or unknown id is
 * skipped, and ON CONFLICT skips existing members. Returns how many were added.
 */
export async function addMembers(
  db: Kysely<Database>,
  workspaceId: string,
  listId: string,
  contactIds: readonly number[],
  now: Date,
): Promise<number> {
  if (contactIds.length === 0) return 0;
  const result = await sql`
    insert into list_members (workspace_id, list_id, contact_id, added_at)
    select l.workspace_id, l.id, c.id, cast(${now.toISOString()} as text)
    from lists l
    join contacts c on c.workspace_id = l.workspace_id
    where l.id = ${listId} and l.workspace_id = ${workspaceId} and l.deleted_at is null
      and ${inList(sql.ref('c.id'), contactIds)}
    on conflict (list_id, contact_id) do nothing
  `.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

/** Removes contacts from a list; returns how many were members. */
export async function removeMembers(
  db: Kysely<Database>,
  workspaceId: string,
  listId: string,
  contactIds: readonly number[],
): Promise<number> {
  const result = await db
    .deleteFrom('list_members')
    .where('workspace_id', '=', workspaceId)
    .where('list_id', '=', listId)
    .where(inList(sql.ref('contact_id'), contactIds))
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** One page of a list's members in contact id order. */
export async function listMembers(
  db: Kysely<Database>,
  workspaceId: string,
  listId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<ContactRow> | 'bad_cursor'> {
  let query = db
    .selectFrom('list_members as m')
    .innerJoin('contacts as c', 'c.id', 'm.contact_id')
    .selectAll('c')
    .where('m.workspace_id', '=', workspaceId)
    .where('m.list_id', '=', listId);
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.id !== 'number') return 'bad_cursor';
    query = query.where('m.contact_id', '>', cursor.id);
  }
  const rows = await query
    .orderBy('m.contact_id')
    .limit(args.limit + 1)
    .execute();
  return pageOfRows(rows, args.limit, (last) => ({ value: null, id: last.id }));
}

/** How many contacts a list holds. */
export async function countMembers(db: Kysely<Database>, workspaceId: string, listId: string): Promise<number> {
  const row = await db
    .selectFrom('list_members')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('list_id', '=', listId)
    // Scoped through the list, so the count stays on the primary-key index.
    .where((eb) => eb.exists(eb.selectFrom('lists').select('id').where('id', '=', listId).where('workspace_id', '=', workspaceId)))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
