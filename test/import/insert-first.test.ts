import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchRow, InsertedOutOfOrder, upsertBatch } from '../../src/import/bulk-upsert.js';
import type { ContactValues } from '../../src/import/batch-sql.js';
import { listByName } from '../../src/import/imports-store.js';
import type { Db } from '../../src/store/database.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects, migratedDatabase } from '../dialects.js';

/**
 * A batch inserted first (`upsertBatch(…, insertFirst = true)`, what a first import does)
 * must land exactly as the same rows merged one by one in file order: the same contacts,
 * with ids in the same order (the oldest contact with a phone is the one a phone-only row
 * updates), the same counts and the same refused lines. Keys are drawn from small pools so
 * that rows collide with each other and with stored contacts in every way: the same email,
 * an external id held by another contact, a key freed by an earlier row, shared phones.
 */

const now = new Date('2026-01-01T00:00:00Z');
const pick = <T>(values: readonly T[]) => fc.constantFrom(...values);

const row: fc.Arbitrary<ContactValues> = fc
  .record({
    email: pick([null, 'a@example.test', 'b@example.test', 'c@example.test', 'd@example.test']),
    phone: pick([null, '+14155550101', '+14155550102']),
    firstName: pick([null, 'Ann', 'Bo']),
    externalId: pick([null, 'crm-1', 'crm-2', 'crm-3']),
    tags: pick([null, '["news"]', '["vip"]']),
    attributes: pick([null, '{"plan":"pro"}', '{"plan":"team"}', '{"seats":"2"}']),
  })
  .filter((r) => r.email !== null || r.phone !== null || r.externalId !== null)
  .map((r) => [r.email, r.phone, r.firstName, null, null, r.externalId, null, null, r.tags, r.attributes]);

/** Batches of rows, the lines numbered across them as a file's would be. */
const batches = fc.array(fc.array(row, { minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 4 }).map((bs) => {
  let line = 1;
  return bs.map((b) => b.map((values): BatchRow => ({ line: ++line, values })));
});

describe.each(dialects)('insert-first batches on %s', (dialect) => {
  let db: Db;
  let close: () => Promise<void>;
  let n = 0;
  beforeAll(async () => {
    ({ db, close } = await migratedDatabase(dialect));
  });
  afterAll(async () => close());

  /** Applies the batches to a fresh workspace; returns each batch's outcome and what is stored in the end. */
  async function apply(stored: readonly BatchRow[], file: readonly (readonly BatchRow[])[], insertFirst: boolean) {
    const ws = (await createWorkspace(db, { name: `W${n++}`, now })).id;
    const list = await listByName(db, ws, 'L', now);
    const target = { workspaceId: ws, listId: list.id, now };
    await db.transaction().execute((trx) => upsertBatch(trx, target, stored));
    const outcomes = [];
    for (const rows of file) {
      try {
        outcomes.push(await db.transaction().execute((trx) => upsertBatch(trx, target, rows, insertFirst)));
      } catch (err) {
        // What runImport does: the batch again, row by row.
        if (!(err instanceof InsertedOutOfOrder)) throw err;
        outcomes.push(await db.transaction().execute((trx) => upsertBatch(trx, target, rows)));
      }
    }
    const contacts = await db
      .selectFrom('contacts')
      .leftJoin('list_members', (j) => j.onRef('list_members.contact_id', '=', 'contacts.id').on('list_members.list_id', '=', list.id))
      .select(['email', 'phone', 'first_name', 'external_id', 'tags', 'attributes', 'list_members.contact_id as member'])
      .where('contacts.workspace_id', '=', ws)
      .orderBy('contacts.id')
      .execute();
    return { outcomes, contacts: contacts.map(({ member, ...c }) => ({ ...c, member: member !== null })) };
  }

  it('lands every batch as merging its rows one by one in file order would', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(row, { maxLength: 4 }), batches, async (stored, file) => {
        const storedRows = stored.map((values, i) => ({ line: i + 2, values }));
        const first = await apply(storedRows, file, true);
        const inOrder = await apply(storedRows, file, false);
        expect(first).toEqual(inOrder);
      }),
      { numRuns: dialect === 'sqlite' ? 300 : 50 },
    );
  });

  const values = (email: string, externalId: string | null, firstName: string): ContactValues => [
    email,
    null,
    firstName,
    null,
    null,
    externalId,
    null,
    null,
    null,
    null,
  ];

  it('inserts a batch of new contacts without looking them up, and merges only the rows that conflict', async () => {
    const stored = [{ line: 2, values: values('a@example.test', 'crm-1', 'Ann') }];
    const file = [
      [
        { line: 2, values: values('b@example.test', null, 'Bo') },
        { line: 3, values: values('a@example.test', null, 'Annie') }, // Ann: merged
        { line: 4, values: values('c@example.test', 'crm-1', 'Cy') }, // crm-1 is Ann, who has another email: moved
        { line: 5, values: values('d@example.test', 'crm-4', 'Di') },
      ],
    ];
    const { outcomes, contacts } = await apply(stored, file, true);
    // Ann was on the list already.
    expect(outcomes).toEqual([{ created: 2, updated: 1, added: 2, rejected: [] }]);
    expect(contacts.map((c) => [c.email, c.external_id, c.first_name, c.member])).toEqual([
      ['c@example.test', 'crm-1', 'Cy', true],
      ['b@example.test', null, 'Bo', true],
      ['d@example.test', 'crm-4', 'Di', true],
    ]);
  });

  it('gives a row that is new only because an earlier row freed its email its place in the file order', async () => {
    const stored = [{ line: 2, values: values('a@example.test', 'crm-1', 'Ann') }];
    const file = [
      [
        { line: 2, values: values('b@example.test', 'crm-1', 'Ann') }, // Ann moves to b
        { line: 3, values: values('a@example.test', null, 'Al') }, // a is free: Al is new
        { line: 4, values: values('c@example.test', null, 'Cy') },
      ],
    ];
    const { outcomes, contacts } = await apply(stored, file, true);
    expect(outcomes).toEqual([{ created: 2, updated: 1, added: 2, rejected: [] }]);
    expect(contacts.map((c) => c.first_name)).toEqual(['Ann', 'Al', 'Cy']);
  });
});
