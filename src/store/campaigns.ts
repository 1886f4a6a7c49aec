import { type Kysely, sql } from 'kysely';
import type { Database, CampaignRow, CampaignUpdate, NewCampaignRow, CampaignEventRow } from './schema.js';
import { jsonArrayHas } from './dialect.js';
import { type Page, decodeCursor, encodeCursor } from './pagination.js';

export interface CampaignFilter {
  readonly status?: string;
  readonly channel?: string;
  readonly tag?: string;
  readonly archived: boolean;
  /** Matches the name (case-insensitive substring) or the exact id. */
  readonly q?: string;
  readonly sort: 'created' | 'name' | 'launch_type' | 'send_at';
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly cursor?: string;
}

const sortColumn = {
  created: 'created_at',
  name: 'name',
  launch_type: 'launch_type',
  send_at: 'send_at',
} as const;

export async function insertCampaign(db: Kysely<Database>, row: NewCampaignRow): Promise<void> {
  await db.insertInto('campaigns').values(row).execute();
}

export async function getCampaign(db: Kysely<Database>, workspaceId: string, id: string): Promise<CampaignRow | undefined> {
  return db.selectFrom('campaigns').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id).executeTakeFirst();
}

/**
 * One page of a workspace's campaigns, filtered and sorted (DESIGN §6), by keyset:
 * the cursor holds the last row's sort value and id, so a page costs the same at any depth.
 */
export async function listCampaigns(
  db: Kysely<Database>,
  workspaceId: string,
  filter: CampaignFilter,
): Promise<Page<CampaignRow> | 'bad_cursor'> {
  const column = sortColumn[filter.sort];
  const cmp = filter.order === 'asc' ? '>' : '<';
  let query = db
    .selectFrom('campaigns')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('archived', '=', filter.archived ? 1 : 0);
  if (filter.status) query = query.where('status', '=', filter.status);
  if (filter.channel) query = query.where('channel', '=', filter.channel);
  if (filter.tag) query = query.where(jsonArrayHas(db, sql.ref('campaigns.tags'), filter.tag));
  if (filter.q) {
    const q = filter.q;
    const pattern = `%${q.toLowerCase().replace(/[%_\\]/g, '\\$&')}%`;
    query = query.where((eb) => eb.or([eb('id', '=', q), sql<boolean>`lower(name) like ${pattern} escape '\\'`]));
  }
  if (filter.cursor) {
    const cursor = decodeCursor(filter.cursor);
    if (!cursor) return 'bad_cursor';
    // Nulls sort first in SQLite; coalesce keeps the keyset comparison total.
    const key = sql`(coalesce(${sql.ref(column)}, ''), id)`;
    query = query.where(sql<boolean>`${key} ${sql.raw(cmp)} (coalesce(${cursor.value}, ''), ${cursor.id})`);
  }
  const rows = await query
    .orderBy(sql`coalesce(${sql.ref(column)}, '')`, filter.order)
    .orderBy('id', filter.order)
    .limit(filter.limit + 1)
    .execute();
  const more = rows.length > filter.limit;
  const data = more ? rows.slice(0, filter.limit) : rows;
  const last = data.at(-1);
  return {
    data,
    nextCursor: more && last ? encodeCursor({ value: (last[column] as string | null) ?? null, id: last.id }) : null,
  };
}

/**
 * Updates a campaign only if it is still at the version the caller read (optimistic
 * concurrency, STYLE habit 1). Returns false on a stale version: the caller answers 409.
 */
export async function updateCampaignGuarded(
  db: Kysely<Database>,
  args: { workspaceId: string; id: string; version: number; expectedStatus?: string; patch: CampaignUpdate },
): Promise<boolean> {
  let query = db
    .updateTable('campaigns')
    .set({ ...args.patch, version: args.version + 1 })
    .where('workspace_id', '=', args.workspaceId)
    .where('id', '=', args.id)
    .where('version', '=', args.version);
  if (args.expectedStatus) query = query.where('status', '=', args.expectedStatus);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export interface NewEvent {
  readonly workspaceId: string;
  readonly campaignId: string;
  readonly at: Date;
  readonly actor: string;
  readonly action: string;
  readonly from: string | null;
  readonly to: string;
  readonly reason?: string | null;
  readonly data?: Record<string, unknown> | null;
}

/** Appends to the campaign's audit trail; call it in the transaction that changed the status. */
export async function insertEvent(db: Kysely<Database>, e: NewEvent): Promise<void> {
  await db
    .insertInto('campaign_events')
    .values({
      workspace_id: e.workspaceId,
      campaign_id: e.campaignId,
      at: e.at.toISOString(),
      actor: e.actor,
      action: e.action,
      from_status: e.from,
      to_status: e.to,
      reason: e.reason ?? null,
      data: e.data ? JSON.stringify(e.data) : null,
    })
    .execute();
}

export async function listEvents(
  db: Kysely<Database>,
  workspaceId: string,
  campaignId: string,
  limit: number,
  afterId?: number,
): Promise<CampaignEventRow[]> {
  let query = db.selectFrom('campaign_events').selectAll().where('workspace_id', '=', workspaceId).where('campaign_id', '=', campaignId);
  if (afterId !== undefined) query = query.where('id', '>', afterId);
  return query.orderBy('id').limit(limit).execute();
}

export async function deleteCampaign(db: Kysely<Database>, workspaceId: string, id: string): Promise<void> {
  await db.deleteFrom('campaigns').where('workspace_id', '=', workspaceId).where('id', '=', id).execute();
}
