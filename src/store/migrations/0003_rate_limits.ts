import type { Kysely } from 'kysely';

/**
 * Rate limiter state per workspace and key (`sender:<id>`, `provider:smtp`), so limits and
 * a provider's Retry-After pause survive a restart (DESIGN §8). `state` is the JSON of
 * domain/pacing.ts's PacingState: the recent grants of each window, at most a few KB.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('rate_limits')
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('key', 'text', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('rate_limits_pk', ['workspace_id', 'key'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('rate_limits').ifExists().execute();
}
