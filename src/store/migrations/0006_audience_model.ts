import type { Kysely } from 'kysely';
import { dialectOf } from '../dialect.js';

/**
 * The audience model of DESIGN §4-5: a contact's other channel addresses, an external id
 * and tags; push devices (a contact may have several); typed custom attributes; the
 * workspace's suppression list; CSV imports and the lines they rejected.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  const pg = dialectOf(db) === 'postgres';
  const serial = pg ? 'bigserial' : 'integer';
  const big = pg ? 'bigint' : 'integer';

  await db.schema.alterTable('contacts').addColumn('external_id', 'text').execute();
  await db.schema.alterTable('contacts').addColumn('telegram_chat_id', 'text').execute();
  await db.schema.alterTable('contacts').addColumn('viber_id', 'text').execute();
  // JSON array of strings, kept sorted and unique by the store.
  await db.schema.alterTable('contacts').addColumn('tags', 'text', (c) => c.notNull().defaultTo('[]')).execute();
  await db.schema.createIndex('contacts_workspace_external').on('contacts').columns(['workspace_id', 'external_id']).unique().execute();
  await db.schema.createIndex('contacts_workspace_phone').on('contacts').columns(['workspace_id', 'phone']).execute();

  // Web push subscriptions and mobile push tokens; `status` turns `gone` / `invalid` on a provider's 404/410/UNREGISTERED.
  await db.schema
    .createTable('contact_devices')
    .addColumn('id', serial, (c) => (pg ? c.primaryKey() : c.primaryKey().autoIncrement()))
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('contact_id', big, (c) => c.notNull().references('contacts.id').onDelete('cascade'))
    .addColumn('kind', 'text', (c) => c.notNull()) // 'webpush' | 'mobilepush'
    .addColumn('token', 'text', (c) => c.notNull()) // the push endpoint URL, or the FCM registration token
    .addColumn('keys', 'text') // JSON { p256dh, auth } of a web push subscription
    .addColumn('platform', 'text') // 'android' | 'ios' | 'web' …
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active'))
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('contact_devices_token').on('contact_devices').columns(['workspace_id', 'kind', 'token']).unique().execute();
  await db.schema.createIndex('contact_devices_contact').on('contact_devices').columns(['contact_id']).execute();

  // Declared types of custom attributes: values are validated against them on every write.
  await db.schema
    .createTable('attribute_definitions')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('type', 'text', (c) => c.notNull()) // 'string' | 'number' | 'boolean' | 'date'
    .addColumn('description', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('attribute_definitions_pk', ['workspace_id', 'name'])
    .execute();

  // One row per suppressed address (a lower-cased email or an E.164 phone), per workspace.
  await db.schema
    .createTable('suppressions')
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('address', 'text', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull()) // 'email' | 'phone'
    .addColumn('reason', 'text', (c) => c.notNull()) // 'unsubscribe' | 'hard_bounce' | 'complaint' | 'manual'
    .addColumn('source', 'text') // e.g. the campaign or provider event that caused it
    .addColumn('note', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('suppressions_pk', ['workspace_id', 'address'])
    .execute();
  await db.schema.createIndex('suppressions_workspace_created').on('suppressions').columns(['workspace_id', 'created_at']).execute();

  await db.schema
    .createTable('imports')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('workspace_id', 'text', (c) => c.notNull().references('workspaces.id').onDelete('cascade'))
    .addColumn('list_id', 'text')
    .addColumn('filename', 'text')
    .addColumn('mapping', 'text', (c) => c.notNull().defaultTo('{}')) // JSON: CSV header → field or attribute
    .addColumn('status', 'text', (c) => c.notNull()) // 'running' | 'completed' | 'failed'
    .addColumn('rows_read', big, (c) => c.notNull().defaultTo(0))
    .addColumn('rows_imported', big, (c) => c.notNull().defaultTo(0))
    .addColumn('rows_invalid', big, (c) => c.notNull().defaultTo(0))
    .addColumn('created', big, (c) => c.notNull().defaultTo(0))
    .addColumn('updated', big, (c) => c.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('finished_at', 'text')
    .execute();
  await db.schema.createIndex('imports_workspace').on('imports').columns(['workspace_id', 'created_at']).execute();
  await db.schema
    .createTable('import_errors')
    .addColumn('import_id', 'text', (c) => c.notNull().references('imports.id').onDelete('cascade'))
    .addColumn('line', big, (c) => c.notNull())
    .addColumn('field', 'text')
    .addColumn('reason', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('import_errors_pk', ['import_id', 'line'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['import_errors', 'imports', 'suppressions', 'attribute_definitions', 'contact_devices'])
    await db.schema.dropTable(table).ifExists().execute();
  await db.schema.dropIndex('contacts_workspace_phone').ifExists().execute();
  await db.schema.dropIndex('contacts_workspace_external').ifExists().execute();
  for (const column of ['tags', 'viber_id', 'telegram_chat_id', 'external_id']) await db.schema.alterTable('contacts').dropColumn(column).execute();
}
