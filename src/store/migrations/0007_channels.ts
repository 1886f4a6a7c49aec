import type { Kysely } from 'kysely';

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
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('run_counters').dropColumn('read').execute();
  await db.schema.alterTable('senders').dropColumn('credentials').execute();
  await db.schema.alterTable('senders').dropColumn('avatar_url').execute();
  await db.schema.alterTable('senders').dropColumn('address').execute();
  await db.schema.alterTable('templates').dropColumn('content').execute();
}
