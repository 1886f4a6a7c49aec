import type { Kysely } from 'kysely';
import type { ContactMessage } from '../domain/resources.js';
import { type Page, decodeCursor, pageOfRows } from './pagination.js';
import type { Database } from './schema.js';

/**
 * A contact's message history: its ledger rows across every run of the workspace, newest
 * run first. The walk goes run by run and looks each run's message up on the unique
 * (run_id, contact_id) index, so it needs no index of its own on the hot ledger, keeps
 * run_id in the predicate (DESIGN §4: Citus shards the ledger by run), and since a run
 * holds at most one message per contact, the run id alone is the page cursor.
 */
export async function contactMessages(
  db: Kysely<Database>,
  workspaceId: string,
  contactId: number,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<ContactMessage> | 'bad_cursor'> {
  let query = db
    .selectFrom('runs as r')
    .innerJoin('messages as m', (join) => join.onRef('m.run_id', '=', 'r.id').on('m.contact_id', '=', contactId))
    .innerJoin('campaigns as c', 'c.id', 'r.campaign_id')
    .select([
      'm.id',
      'r.id as run_id',
      'r.number',
      'r.channel',
      'r.created_at',
      'c.id as campaign_id',
      'c.name',
      'm.state',
      'm.address',
      'm.attempts',
      'm.error_code',
      'm.error_detail',
      'm.sent_at',
      'm.updated_at',
    ])
    .where('r.workspace_id', '=', workspaceId)
    .where('m.workspace_id', '=', workspaceId);
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.id !== 'number') return 'bad_cursor';
    query = query.where('r.id', '<', cursor.id);
  }
  const rows = await query
    .orderBy('r.id', 'desc')
    .limit(args.limit + 1)
    .execute();
  const page = pageOfRows(rows, args.limit, (last) => ({ value: null, id: last.run_id }));
  return {
    data: page.data.map((r) => ({
      id: r.id,
      campaignId: r.campaign_id,
      campaignName: r.name,
      runNumber: r.number,
      channel: r.channel,
      state: r.state,
      address: r.address,
      attempts: r.attempts,
      errorCode: r.error_code,
      errorDetail: r.error_detail,
      queuedAt: r.created_at,
      sentAt: r.sent_at,
      updatedAt: r.updated_at,
    })),
    nextCursor: page.nextCursor,
  };
}
