import type { Kysely } from 'kysely';
import type { ReceiptEvent } from '../../channels/receipts.js';
import type { Channel } from '../../domain/lifecycle.js';
import type { Database } from '../schema.js';
import { applyReceipts } from './apply-receipts.js';

/** How long a receipt for a message Herald cannot find is kept and tried again. */
export const earlyReceiptTtlMs = 24 * 60 * 60 * 1000;

/**
 * Keeps receipts that name their message only by the provider's id when no message has
 * that id yet: a provider that answers a send and posts "delivered" within milliseconds
 * (Viber's sandbox, a fast real one) can overtake the batch's record of the send. They are
 * tried again by retryEarlyReceipts; a receipt with a ledger key needs none of this.
 */
export async function holdEarlyReceipts(
  db: Kysely<Database>,
  args: { workspaceId: string | null; channel: Channel; events: readonly ReceiptEvent[]; now: Date },
): Promise<number> {
  const early = args.events.filter((e) => e.message === null && e.providerId !== null);
  if (early.length === 0) return 0;
  await db
    .insertInto('early_receipts')
    .values(
      early.map((e) => ({
        workspace_id: args.workspaceId,
        channel: args.channel,
        event: JSON.stringify(e),
        received_at: args.now.toISOString(),
      })),
    )
    .execute();
  return early.length;
}

/** Applies kept receipts whose message is now known, and forgets those older than a day; returns how many applied. */
export async function retryEarlyReceipts(db: Kysely<Database>, now: Date, limit = 1000): Promise<number> {
  await db
    .deleteFrom('early_receipts')
    .where('received_at', '<', new Date(now.getTime() - earlyReceiptTtlMs).toISOString())
    .execute();
  const rows = await db.selectFrom('early_receipts').selectAll().orderBy('id').limit(limit).execute();
  if (rows.length === 0) return 0;
  const groups = new Map<string, typeof rows>();
  for (const row of rows) {
    const key = `${row.workspace_id ?? ''}\u0000${row.channel}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  let applied = 0;
  for (const group of groups.values()) {
    const events = group.map((row) => {
      const e = JSON.parse(row.event) as ReceiptEvent & { at: string };
      return { ...e, at: new Date(e.at) };
    });
    const result = await applyReceipts(db, {
      workspaceId: group[0]!.workspace_id,
      channel: group[0]!.channel as Channel,
      events,
      now,
    });
    const stillUnknown = new Set(result.unknownEvents);
    const done = group.filter((_, i) => !stillUnknown.has(events[i]!)).map((row) => row.id);
    if (done.length > 0) await db.deleteFrom('early_receipts').where('id', 'in', done).execute();
    applied += done.length;
  }
  return applied;
}
