import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createImport, listByName, listImportErrors } from '../../src/import/imports-store.js';
import { type ImportSummary, runImport } from '../../src/import/pipeline.js';
import { upsertContacts } from '../../src/store/contacts.js';
import type { Db } from '../../src/store/database.js';
import { dialects } from '../dialects.js';
import { workspacePerTest } from '../workspace-db.js';

/**
 * How rows land on contacts (src/import/bulk-upsert.ts): several rows of one contact in a
 * batch, keys that belong to another contact, phone-only rows, and what a re-import
 * counts as a change. Batches of 3 rows, so some of this happens inside one batch and some
 * across batches.
 */

const now = new Date('2026-01-01T00:00:00Z');

describe.each(dialects)('import merge on %s', (dialect) => {
  let db: Db;
  let ws: string;
  workspacePerTest(dialect, now, (d, w) => ((db = d), (ws = w)));

  async function load(csv: string): Promise<ImportSummary & { refused: [number, string][] }> {
    const list = await listByName(db, ws, 'L', now);
    const imp = await createImport(db, { workspaceId: ws, listId: list.id, filename: null, now });
    const summary = await runImport(Readable.from([csv]), {
      db,
      workspaceId: ws,
      importId: imp.id,
      listId: list.id,
      batchSize: 3,
      now: () => now,
    });
    const errors = await listImportErrors(db, imp.id, { limit: 100 });
    return { ...summary, refused: errors.data.map((e) => [e.line, e.reason]) };
  }

  const contacts = async () =>
    (
      await db
        .selectFrom('contacts')
        .select(['email', 'phone', 'first_name', 'external_id', 'tags', 'attributes'])
        .where('workspace_id', '=', ws)
        .orderBy('id')
        .execute()
    ).map((c) => ({ ...c, tags: JSON.parse(c.tags) as string[], attributes: JSON.parse(c.attributes) as Record<string, unknown> }));

  it('merges rows of one contact in file order, and a re-import of the same file changes nothing', async () => {
    const csv = [
      'email,external_id,first_name,tags,plan,seats',
      'a@example.test,crm-1,Ann,news,pro,',
      'a@example.test,,Annie,vip;gold,,3', // Ann again
      ',crm-1,,news,team,', // Ann by external id
      'b@example.test,,Bo,,free,2', // the next batch
      'c@example.test,crm-3,Cy,,,',
    ].join('\n');
    const first = await load(csv);
    expect(first).toMatchObject({ status: 'completed', rowsImported: 5, created: 3, updated: 0 });
    const after = await contacts();
    expect(after).toEqual([
      {
        email: 'a@example.test',
        phone: null,
        first_name: 'Annie',
        external_id: 'crm-1',
        tags: ['gold', 'news', 'vip'],
        attributes: { plan: 'team', seats: '3' },
      },
      { email: 'b@example.test', phone: null, first_name: 'Bo', external_id: null, tags: [], attributes: { plan: 'free', seats: '2' } },
      { email: 'c@example.test', phone: null, first_name: 'Cy', external_id: 'crm-3', tags: [], attributes: {} },
    ]);
    // Ann's rows change her and change her back (Annie → Ann → Annie, plan team → pro → team): no change in the end.
    const again = await load(csv);
    expect(again).toMatchObject({ status: 'completed', rowsImported: 5, created: 0, updated: 0 });
    expect(await contacts()).toEqual(after);
  });

  it('counts a contact as updated only when a value it stores changes', async () => {
    await load('email,tags,plan,seats\na@example.test,news;vip,pro,2\nb@example.test,news,free,1\n');
    // A subset of the tags, attributes in another order, and no cell at all for b's plan: nothing to change.
    expect(await load('email,seats,tags,plan\na@example.test,2,vip,pro\nb@example.test,1,,\n')).toMatchObject({ created: 0, updated: 0 });
    // A new tag for a, a new attribute value for b.
    expect(await load('email,tags,seats\na@example.test,gold,2\nb@example.test,,5\n')).toMatchObject({ created: 0, updated: 2 });
    expect((await contacts()).map((c) => [c.tags, c.attributes])).toEqual([
      [['gold', 'news', 'vip'], { plan: 'pro', seats: '2' }],
      [['news'], { plan: 'free', seats: '5' }],
    ]);
  });

  it('refuses, by line, a row whose keys belong to two contacts', async () => {
    await load('email,external_id\na@example.test,crm-1\nb@example.test,crm-2\n');
    const r = await load(
      [
        'email,external_id,first_name',
        'a@example.test,crm-9,X', // 2: a's email, another external id
        'b@example.test,crm-1,Y', // 3: crm-1 is a: would give a b's email
        'c@example.test,crm-2,Z', // 4: b by external id, moved to a new email: fine
        'b@example.test,,W', // 5: b's old email is free again, so this is a new contact
      ].join('\n'),
    );
    expect(r.refused).toEqual([
      [2, 'the contact with this email has the external id crm-1'],
      [3, 'is already the email of another contact'],
    ]);
    expect(r).toMatchObject({ rowsImported: 2, rowsInvalid: 2, created: 1, updated: 1 });
    expect((await contacts()).map((c) => [c.email, c.external_id, c.first_name])).toEqual([
      ['a@example.test', 'crm-1', null],
      ['c@example.test', 'crm-2', 'Z'],
      ['b@example.test', null, 'W'],
    ]);
  });

  it('finds a row with only a phone by it (the oldest contact with that phone), and never a row with an email', async () => {
    await upsertContacts(
      db,
      ws,
      [
        { email: 'a@example.test', phone: '+14155550101' },
        { email: 'b@example.test', phone: '+14155550101' },
      ],
      now,
    );
    const r = await load('phone,first_name,email\n+14155550101,Pat,\n+14155550101,Sam,s@example.test\n');
    expect(r).toMatchObject({ created: 1, updated: 1 });
    expect((await contacts()).map((c) => [c.email, c.first_name])).toEqual([
      ['a@example.test', 'Pat'],
      ['b@example.test', null],
      ['s@example.test', 'Sam'],
    ]);
  });

  it('merges in file order a batch whose row is new only because an earlier row freed its email, after batches of new contacts', async () => {
    await load('email,external_id,first_name\na@example.test,crm-1,Ann\n');
    const r = await load(
      [
        'email,external_id,first_name',
        'x@example.test,,X', // 2-4: one batch of new contacts
        'y@example.test,,Y',
        'z@example.test,,Z',
        'b@example.test,crm-1,Ann', // 5: Ann moves to b
        'a@example.test,,Al', // 6: a is free, so Al is new
        'c@example.test,,Cy',
      ].join('\n'),
    );
    expect(r).toMatchObject({ status: 'completed', rowsImported: 6, created: 5, updated: 1 });
    expect((await contacts()).map((c) => [c.email, c.first_name])).toEqual([
      ['b@example.test', 'Ann'],
      ['x@example.test', 'X'],
      ['y@example.test', 'Y'],
      ['z@example.test', 'Z'],
      ['a@example.test', 'Al'],
      ['c@example.test', 'Cy'],
    ]);
  }, 30_000);
});
