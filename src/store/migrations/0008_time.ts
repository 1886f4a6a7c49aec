import type { Kysely } from 'kysely';

/**
 * Time (issue 6). A campaign's recurrence (cron rule, zone, end) and delivery rules (each
 * recipient's local send time, quiet hours), both JSON. A run's `occurrence_at` is the
 * scheduled instant it was started for; unique per campaign, so an occurrence is never
 * run twice, whichever worker fires it and however often the process restarts. Runs
 * started by hand (launch, retry, send now) carry the instant they were started.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('campaigns').addColumn('recurrence', 'text').execute();
  await db.schema.alterTable('campaigns').addColumn('delivery', 'text').execute();
  await db.schema.alterTable('runs').addColumn('occurrence_at', 'text').execute();
  await db.schema.createIndex('runs_campaign_occurrence').on('runs').columns(['campaign_id', 'occurrence_at']).unique().execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('runs_campaign_occurrence').ifExists().execute();
  await db.schema.alterTable('runs').dropColumn('occurrence_at').execute();
  await db.schema.alterTable('campaigns').dropColumn('delivery').execute();
  await db.schema.alterTable('campaigns').dropColumn('recurrence').execute();
}
