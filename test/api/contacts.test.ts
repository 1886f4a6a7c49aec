import { afterEach, describe, expect, it } from 'vitest';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);
const subscription = {
  endpoint: 'https://fcm.googleapis.com/fcm/send/abc123',
  expirationTime: null,
  keys: {
    p256dh: 'BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM',
    auth: 'tBHItJI5svbpez7KI4CCXg',
  },
};

describe.each(dialects)('contacts through the API (%s)', (dialect) => {
  it('answers a bad email, phone or time zone with a 400 naming each field, and stores nothing', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const res = await t.api('POST', '/v1/contacts', { email: 'ann@', phone: '555 0102', timeZone: 'Mars/Olympus_Mons', firstName: 'Ann' });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.body).toMatchObject({ code: 'VALIDATION_FAILED', status: 400, detail: 'body/email is not a valid email address' });
    expect(res.body.errors).toEqual([
      { field: 'body/email', message: 'is not a valid email address' },
      { field: 'body/phone', message: 'must start with + and the country code (E.164)' },
      { field: 'body/timeZone', message: 'is not an IANA time zone (e.g. Europe/Paris)' },
    ]);

    // One bad contact in a bulk call fails it all, naming the contact and the field.
    const bulk = await t.api('POST', '/v1/contacts/bulk', {
      contacts: [{ email: 'ok@example.test' }, { email: 'also@example.test', phone: '+1 555' }],
    });
    expect(bulk.status).toBe(400);
    expect(bulk.body.errors).toEqual([
      { field: 'body/contacts/1/phone', message: 'is not an E.164 number (+, country code, 7 to 15 digits)' },
    ]);
    expect((await t.api('GET', '/v1/contacts')).body.data).toEqual([]);
    expect((await t.api('GET', '/v1/attributes')).body.data).toEqual([]);
  });

  it('stores every channel address in its normal form', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const res = await t.api('POST', '/v1/contacts', {
      email: ' Ann.Lee@Example.TEST ',
      phone: '+1 (555) 010-2000',
      timeZone: 'europe/paris',
      externalId: 'crm-1',
      telegramChatId: 123456789,
      viberId: '01234567890A=',
      tags: ['vip', 'new', 'vip'],
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      email: 'ann.lee@example.test',
      phone: '+15550102000',
      timeZone: 'Europe/Paris',
      externalId: 'crm-1',
      telegramChatId: '123456789',
      viberId: '01234567890A=',
      tags: ['new', 'vip'],
      attributes: {},
    });
    expect((await t.api('GET', `/v1/contacts/${res.body.id}`)).body).toEqual({ ...res.body, devices: [] });
  });

  it('upserts by externalId first, then email, then phone', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const first = (await t.api('POST', '/v1/contacts', { externalId: 'u-1', email: 'old@example.test', firstName: 'Ann' })).body;
    // The same external id with a new email updates the same contact (its email changes).
    const moved = await t.api('POST', '/v1/contacts', { externalId: 'u-1', email: 'new@example.test', tags: ['moved'] });
    expect(moved.body).toMatchObject({ id: first.id, email: 'new@example.test', firstName: 'Ann', tags: ['moved'] });

    // A contact known by email gets linked to the external id it did not have.
    const byEmail = (await t.api('POST', '/v1/contacts', { email: 'bob@example.test', phone: '+447700900123' })).body;
    const linked = await t.api('POST', '/v1/contacts', { externalId: 'u-2', email: 'BOB@example.test', lastName: 'Stone' });
    expect(linked.body).toMatchObject({ id: byEmail.id, externalId: 'u-2', lastName: 'Stone' });

    // Phone alone names the contact with that phone.
    const byPhone = await t.api('POST', '/v1/contacts', { phone: '+44 7700 900123', firstName: 'Bob' });
    expect(byPhone.body).toMatchObject({ id: byEmail.id, firstName: 'Bob', email: 'bob@example.test' });

    // An external id whose contact would take another contact's email: 409, nothing changes.
    const clash = await t.api('POST', '/v1/contacts', { externalId: 'u-1', email: 'bob@example.test', firstName: 'Nope' });
    expect(clash.status).toBe(409);
    expect(clash.body).toMatchObject({ code: 'CONFLICT' });
    expect(clash.body.errors).toEqual([{ field: 'body/email', message: 'is already the email of another contact', contactId: byEmail.id }]);
    expect((await t.api('GET', `/v1/contacts/${first.id}`)).body.firstName).toBe('Ann');

    // In bulk: a later row of the same contact sees the earlier one; counts say what happened.
    const bulk = await t.api('POST', '/v1/contacts/bulk', {
      contacts: [{ externalId: 'u-3', email: 'cy@example.test' }, { email: 'cy@example.test', firstName: 'Cy' }, { externalId: 'u-1' }],
    });
    expect(bulk.body).toMatchObject({ created: 1, updated: 1 });
    expect(bulk.body.ids[0]).toBe(bulk.body.ids[1]);
    expect(bulk.body.ids[2]).toBe(first.id);
    expect(bulk.body.contacts[1]).toMatchObject({ externalId: 'u-3', firstName: 'Cy' });
    expect((await t.api('GET', '/v1/contacts')).body.data).toHaveLength(3);
  });

  it('upserts a bulk of 1,200 contacts in a fixed handful of statements, however many rows', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const list = (await t.api('POST', '/v1/lists', { name: 'L' })).body;
    const contacts = (offset: number) =>
      Array.from({ length: 1200 }, (_, i) => ({
        email: `u${i + offset}@example.test`,
        externalId: `x${i + offset}`,
        tags: ['t'],
        attributes: { n: i },
      }));
    await t.api('POST', '/v1/contacts/bulk', { contacts: contacts(0), listIds: [list.id] });
    t.queries.length = 0;
    // Half of these exist (updated), half are new.
    const res = await t.api('POST', '/v1/contacts/bulk', { contacts: contacts(600), listIds: [list.id] });
    expect(res.body).toMatchObject({ created: 600, updated: 600, added: 600 });
    const onContacts = t.queries.filter((q) => /\b(contacts|attribute_definitions|list_members|contact_devices)\b/.test(q));
    // Per 500 inputs: one read, one insert, one update (3 chunks); plus types, lists, memberships.
    expect(onContacts.length).toBeLessThanOrEqual(14);
    expect((await t.api('GET', `/v1/lists/${list.id}`)).body.memberCount).toBe(1800);
  });

  it('types custom attributes: declared, inferred on first write, and a wrong type is a 400 naming attributes.<key>', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const declared = await t.api('PUT', '/v1/attributes/birthday', { type: 'date', description: 'Date of birth' });
    expect(declared.status).toBe(201);
    expect(declared.body).toMatchObject({ name: 'birthday', type: 'date', description: 'Date of birth' });

    const bad = await t.api('POST', '/v1/contacts', { email: 'a@example.test', attributes: { birthday: '09/03/1990' } });
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toBe('body/attributes/birthday must be a date YYYY-MM-DD (the attribute is declared date)');
    expect((await t.api('GET', '/v1/contacts')).body.data).toEqual([]);

    const ok = await t.api('POST', '/v1/contacts', {
      email: 'a@example.test',
      attributes: { birthday: '1990-03-09', seats: 3, renewal: '2027-01-31', plan: 'pro', beta: true },
    });
    expect(ok.status).toBe(201);
    const types = (await t.api('GET', '/v1/attributes')).body.data.map((a: { name: string; type: string }) => [a.name, a.type]);
    expect(types).toEqual([
      ['beta', 'boolean'],
      ['birthday', 'date'],
      ['plan', 'string'],
      ['renewal', 'date'],
      ['seats', 'number'],
    ]);

    // The inferred type holds for every later write, PATCH included.
    const patch = await t.api('PATCH', `/v1/contacts/${ok.body.id}`, { attributes: { seats: 'three' } });
    expect(patch.status).toBe(400);
    expect(patch.body.errors).toEqual([{ field: 'body/attributes/seats', message: 'must be a number (the attribute is declared number)' }]);
    expect((await t.api('GET', `/v1/contacts/${ok.body.id}`)).body.attributes.seats).toBe(3);

    // A type change that stored values do not fit is refused; one they fit is allowed.
    expect((await t.api('PUT', '/v1/attributes/seats', { type: 'string' })).status).toBe(409);
    expect((await t.api('PUT', '/v1/attributes/nickname', { type: 'string' })).status).toBe(201);
    const redescribed = await t.api('PUT', '/v1/attributes/birthday', { type: 'date', description: null });
    expect(redescribed).toMatchObject({ status: 200, body: { description: null } });
    expect((await t.api('PUT', '/v1/attributes/x', { type: 'datetime' })).status).toBe(400);

    // Without its declaration, the next write declares the attribute again.
    expect((await t.api('DELETE', '/v1/attributes/seats')).status).toBe(204);
    expect((await t.api('DELETE', '/v1/attributes/seats')).status).toBe(404);
    const retyped = await t.api('PATCH', `/v1/contacts/${ok.body.id}`, { attributes: { seats: 'many', plan: null } });
    expect(retyped.body.attributes).toEqual({ birthday: '1990-03-09', seats: 'many', renewal: '2027-01-31', beta: true });
  });

  it('searches by text, email, phone, external id, tag and list, a page at a time', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const list = (await t.api('POST', '/v1/lists', { name: 'Readers' })).body;
    const contacts = Array.from({ length: 12 }, (_, i) => ({
      email: `user${i}@example.test`,
      firstName: i === 7 ? 'Zoë' : `U${i}`,
      phone: `+1555010${String(i).padStart(4, '0')}`,
      externalId: `ext-${i}`,
      tags: i % 3 === 0 ? ['vip'] : [],
    }));
    const { ids } = (await t.api('POST', '/v1/contacts/bulk', { contacts })).body;
    await t.api('POST', `/v1/lists/${list.id}/members`, { contactIds: ids.slice(0, 4) });
    const found = async (query: string) =>
      (await t.api('GET', `/v1/contacts?${query}`)).body.data.map((c: { email: string }) => Number(c.email.slice(4).split('@')[0]));

    expect(await found('q=zo%C3%AB')).toEqual([7]);
    expect(await found('q=USER1')).toEqual([1, 10, 11]);
    expect(await found(`q=${encodeURIComponent('+1 555 010 0011')}`)).toEqual([11]);
    expect(await found('email=User5@Example.test')).toEqual([5]);
    expect(await found(`phone=${encodeURIComponent('+1 (555) 010-0006')}`)).toEqual([6]);
    expect(await found('externalId=ext-9')).toEqual([9]);
    expect(await found('tag=vip')).toEqual([0, 3, 6, 9]);
    expect(await found(`listId=${list.id}&tag=vip`)).toEqual([0, 3]);

    const first = (await t.api('GET', '/v1/contacts?tag=vip&limit=3')).body;
    expect(first.data).toHaveLength(3);
    const second = (await t.api('GET', `/v1/contacts?tag=vip&limit=3&cursor=${first.nextCursor}`)).body;
    expect(second.data.map((c: { id: number }) => c.id)).toEqual([ids[9]]);
    expect(second.nextCursor).toBeNull();
  });

  it('adds and removes tags in bulk, which segments see at once', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const contacts = Array.from({ length: 5 }, (_, i) => ({ email: `c${i}@example.test`, tags: i < 2 ? ['old'] : [] }));
    const { ids } = (await t.api('POST', '/v1/contacts/bulk', { contacts })).body;
    const res = await t.api('POST', '/v1/contacts/tags', {
      contactIds: [...ids.slice(0, 3), 999999],
      add: ['vip', ' new '],
      remove: ['old'],
    });
    expect(res.body).toEqual({ changed: 3, skipped: 1 });
    expect((await t.api('GET', `/v1/contacts/${ids[0]}`)).body.tags).toEqual(['new', 'vip']);
    expect((await t.api('GET', `/v1/contacts/${ids[4]}`)).body.tags).toEqual([]);
    const estimate = await t.api('POST', '/v1/segments/estimate', { rule: { tag: 'vip' } });
    expect(estimate.body.count).toBe(3);
    const again = await t.api('POST', '/v1/contacts/tags', { contactIds: ids.slice(0, 3), add: ['vip'] });
    expect(again.body).toEqual({ changed: 0, skipped: 3 });
    expect((await t.api('POST', '/v1/contacts/tags', { contactIds: ids, add: [''] })).status).toBe(400);
    // Upsert adds tags; PATCH replaces them.
    expect((await t.api('POST', '/v1/contacts', { email: 'c0@example.test', tags: ['extra'] })).body.tags).toEqual(['extra', 'new', 'vip']);
    expect((await t.api('PATCH', `/v1/contacts/${ids[0]}`, { tags: ['only'] })).body.tags).toEqual(['only']);
    expect((await t.api('PATCH', `/v1/contacts/${ids[0]}`, { tags: null })).body.tags).toEqual([]);
  });

  it('registers push devices with the contact or one at a time, and names a bad one', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const c = (await t.api('POST', '/v1/contacts', { email: 'p@example.test', devices: [subscription] })).body;
    const added = await t.api('POST', `/v1/contacts/${c.id}/devices`, { token: 'fcm-token-1', platform: 'android' });
    expect(added.status).toBe(201);
    expect(added.body).toMatchObject({ kind: 'mobilepush', token: 'fcm-token-1', platform: 'android', status: 'active' });
    const devices = (await t.api('GET', `/v1/contacts/${c.id}/devices`)).body.data;
    expect(devices).toMatchObject([
      { kind: 'webpush', endpoint: subscription.endpoint, keys: subscription.keys, platform: 'web' },
      { kind: 'mobilepush', token: 'fcm-token-1' },
    ]);
    // The contact itself shows its devices; a list of contacts does not carry them.
    expect((await t.api('GET', `/v1/contacts/${c.id}`)).body.devices).toEqual(devices);
    expect((await t.api('GET', '/v1/contacts')).body.data[0].devices).toBeUndefined();

    // The same token registered to another contact moves there.
    const other = (
      await t.api('POST', '/v1/contacts', { email: 'q@example.test', devices: [{ token: 'fcm-token-1', platform: 'android' }] })
    ).body;
    expect((await t.api('GET', `/v1/contacts/${c.id}/devices`)).body.data).toHaveLength(1);
    expect((await t.api('GET', `/v1/contacts/${other.id}/devices`)).body.data).toHaveLength(1);

    const bad = await t.api('POST', `/v1/contacts/${c.id}/devices`, {
      endpoint: 'http://insecure.test/x',
      keys: { p256dh: 'a b', auth: 'x' },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['body/endpoint', 'body/keys/p256dh']);
    const badInContact = await t.api('POST', '/v1/contacts', { email: 'r@example.test', devices: [{ token: 't', platform: 'symbian' }] });
    expect(badInContact.status).toBe(400);

    expect((await t.api('DELETE', `/v1/contacts/${c.id}/devices/${devices[0].id}`)).status).toBe(204);
    expect((await t.api('DELETE', `/v1/contacts/${c.id}/devices/${devices[0].id}`)).status).toBe(404);
    expect((await t.api('GET', `/v1/contacts/${c.id}/devices`)).body.data).toEqual([]);
  });

  it('documents every contact and attribute route, and what the contact fields accept, in the OpenAPI document', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const doc = (await t.herald.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const paths = doc.paths as Record<string, Record<string, { tags?: string[]; summary?: string; requestBody?: any }>>;
    const expected: [string, string[]][] = [
      ['/v1/contacts', ['get', 'post']],
      ['/v1/contacts/bulk', ['post']],
      ['/v1/contacts/tags', ['post']],
      ['/v1/contacts/{id}', ['get', 'patch', 'delete']],
      ['/v1/contacts/{id}/messages', ['get']],
      ['/v1/contacts/{id}/devices', ['get', 'post']],
      ['/v1/contacts/{id}/devices/{deviceId}', ['delete']],
      ['/v1/attributes', ['get']],
      ['/v1/attributes/{name}', ['put', 'delete']],
    ];
    for (const [path, methods] of expected) {
      expect(Object.keys(paths[path] ?? {}).sort(), path).toEqual([...methods].sort());
      for (const method of methods) {
        expect(paths[path]![method]!.summary, `${method} ${path}`).toBeTruthy();
        expect(paths[path]![method]!.tags, `${method} ${path}`).toHaveLength(1);
      }
    }
    const body = paths['/v1/contacts']!.post!.requestBody.content['application/json'].schema;
    for (const field of ['email', 'phone', 'timeZone', 'externalId', 'telegramChatId', 'viberId', 'tags', 'attributes', 'devices'])
      expect(JSON.stringify(body.properties[field]), field).toMatch(/"description"/);
    expect(JSON.stringify(body.properties.phone)).toContain('E.164');
  });

  it('lists a contact’s messages across campaigns, newest first, with campaign, state and attempts', async () => {
    t = await startTestHerald({ dialect });
    const { campaign, listId, templateId, senderId } = await seedCampaign(t.api, { contacts: 3 });
    await act(t.api, campaign.id, 'launch');
    expect((await waitFor(t.api, campaign.id, finished)).status).toBe('completed');
    const second = (await t.api('POST', '/v1/campaigns', { name: 'Second', templateId, senderId, audience: { listIds: [listId] } })).body;
    await act(t.api, second.id, 'launch');
    expect((await waitFor(t.api, second.id, finished)).status).toBe('completed');

    const reader = (await t.api('GET', '/v1/contacts?email=reader1@example.test')).body.data[0];
    const history = await t.api('GET', `/v1/contacts/${reader.id}/messages`);
    expect(history.status).toBe(200);
    expect(history.body.data).toMatchObject([
      {
        campaignId: second.id,
        campaignName: 'Second',
        runNumber: 1,
        channel: 'email',
        state: 'sent',
        address: 'reader1@example.test',
        attempts: 1,
      },
      { campaignId: campaign.id, campaignName: 'Campaign', state: 'sent', errorCode: null },
    ]);
    expect(history.body.data[0].sentAt).toEqual(expect.any(String));

    const page = (await t.api('GET', `/v1/contacts/${reader.id}/messages?limit=1`)).body;
    expect(page.data.map((m: { campaignId: string }) => m.campaignId)).toEqual([second.id]);
    const rest = (await t.api('GET', `/v1/contacts/${reader.id}/messages?limit=1&cursor=${page.nextCursor}`)).body;
    expect(rest.data.map((m: { campaignId: string }) => m.campaignId)).toEqual([campaign.id]);
    expect(rest.nextCursor).toBeNull();

    const stranger = (await t.api('POST', '/v1/contacts', { email: 'new@example.test' })).body;
    expect((await t.api('GET', `/v1/contacts/${stranger.id}/messages`)).body.data).toEqual([]);
    expect((await t.api('GET', '/v1/contacts/999999/messages')).status).toBe(404);
  });
});
