import type { Kysely } from 'kysely';

/**
 * The API event that let a contact into an automation (`POST /v1/events`), kept on the
 * message it queued as JSON `{ name, properties }`, so its template can read
 * `{{ event.properties.total }}` when the message goes out (null: no event).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').addColumn('event', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('messages').dropColumn('event').execute();
}
