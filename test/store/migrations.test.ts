import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upsertContacts } from '../../src/store/contacts.js';
import { type Db, migrate, migrateTo, openDatabase } from '../../src/store/database.js';
import { createList } from '../../src/store/lists.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { type TestDatabase, dialects, freshDatabase } from '../dialects.js';

const now = new Date('2026-01-01T00:00:00Z');

describe.each(dialects)('migration 0014 (list memberships without rowid) on %s', (dialect) => {
  let fresh: TestDatabase;
  let db: Db;
  beforeEach(async () => {
    fresh = await freshDatabase(dialect);
    db = openDatabase(fresh.location);
  });
  afterEach(async () => {
    await db.destroy();
    await fresh.drop();
  });

  const members = async () =>
    (await db.selectFrom('list_members').select(['list_id', 'contact_id']).orderBy('contact_id').execute()).map((m) => [
      m.list_id,
      Number(m.contact_id),
    ]);

  it('keeps every membership, its key and its cascades, up and down', async () => {
    await migrateTo(db, '0013_receipt_key');
    const ws = await createWorkspace(db, { name: 'W', now });
    const list = await createList(db, ws.id, { name: 'L' }, now);
    const upserted = await upsertContacts(db, ws.id, [{ email: 'a@example.test' }, { email: 'b@example.test' }], now, [list.id]);
    if (!upserted.ok) throw new Error(upserted.error.detail);
    const [a, b] = upserted.value.contacts;
    const before = await members();
    expect(before).toHaveLength(2);

    await migrate(db);
    expect(await members()).toEqual(before);
    if (dialect === 'sqlite') {
      const table = await sql<{ sql: string }>`select sql from sqlite_master where type = 'table' and name = 'list_members'`.execute(db);
      expect(table.rows[0]!.sql.toLowerCase()).toContain('without rowid');
    }
    // The primary key still refuses a second membership, and deleting a contact still removes its.
    const again = await db
      .insertInto('list_members')
      .values({ workspace_id: ws.id, list_id: list.id, contact_id: a!.id, added_at: now.toISOString() })
      .onConflict((oc) => oc.columns(['list_id', 'contact_id']).doNothing())
      .executeTakeFirst();
    expect(Number(again.numInsertedOrUpdatedRows ?? 0n)).toBe(0);
    await db.deleteFrom('contacts').where('id', '=', a!.id).execute();
    expect(await members()).toEqual([[list.id, Number(b!.id)]]);

    await migrateTo(db, '0013_receipt_key');
    expect(await members()).toEqual([[list.id, Number(b!.id)]]);
  });
});
