import type { Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Time (issue 6). A campaign's recurrence (cron rule, zone, end), delivery rules (each
 * recipient's local send time, quiet hours) and automation trigger, all JSON. A run's `occurrence_at` is the
 * scheduled instant it was started for; unique per campaign, so an occurrence is never
 * run twice, whichever worker fires it and however often the process restarts. Runs
 * started by hand (launch, retry, send now) carry the instant they were started; an
 * automation's runs carry their period (a contact's local year, an event's day).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const big = dialectOf(db) === 'postgres' ? 'bigint' : 'integer';
  await db.schema.alterTable('campaigns').addColumn('recurrence', 'text').execute();
  await db.schema.alterTable('campaigns').addColumn('delivery', 'text').execute();
  // JSON of an automation's Trigger (date anniversary, date offset, event).
  await db.schema.alterTable('campaigns').addColumn('trigger', 'text').execute();
  // Date triggers select the contacts of the zones where it is the chosen hour: read those zones only.
  await db.schema.createIndex('contacts_workspace_zone').on('contacts').columns(['workspace_id', 'time_zone']).execute();
  await db.schema.alterTable('runs').addColumn('occurrence_at', 'text').execute();
  await db.schema.createIndex('runs_campaign_occurrence').on('runs').columns(['campaign_id', 'occurrence_at']).unique().execute();
  // Segment-entry automations: who is in the segment as of the last evaluation (entering = in now, not here),
  // and when the membership was last taken, so the first evaluation after a publish only takes it.
  await db.schema
    .createTable('automation_members')
    .addColumn('campaign_id', 'text', (c) => c.notNull().references('campaigns.id').onDelete('cascade'))
    .addColumn('contact_id', big, (c) => c.notNull())
    .addColumn('entered_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('automation_members_pk', ['campaign_id', 'contact_id'])
    .execute();
  await db.schema
    .createTable('automation_state')
    .addColumn('campaign_id', 'text', (c) => c.primaryKey().references('campaigns.id').onDelete('cascade'))
    .addColumn('evaluated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('automation_state').ifExists().execute();
  await db.schema.dropTable('automation_members').ifExists().execute();
  await db.schema.dropIndex('runs_campaign_occurrence').ifExists().execute();
  await db.schema.dropIndex('contacts_workspace_zone').ifExists().execute();
  await db.schema.alterTable('campaigns').dropColumn('trigger').execute();
  await db.schema.alterTable('runs').dropColumn('occurrence_at').execute();
  await db.schema.alterTable('campaigns').dropColumn('delivery').execute();
  await db.schema.alterTable('campaigns').dropColumn('recurrence').execute();
}
