import type { Kysely } from 'kysely';

/** A sender's own rate limit and warm-up ramp (JSON of domain/pacing.ts's RateRule), or null. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('senders').addColumn('rate_limit', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('senders').dropColumn('rate_limit').execute();
}
