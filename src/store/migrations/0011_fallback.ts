import type { Kysely } from 'kysely';

/**
 * Per-recipient channel fallback (DESIGN §8, issue 5 item 7): a campaign's fallback channels
 * in order, as JSON `[{ channel, templateId, senderId }]` (null: none); and on each message the
 * channel it goes out on when that is not the run's own (null: the run's channel, so a
 * campaign without fallbacks writes nothing new), and the trail of the channels it failed on
 * before (kept when a later channel delivers, where error_detail is cleared).
 *
 * Numbered 0011: 0008 belongs to another branch and 0010 landed first.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('campaigns').addColumn('fallback', 'text').execute();
  await db.schema.alterTable('messages').addColumn('channel', 'text').execute();
  await db.schema.alterTable('messages').addColumn('fallback_trail', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('fallback_trail').execute();
  await db.schema.alterTable('messages').dropColumn('channel').execute();
  await db.schema.alterTable('campaigns').dropColumn('fallback').execute();
}
