import type { Kysely } from 'kysely';

/**
 * Email content (issue 5): a template written in MJML keeps its source in `mjml`, and the
 * HTML it compiles to (Liquid left in place) in `html`, compiled once when it is saved; and
 * each email template says whether its messages carry the open pixel and tracked links.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('templates').addColumn('mjml', 'text').execute();
  await db.schema
    .alterTable('templates')
    .addColumn('track_opens', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await db.schema
    .alterTable('templates')
    .addColumn('track_clicks', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('templates').dropColumn('track_clicks').execute();
  await db.schema.alterTable('templates').dropColumn('track_opens').execute();
  await db.schema.alterTable('templates').dropColumn('mjml').execute();
}
