import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/database.js';
import { dialects, migratedDatabase } from '../dialects.js';
import { deleteContact, getContact, listContacts, updateContact, upsertContacts } from '../../src/store/contacts.js';
import {
  addMembers,
  countMembers,
  createList,
  getList,
  listLists,
  listMembers,
  removeMembers,
  softDeleteList,
} from '../../src/store/lists.js';
import { createSender, getSender, updateSender } from '../../src/store/senders.js';
import { createTemplate, getTemplate, listTemplates, softDeleteTemplate } from '../../src/store/templates.js';
import { createWorkspace } from '../../src/store/workspaces.js';

const now = new Date('2026-01-01T00:00:00Z');
const later = new Date('2026-01-02T00:00:00Z');

describe.each(dialects)('on %s', (dialect) => {
  let db: Db;
  let database: Awaited<ReturnType<typeof migratedDatabase>>;
  let ws: string;
  let other: string;

  beforeEach(async () => {
    database = await migratedDatabase(dialect);
    db = database.db;
    ws = (await createWorkspace(db, { name: 'Acme', now })).id;
    other = (await createWorkspace(db, { name: 'Other', now })).id;
  });
  afterEach(async () => {
    await database.close();
  });

  const countContacts = async (workspaceId: string) =>
    Number(
      (
        await db
          .selectFrom('contacts')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('workspace_id', '=', workspaceId)
          .executeTakeFirstOrThrow()
      ).n,
    );

  function must<T>(result: { ok: true; value: T } | { ok: false; error: unknown }): T {
    if (!result.ok) throw new Error(`expected ok, got ${JSON.stringify(result.error)}`);
    return result.value;
  }

  describe('upsertContacts', () => {
    it('updates a contact with the same email (any case) instead of adding another', async () => {
      const first = must(await upsertContacts(db, ws, [{ email: 'Ann@Example.com', firstName: 'Ann', phone: '+15550001111' }], now));
      const second = must(await upsertContacts(db, ws, [{ email: 'ann@example.COM', lastName: 'Lee' }], later));
      expect(first).toMatchObject({ created: 1, updated: 0 });
      expect(second).toMatchObject({ created: 0, updated: 1 });
      expect(second.contacts[0]).toMatchObject({
        id: first.contacts[0]!.id,
        email: 'ann@example.com',
        first_name: 'Ann',
        last_name: 'Lee',
        phone: '+15550001111',
        created_at: now.toISOString(),
        updated_at: later.toISOString(),
      });
      expect(await countContacts(ws)).toBe(1);
    });

    it('merges attributes, a null value removing the key, and never stores nulls in a new contact', async () => {
      must(await upsertContacts(db, ws, [{ email: 'a@x.io', attributes: { plan: 'pro', city: 'Oslo', gone: null } }], now));
      const { contacts } = must(await upsertContacts(db, ws, [{ email: 'a@x.io', attributes: { city: null, seats: 3 } }], later));
      expect(JSON.parse(contacts[0]!.attributes)).toEqual({ plan: 'pro', seats: 3 });
    });

    it('keeps the same email in one workspace apart from another workspace', async () => {
      must(await upsertContacts(db, ws, [{ email: 'a@x.io', firstName: 'Mine' }], now));
      const theirs = must(await upsertContacts(db, other, [{ email: 'a@x.io', firstName: 'Theirs' }], now));
      expect(theirs.created).toBe(1);
      expect(((await listContacts(db, ws, { limit: 10 })) as { data: { first_name: string | null }[] }).data[0]!.first_name).toBe('Mine');
    });

    it('maps every input to its contact, across chunks, with repeated emails merged and email-less rows always new', async () => {
      const inputs = Array.from({ length: 1201 }, (_, i) => ({ email: `u${i % 1100}@x.io`, firstName: `n${i}` }));
      inputs.push(
        { email: null as unknown as string, firstName: 'anon1' },
        { email: undefined as unknown as string, firstName: 'anon2' },
        { email: ' ', firstName: 'anon3' },
      );
      const result = must(await upsertContacts(db, ws, inputs, now));
      expect(result).toMatchObject({ created: 1103, updated: 0 });
      expect(result.contacts).toHaveLength(1204);
      expect(result.contacts[5]!.email).toBe('u5@x.io');
      // u5 appears at 5 and 1105: one row carrying the later name.
      expect(result.contacts[1105]!.id).toBe(result.contacts[5]!.id);
      expect(result.contacts[5]!.first_name).toBe('n1105');
      expect(result.contacts.slice(-3).map((c) => [c.first_name, c.email])).toEqual([
        ['anon1', null],
        ['anon2', null],
        ['anon3', null],
      ]);
      expect(await countContacts(ws)).toBe(1103);
    });

    it('adds the contacts to the lists given, and with an unknown or deleted list changes nothing', async () => {
      const list = await createList(db, ws, { name: 'News' }, now);
      const gone = await createList(db, ws, { name: 'Old' }, now);
      await softDeleteList(db, ws, gone.id, now);
      const foreign = await createList(db, other, { name: 'Theirs' }, now);

      for (const bad of [['lst_nope'], [gone.id], [foreign.id]]) {
        const result = await upsertContacts(db, ws, [{ email: 'a@x.io' }], now, [list.id, ...bad]);
        expect(result.ok).toBe(false);
        if (!result.ok) expect(result.error).toMatchObject({ code: 'NOT_FOUND', extra: { listIds: bad } });
      }
      expect(await countContacts(ws)).toBe(0);

      const ok = must(await upsertContacts(db, ws, [{ email: 'a@x.io' }, { email: 'b@x.io' }], now, [list.id]));
      expect(ok.added).toBe(2);
      expect(await countMembers(db, ws, list.id)).toBe(2);
    });
  });

  describe('contacts', () => {
    it('pages by id and searches email and name', async () => {
      must(
        await upsertContacts(
          db,
          ws,
          [{ email: 'zed@x.io' }, { email: 'amy@y.io', firstName: 'Amy', lastName: 'Pond' }, { email: 'c_d@x.io' }],
          now,
        ),
      );
      const first = await listContacts(db, ws, { limit: 2 });
      if (first === 'bad_cursor') throw new Error('bad cursor');
      expect(first.data.map((c) => c.email)).toEqual(['zed@x.io', 'amy@y.io']);
      const second = await listContacts(db, ws, { limit: 2, cursor: first.nextCursor! });
      if (second === 'bad_cursor') throw new Error('bad cursor');
      expect(second).toMatchObject({ data: [{ email: 'c_d@x.io' }], nextCursor: null });
      const search = async (q: string) =>
        ((await listContacts(db, ws, { limit: 10, q })) as { data: { email: string | null }[] }).data.map((c) => c.email);
      expect(await search('amy pond')).toEqual(['amy@y.io']);
      expect(await search('X.IO')).toEqual(['zed@x.io', 'c_d@x.io']);
      // `_` is a LIKE wildcard; it must match only itself.
      expect(await search('c_')).toEqual(['c_d@x.io']);
      expect(await listContacts(db, ws, { limit: 2, cursor: 'garbage' })).toBe('bad_cursor');
    });

    it('patches fields, clears with null, refuses an email another contact has, and is scoped to the workspace', async () => {
      const [a, b] = must(
        await upsertContacts(db, ws, [{ email: 'a@x.io', firstName: 'A', attributes: { k: 1 } }, { email: 'b@x.io' }], now),
      ).contacts;
      const patched = must(await updateContact(db, ws, a!.id, { firstName: null, attributes: { j: 2 } }, later));
      expect(patched).toMatchObject({ email: 'a@x.io', first_name: null, updated_at: later.toISOString() });
      expect(JSON.parse(patched.attributes)).toEqual({ k: 1, j: 2 });

      const taken = await updateContact(db, ws, b!.id, { email: 'A@x.io' }, later);
      expect(taken.ok ? null : taken.error.code).toBe('CONFLICT');
      const foreign = await updateContact(db, other, a!.id, { firstName: 'X' }, later);
      expect(foreign.ok ? null : foreign.error.code).toBe('NOT_FOUND');
      expect(await deleteContact(db, other, a!.id)).toBe(false);
      expect(await getContact(db, ws, a!.id)).toBeDefined();
      expect(await deleteContact(db, ws, a!.id)).toBe(true);
      expect(await getContact(db, ws, a!.id)).toBeUndefined();
    });
  });

  describe('lists', () => {
    it('adds only this workspace’s contacts, skips existing members, and counts', async () => {
      const list = await createList(db, ws, { name: 'News' }, now);
      const mine = must(await upsertContacts(db, ws, [{ email: 'a@x.io' }, { email: 'b@x.io' }], now)).contacts.map((c) => c.id);
      const theirs = must(await upsertContacts(db, other, [{ email: 'c@x.io' }], now)).contacts.map((c) => c.id);
      expect(await addMembers(db, ws, list.id, [mine[0]!, ...theirs, 999_999], now)).toBe(1);
      expect(await addMembers(db, ws, list.id, mine, now)).toBe(1);
      expect(await addMembers(db, other, list.id, theirs, now)).toBe(0);
      expect((await getList(db, ws, list.id))?.member_count).toBe(2);
      const page = await listMembers(db, ws, list.id, { limit: 1 });
      if (page === 'bad_cursor') throw new Error('bad cursor');
      expect(page.data.map((c) => c.id)).toEqual([mine[0]]);
      expect(await removeMembers(db, other, list.id, mine)).toBe(0);
      expect(await removeMembers(db, ws, list.id, [mine[0]!, ...theirs])).toBe(1);
      expect(await countMembers(db, ws, list.id)).toBe(1);
      expect(await countMembers(db, other, list.id)).toBe(0);
    });

    it('hides a soft-deleted list but keeps its members', async () => {
      const list = await createList(db, ws, { name: 'News' }, now);
      const ids = must(await upsertContacts(db, ws, [{ email: 'a@x.io' }], now, [list.id])).contacts.map((c) => c.id);
      expect(await softDeleteList(db, other, list.id, later)).toBe(false);
      expect(await softDeleteList(db, ws, list.id, later)).toBe(true);
      expect(await softDeleteList(db, ws, list.id, later)).toBe(false);
      expect(await getList(db, ws, list.id)).toBeUndefined();
      expect(await listLists(db, ws, { limit: 10 })).toEqual({ data: [], nextCursor: null });
      expect(await addMembers(db, ws, list.id, ids, later)).toBe(0);
      expect(await countMembers(db, ws, list.id)).toBe(1);
    });
  });

  describe('templates and senders', () => {
    it('pages templates by creation and hides soft-deleted ones unless asked', async () => {
      const made = [];
      for (let i = 0; i < 3; i++) made.push(await createTemplate(db, ws, { name: `t${i}`, subject: 'Hi' }, new Date(now.getTime() + i)));
      await createTemplate(db, other, { name: 'theirs', subject: 'Hi' }, now);
      const first = await listTemplates(db, ws, { limit: 2 });
      if (first === 'bad_cursor') throw new Error('bad cursor');
      expect(first.data.map((t) => t.name)).toEqual(['t0', 't1']);
      const second = await listTemplates(db, ws, { limit: 2, cursor: first.nextCursor! });
      if (second === 'bad_cursor') throw new Error('bad cursor');
      expect(second.data.map((t) => t.name)).toEqual(['t2']);
      expect(second.nextCursor).toBeNull();

      expect(await softDeleteTemplate(db, ws, made[0]!.id, later)).toBe(true);
      expect(await getTemplate(db, ws, made[0]!.id)).toBeUndefined();
      expect(await getTemplate(db, ws, made[0]!.id, { includeDeleted: true })).toMatchObject({ deleted_at: later.toISOString() });
      expect(await getTemplate(db, other, made[1]!.id)).toBeUndefined();
    });

    it('pauses and resumes a sender', async () => {
      const sender = await createSender(db, ws, { name: 'News', fromEmail: 'news@acme.io' }, now);
      expect(sender.status).toBe('active');
      expect(await updateSender(db, other, sender.id, { status: 'paused' }, later)).toBeUndefined();
      expect(await updateSender(db, ws, sender.id, { status: 'paused' }, later)).toMatchObject({ status: 'paused', name: 'News' });
      expect((await getSender(db, ws, sender.id))?.status).toBe('paused');
    });
  });
});
