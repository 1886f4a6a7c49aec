import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { dialects } from '../dialects.js';
import { type Method, type TwoWorkspaces, twoWorkspaces } from './two-workspaces.js';

describe.each(dialects)('on %s', (dialect) => {
  let w: TwoWorkspaces;
  let clock: ManualClock;
  let keyA: string;
  let keyB: string;

  beforeEach(async () => {
    w = await twoWorkspaces(dialect, '2026-01-01T00:00:00Z');
    ({ clock, keyA, keyB } = w);
  });
  afterEach(() => w.close());

  const call = (method: Method, url: string, payload?: unknown, key = keyA) => w.call(method, url, payload, key);

  describe('contacts', () => {
    it('upserts by email: a second POST updates the same contact instead of duplicating it', async () => {
      const first = await call('POST', '/v1/contacts', { email: 'ann@example.com', firstName: 'Ann' });
      expect(first.status).toBe(201);
      const second = await call('POST', '/v1/contacts', { email: 'ANN@example.com', lastName: 'Lee', attributes: { plan: 'pro' } });
      expect(second.body).toMatchObject({
        id: first.body.id,
        email: 'ann@example.com',
        firstName: 'Ann',
        lastName: 'Lee',
        attributes: { plan: 'pro' },
      });
      const all = await call('GET', '/v1/contacts');
      expect(all.body).toMatchObject({ data: [{ id: first.body.id }], nextCursor: null, meta: { sandbox: false } });
    });

    it('imports 5,000 contacts in one bulk call and adds them all to a list', async () => {
      const list = await call('POST', '/v1/lists', { name: 'Everyone' });
      const contacts = Array.from({ length: 5000 }, (_, i) => ({ email: `user${i}@example.com`, firstName: `U${i}` }));
      const bulk = await call('POST', '/v1/contacts/bulk', { contacts, listIds: [list.body.id] });
      expect(bulk.status).toBe(200);
      expect(bulk.body).toMatchObject({ created: 5000, updated: 0, added: 5000 });
      expect(bulk.body.ids).toHaveLength(5000);
      expect(bulk.body.contacts).toBeUndefined();
      expect((await call('GET', `/v1/lists/${list.body.id}`)).body.memberCount).toBe(5000);

      // A second import of an overlapping batch updates, and returns the contacts when small.
      const again = await call('POST', '/v1/contacts/bulk', { contacts: [{ email: 'user0@example.com' }, { email: 'new@example.com' }] });
      expect(again.body).toMatchObject({ created: 1, updated: 1, added: 0, ids: [bulk.body.ids[0], expect.any(Number)] });
      expect(again.body.contacts[0]).toMatchObject({ email: 'user0@example.com', firstName: 'U0' });
    });

    it('refuses a bulk import naming an unknown or another workspace’s list, and writes nothing', async () => {
      const mine = await call('POST', '/v1/lists', { name: 'Mine' });
      const theirs = await call('POST', '/v1/lists', { name: 'Theirs' }, keyB);
      for (const bad of ['lst_unknown', theirs.body.id]) {
        const res = await call('POST', '/v1/contacts/bulk', { contacts: [{ email: 'a@example.com' }], listIds: [mine.body.id, bad] });
        expect(res.status).toBe(404);
        expect(res.body).toMatchObject({ code: 'NOT_FOUND', listIds: [bad] });
      }
      expect((await call('GET', '/v1/contacts')).body.data).toEqual([]);
      expect((await call('GET', `/v1/lists/${mine.body.id}`)).body.memberCount).toBe(0);
    });

    it('reads, patches and deletes a contact by its integer id; any other id is a 404', async () => {
      const { body: c } = await call('POST', '/v1/contacts', { email: 'a@example.com', firstName: 'A' });
      expect((await call('GET', `/v1/contacts/${c.id}`)).body).toMatchObject({ email: 'a@example.com' });
      const patched = await call('PATCH', `/v1/contacts/${c.id}`, { firstName: null, phone: '+4712345678' });
      expect(patched.body).toMatchObject({ firstName: null, phone: '+4712345678' });
      for (const id of ['abc', '1.5', '-1', '0', '99999999999999999999']) {
        const res = await call('GET', `/v1/contacts/${id}`);
        expect(res.status, id).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
      expect((await call('DELETE', `/v1/contacts/${c.id}`)).status).toBe(204);
      expect((await call('GET', `/v1/contacts/${c.id}`)).status).toBe(404);
    });

    it('answers 409 when a PATCH gives a contact another contact’s email', async () => {
      await call('POST', '/v1/contacts', { email: 'a@example.com' });
      const { body: b } = await call('POST', '/v1/contacts', { email: 'b@example.com' });
      const res = await call('PATCH', `/v1/contacts/${b.id}`, { email: 'a@example.com' });
      expect(res).toMatchObject({ status: 409, body: { code: 'CONFLICT' } });
    });
  });

  describe('lists', () => {
    it('adds and removes members and keeps the count', async () => {
      const { body: list } = await call('POST', '/v1/lists', { name: 'News', description: 'Weekly' });
      expect(list).toMatchObject({ name: 'News', description: 'Weekly', memberCount: 0 });
      const { body: bulk } = await call('POST', '/v1/contacts/bulk', {
        contacts: [{ email: 'a@x.io' }, { email: 'b@x.io' }, { email: 'c@x.io' }],
      });
      const [a, b, c] = bulk.ids as number[];

      const added = await call('POST', `/v1/lists/${list.id}/members`, { contactIds: [a, b, b, 424242] });
      expect(added.body).toEqual({ changed: 2, skipped: 1, memberCount: 2 });
      const again = await call('POST', `/v1/lists/${list.id}/members`, { contactIds: [b, c] });
      expect(again.body).toEqual({ changed: 1, skipped: 1, memberCount: 3 });
      const removed = await call('DELETE', `/v1/lists/${list.id}/members`, { contactIds: [a, 424242] });
      expect(removed.body).toEqual({ changed: 1, skipped: 1, memberCount: 2 });

      const page1 = await call('GET', `/v1/lists/${list.id}/members?limit=1`);
      expect(page1.body.data.map((x: { id: number }) => x.id)).toEqual([b]);
      const page2 = await call('GET', `/v1/lists/${list.id}/members?limit=1&cursor=${page1.body.nextCursor}`);
      expect(page2.body).toMatchObject({ data: [{ id: c }], nextCursor: null });
      expect((await call('GET', '/v1/lists')).body.data).toMatchObject([{ id: list.id, memberCount: 2 }]);
    });

    it('hides a deleted list: GET, PATCH, members and a second DELETE answer 404', async () => {
      const { body: list } = await call('POST', '/v1/lists', { name: 'Old' });
      expect((await call('PATCH', `/v1/lists/${list.id}`, { name: 'Older' })).body).toMatchObject({ name: 'Older' });
      expect((await call('DELETE', `/v1/lists/${list.id}`)).status).toBe(204);
      expect((await call('GET', `/v1/lists/${list.id}`)).status).toBe(404);
      expect((await call('PATCH', `/v1/lists/${list.id}`, { name: 'x' })).status).toBe(404);
      expect((await call('GET', `/v1/lists/${list.id}/members`)).status).toBe(404);
      expect((await call('DELETE', `/v1/lists/${list.id}`)).status).toBe(404);
      expect((await call('GET', '/v1/lists')).body.data).toEqual([]);
    });

    it('pages lists with a cursor and refuses a forged one', async () => {
      for (const name of ['a', 'b', 'c']) {
        await call('POST', '/v1/lists', { name });
        clock.advance(1000);
      }
      const first = await call('GET', '/v1/lists?limit=2');
      expect(first.body.data.map((l: { name: string }) => l.name)).toEqual(['a', 'b']);
      const second = await call('GET', `/v1/lists?limit=2&cursor=${first.body.nextCursor}`);
      expect(second.body).toMatchObject({ data: [{ name: 'c' }], nextCursor: null });
      const forged = await call('GET', '/v1/lists?cursor=not-a-cursor');
      expect(forged).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    });
  });

  describe('workspace isolation', () => {
    it('answers 404 for another workspace’s ids and changes nothing', async () => {
      const { body: contact } = await call('POST', '/v1/contacts', { email: 'a@example.com', firstName: 'A' });
      const { body: list } = await call('POST', '/v1/lists', { name: 'A list' });
      const { body: template } = await call('POST', '/v1/templates', { name: 'T', subject: 'Hi' });
      const { body: sender } = await call('POST', '/v1/senders', { name: 'S', fromEmail: 's@a.io' });
      await call('POST', `/v1/lists/${list.id}/members`, { contactIds: [contact.id] });

      const attempts: [Method, string, unknown?][] = [
        ['GET', `/v1/contacts/${contact.id}`],
        ['PATCH', `/v1/contacts/${contact.id}`, { firstName: 'B' }],
        ['DELETE', `/v1/contacts/${contact.id}`],
        ['GET', `/v1/lists/${list.id}`],
        ['PATCH', `/v1/lists/${list.id}`, { name: 'B' }],
        ['DELETE', `/v1/lists/${list.id}`],
        ['GET', `/v1/lists/${list.id}/members`],
        ['POST', `/v1/lists/${list.id}/members`, { contactIds: [contact.id] }],
        ['DELETE', `/v1/lists/${list.id}/members`, { contactIds: [contact.id] }],
        ['GET', `/v1/templates/${template.id}`],
        ['PATCH', `/v1/templates/${template.id}`, { name: 'B' }],
        ['DELETE', `/v1/templates/${template.id}`],
        ['GET', `/v1/senders/${sender.id}`],
        ['PATCH', `/v1/senders/${sender.id}`, { status: 'paused' }],
        ['DELETE', `/v1/senders/${sender.id}`],
      ];
      for (const [method, url, payload] of attempts) {
        const res = await call(method, url, payload, keyB);
        expect(res.status, `${method} ${url}`).toBe(404);
        expect(res.body.code).toBe('NOT_FOUND');
      }
      // B adding its own contact to A's list is refused too.
      const { body: theirs } = await call('POST', '/v1/contacts', { email: 'b@example.com' }, keyB);
      expect((await call('POST', `/v1/lists/${list.id}/members`, { contactIds: [theirs.id] }, keyB)).status).toBe(404);
      // …and A cannot pull B's contact into its own list.
      expect((await call('POST', `/v1/lists/${list.id}/members`, { contactIds: [theirs.id] })).body).toMatchObject({
        changed: 0,
        memberCount: 1,
      });

      expect((await call('GET', `/v1/contacts/${contact.id}`)).body).toMatchObject({ firstName: 'A' });
      expect((await call('GET', `/v1/lists/${list.id}`)).body).toMatchObject({ name: 'A list', memberCount: 1 });
      expect((await call('GET', `/v1/templates/${template.id}`)).body).toMatchObject({ name: 'T' });
      expect((await call('GET', `/v1/senders/${sender.id}`)).body).toMatchObject({ name: 'S', status: 'active' });
      for (const path of ['contacts', 'lists', 'templates', 'senders']) {
        const other = (await call('GET', `/v1/${path}`, undefined, keyB)).body.data.map((x: { id: unknown }) => x.id);
        expect(other, path).not.toContain(
          ({ contacts: contact, lists: list, templates: template, senders: sender } as Record<string, { id: unknown }>)[path]!.id,
        );
      }
    });
  });

  describe('validation', () => {
    it('answers malformed JSON with a MALFORMED_JSON problem', async () => {
      const res = await w.app.inject({
        method: 'POST',
        url: '/v1/contacts',
        headers: { authorization: `Bearer ${keyA}`, 'content-type': 'application/json' },
        payload: '{"email": "a@x.io",',
      });
      expect(res.statusCode).toBe(400);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.json()).toMatchObject({ code: 'MALFORMED_JSON', status: 400 });
    });

    it('names an unknown field', async () => {
      const res = await call('POST', '/v1/contacts', { email: 'a@x.io', nickname: 'Al' });
      expect(res.status).toBe(400);
      expect(res.type).toContain('application/problem+json');
      expect(res.body.code).toBe('VALIDATION_FAILED');
      expect(res.body.detail).toContain('nickname');
      expect(res.body.errors).toContainEqual({ field: 'body/nickname', message: 'is not a known field' });
      const bulk = await call('POST', '/v1/contacts/bulk', { contacts: [{ email: 'a@x.io', listIds: [] }] });
      expect(bulk.body.errors).toContainEqual({ field: 'body/contacts/0/listIds', message: 'is not a known field' });
    });

    it('refuses a wrong type instead of coercing it', async () => {
      const { body: list } = await call('POST', '/v1/lists', { name: 'L' });
      const cases: [string, unknown][] = [
        ['/v1/lists', { name: 42 }],
        ['/v1/contacts', { email: 'not-an-email' }],
        ['/v1/contacts', { attributes: 'x' }],
        [`/v1/lists/${list.id}/members`, { contactIds: ['1'] }],
        ['/v1/senders', { name: 'S', fromEmail: 's@a.io', status: 'paused' }],
      ];
      for (const [url, payload] of cases) {
        const res = await call('POST', url, payload);
        expect(res.status, JSON.stringify(payload)).toBe(400);
        expect(res.body.code).toBe('VALIDATION_FAILED');
      }
      const status = await call('PATCH', `/v1/lists/${list.id}`, { name: '' });
      expect(status.status).toBe(400);
      expect((await call('GET', `/v1/lists/${list.id}`)).body.name).toBe('L');
    });
  });

  describe('templates and senders', () => {
    it('creates, lists, edits and soft-deletes a template', async () => {
      const created = await call('POST', '/v1/templates', { name: 'Welcome', subject: 'Hi {{ contact.firstName }}', html: '<p>Hi</p>' });
      expect(created).toMatchObject({ status: 201, body: { name: 'Welcome', channel: 'email', text: null } });
      const id = created.body.id;
      expect((await call('PATCH', `/v1/templates/${id}`, { text: 'Hi' })).body).toMatchObject({ text: 'Hi', html: '<p>Hi</p>' });
      expect((await call('GET', '/v1/templates')).body.data).toMatchObject([{ id }]);
      expect((await call('DELETE', `/v1/templates/${id}`)).status).toBe(204);
      expect((await call('GET', `/v1/templates/${id}`)).status).toBe(404);
      expect((await call('PATCH', `/v1/templates/${id}`, { text: 'x' })).status).toBe(404);
      expect((await call('GET', '/v1/templates')).body.data).toEqual([]);
    });

    it('pauses and resumes a sender with PATCH, and hides a deleted one', async () => {
      const { body: sender } = await call('POST', '/v1/senders', { name: 'News', fromEmail: 'news@acme.io', fromName: 'Acme' });
      expect(sender.status).toBe('active');
      clock.advance(60_000);
      const paused = await call('PATCH', `/v1/senders/${sender.id}`, { status: 'paused' });
      expect(paused.body).toMatchObject({ status: 'paused', fromName: 'Acme', updatedAt: '2026-01-01T00:01:00.000Z' });
      expect((await call('GET', `/v1/senders/${sender.id}`)).body.status).toBe('paused');
      expect((await call('PATCH', `/v1/senders/${sender.id}`, { status: 'stopped' })).status).toBe(400);
      expect((await call('PATCH', `/v1/senders/${sender.id}`, { status: 'active' })).body.status).toBe('active');
      expect((await call('DELETE', `/v1/senders/${sender.id}`)).status).toBe(204);
      expect((await call('GET', `/v1/senders/${sender.id}`)).status).toBe(404);
      expect((await call('GET', '/v1/senders')).body.data).toEqual([]);
    });

    it('documents every resource route in the OpenAPI document', async () => {
      const res = await w.app.inject({ method: 'GET', url: '/docs/json' });
      const paths = res.json().paths as Record<string, Record<string, { tags?: string[]; summary?: string }>>;
      for (const path of [
        '/v1/contacts',
        '/v1/contacts/bulk',
        '/v1/contacts/{id}',
        '/v1/lists',
        '/v1/lists/{id}',
        '/v1/lists/{id}/members',
        '/v1/templates/{id}',
        '/v1/senders/{id}',
      ]) {
        for (const [method, op] of Object.entries(paths[path] ?? {})) {
          expect(op.summary, `${method} ${path}`).toBeTruthy();
          expect(op.tags, `${method} ${path}`).toHaveLength(1);
        }
        expect(paths[path], path).toBeDefined();
      }
    });
  });
});
