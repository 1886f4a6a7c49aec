import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, migrate, openDatabase } from '../../src/store/database.js';
import { createWorkspace } from '../../src/store/workspaces.js';

let db: Db | undefined;
afterEach(async () => {
  await db?.destroy();
  db = undefined;
});

describe('SQLite statements reused by their text', () => {
  it('binds each call’s own parameters, streams with a cached statement, and sees schema changes', async () => {
    db = openDatabase({ dialect: 'sqlite', path: ':memory:' });
    await migrate(db);
    const now = new Date('2026-12-01T00:00:00Z');
    for (const name of ['A', 'B', 'C']) await createWorkspace(db, { name, now });
    const named = (name: string) => db!.selectFrom('workspaces').select('name').where('name', '=', name);

    // One SQL text, three parameter sets: each answer is its own.
    expect(await named('A').execute()).toEqual([{ name: 'A' }]);
    expect(await named('C').execute()).toEqual([{ name: 'C' }]);
    expect(await named('Z').execute()).toEqual([]);

    const streamed: string[] = [];
    for await (const row of db.selectFrom('workspaces').select('name').orderBy('name').stream()) streamed.push(row.name);
    expect(streamed).toEqual(['A', 'B', 'C']);
    expect(await db.selectFrom('workspaces').select('name').orderBy('name').execute()).toHaveLength(3);

    // A cached `select *` compiled before a new column must return the column after it.
    const all = () => sql<Record<string, unknown>>`select * from workspaces where name = ${'A'}`.execute(db!);
    expect(Object.keys((await all()).rows[0]!)).not.toContain('extra');
    await sql`alter table workspaces add column extra text`.execute(db);
    expect(Object.keys((await all()).rows[0]!)).toContain('extra');
  });
});
