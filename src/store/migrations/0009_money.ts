import { type Kysely, sql } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * Money (DESIGN §5, docs/money.md): a workspace's balance, currency and per-channel prices,
 * in integer micro-units (millionths of the currency unit); each message's cost, reserved
 * before it goes to the provider and kept once it went (0 while pending or when it did not
 * go out); and the balance ledger, one row per top-up and per batch debit or refund, so the
 * balance can be explained line by line.
 *
 * The CHECK is the last guard of "a send never overdraws": the reservation statement
 * already asks for `balance >= cost`, and the database refuses anything that slips past.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = dialectOf(db) === 'postgres';
  const big = pg ? 'bigint' : 'integer';
  await db.schema
    .alterTable('workspaces')
    .addColumn('balance', big, (c) =>
      c
        .notNull()
        .defaultTo(0)
        .check(sql`balance >= 0`),
    )
    .execute();
  await db.schema
    .alterTable('workspaces')
    .addColumn('currency', 'text', (c) => c.notNull().defaultTo('USD'))
    .execute();
  // JSON { channel: micro-units per unit }; a channel left out is free and never metered.
  await db.schema
    .alterTable('workspaces')
    .addColumn('prices', 'text', (c) => c.notNull().defaultTo('{}'))
    .execute();
  // A constant default: O(1) on PostgreSQL 11+ and SQLite, even on a million-row ledger.
  await db.schema
    .alterTable('messages')
    .addColumn('cost', big, (c) => c.notNull().defaultTo(0))
    .execute();
  await db.schema
    .createTable('balance_entries')
    .addColumn('id', pg ? 'bigserial' : 'integer', (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('workspace_id', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('amount', big, (c) => c.notNull())
    .addColumn('balance_after', big, (c) => c.notNull())
    .addColumn('campaign_id', 'text')
    .addColumn('run_id', big)
    .addColumn('messages', 'integer')
    .addColumn('note', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('balance_entries_workspace').on('balance_entries').columns(['workspace_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('balance_entries').ifExists().execute();
  await db.schema.alterTable('messages').dropColumn('cost').execute();
  await db.schema.alterTable('workspaces').dropColumn('prices').execute();
  await db.schema.alterTable('workspaces').dropColumn('currency').execute();
  await db.schema.alterTable('workspaces').dropColumn('balance').execute();
}
