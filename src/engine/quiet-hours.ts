import type { Delivery } from '../domain/schedule.js';
import { outsideQuietHours } from '../domain/schedule.js';
import { effectiveZone } from '../domain/segment.js';
import type { Db } from '../store/database.js';
import { deferClaimed } from '../store/ledger/defer-claimed.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import type { CampaignRow } from '../store/schema.js';

/**
 * Quiet hours, checked again at claim time (issue 6): the snapshot set each message's
 * first due time outside them, but a message may wait longer (a pause, a retry's backoff,
 * a rate limit) and come up inside them. Those go back to `pending` until the quiet hours
 * end in the recipient's zone (theirs, else the workspace's); the rest are returned to send.
 */
export async function holdQuietHours(
  db: Db,
  args: { campaign: CampaignRow; runId: number; owner: string; messages: readonly ClaimedMessage[]; now: Date },
): Promise<ClaimedMessage[]> {
  const quiet = args.campaign.delivery ? (JSON.parse(args.campaign.delivery) as Delivery | null)?.quietHours : undefined;
  if (!quiet || args.messages.length === 0) return [...args.messages];
  const ws = await db.selectFrom('workspaces').select('time_zone').where('id', '=', args.campaign.workspace_id).executeTakeFirst();
  const workspaceZone = ws?.time_zone ?? 'UTC';
  const later = new Map<number, number[]>();
  const ready: ClaimedMessage[] = [];
  for (const m of args.messages) {
    const at = outsideQuietHours(args.now, quiet, effectiveZone(m.contact?.timeZone, workspaceZone)).getTime();
    if (at === args.now.getTime()) ready.push(m);
    else later.set(at, [...(later.get(at) ?? []), m.id]);
  }
  await deferClaimed(db, { runId: args.runId, owner: args.owner, until: later, now: args.now });
  return ready;
}
