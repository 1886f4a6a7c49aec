import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Every channel of DESIGN §1 (issue 5): a template's per-channel content (SMS text, push
 * title and body, Telegram buttons, …) as JSON beside email's subject/html/text; a
 * sender's address (an SMS number or sender id, a bot's username), avatar and its
 * credentials, encrypted at rest (store/secrets.ts); and the `read` message state that
 * Viber "seen", push opens and WhatsApp-style reads produce.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('templates').addColumn('content', 'text').execute();
  await db.schema.alterTable('senders').addColumn('address', 'text').execute();
  await db.schema.alterTable('senders').addColumn('avatar_url', 'text').execute();
  // AES-256-GCM ciphertext of a JSON object; never selected into an API response.
  await db.schema.alterTable('senders').addColumn('credentials', 'text').execute();
  await db.schema
    .alterTable('run_counters')
    .addColumn('read', 'integer', (c) => c.notNull().defaultTo(0))
    .execute();
  // Receipts that name a message only by the provider's id (Viber's message token) find it here;
  // partial, so messages never handed over (and providers that return no id) cost nothing.
  await sql`create index messages_provider on messages (provider_id) where provider_id is not null`.execute(db);
  // Receipts that overtook the record of their own send (a provider answering within
  // milliseconds names the message by an id Herald has not stored yet): kept and tried again
  // for a day instead of being lost, since not every provider retries a webhook.
  const pg = dialectOf(db) === 'postgres';
  await db.schema
    .createTable('early_receipts')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('workspace_id', 'text')
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('event', 'text', (c) => c.notNull()) // JSON of the ReceiptEvent
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('early_receipts').execute();
  await sql`drop index messages_provider`.execute(db);
  await db.schema.alterTable('run_counters').dropColumn('read').execute();
  await db.schema.alterTable('senders').dropColumn('credentials').execute();
  await db.schema.alterTable('senders').dropColumn('avatar_url').execute();
  await db.schema.alterTable('senders').dropColumn('address').execute();
  await db.schema.alterTable('templates').dropColumn('content').execute();
}
