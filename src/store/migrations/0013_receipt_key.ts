import { type Kysely, sql } from 'kysely';

/**
 * Receipts that name a message only by the provider's id (Viber's message token; Telegram's
 * message id in its sandbox listing) find it by `messages.receipt_key`, which only those
 * adapters fill (`receiptsByProviderId`). It replaces 0007's index on `provider_id`, which
 * every send paid for: each message wrote its provider's random id into a B-tree (about
 * 26 µs of CPU a message and a few hundred dirty pages a batch of 500, docs/benchmarks.md)
 * though email and Twilio receipts carry Herald's own ledger key and never used it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('receipt_key', 'text').execute();
  await sql`
    update messages set receipt_key = provider_id
    where provider_id is not null
      and (channel in ('viber', 'telegram') or run_id in (select id from runs where channel in ('viber', 'telegram')))
  `.execute(db);
  await sql`create index messages_receipt_key on messages (receipt_key) where receipt_key is not null`.execute(db);
  await sql`drop index messages_provider`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`create index messages_provider on messages (provider_id) where provider_id is not null`.execute(db);
  await sql`drop index messages_receipt_key`.execute(db);
  await db.schema.alterTable('messages').dropColumn('receipt_key').execute();
}
