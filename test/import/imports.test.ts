import { parse } from 'csv-parse/sync';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Import } from '../../src/domain/import.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

/** A file with good rows, a bad row of each kind, a quoted field over two lines, and a duplicate. */
const file = [
  'email,phone,first_name,last_name,time_zone,external_id,tags,plan', // 1
  'ann@example.test,+14155550101,Ann,Lee,Europe/Paris,crm-1,vip;news,pro', // 2
  'not-an-email,+14155550102,Bob,,,crm-2,,free', // 3  bad email
  'cy@example.test,555-0103,Cy,,,crm-3,,free', // 4  bad phone
  'di@example.test,+14155550104,Di,,Mars/Olympus,crm-4,,free', // 5  bad zone
  'ed@example.test,+14155550105,"Ed', // 6  a quoted name over two lines…
  'Junior",,America/New_York,crm-5,news,pro', // 7  …so the next row starts on line 8
  'fay@example.test,+14155550106,Fay,,,crm-6,,free,extra', // 8  one field too many
  ',,Nobody,,,,,free', // 9  nothing to find the contact by
  '', // 10 an empty line
  'ANN@example.test,,Ann,Lee-Smith,,,friends,pro', // 11 Ann again (email differs in case): updates her
  'gus@example.test,,Gus,,UTC,crm-7,,', // 12
].join('\n');

const bad = [
  { line: 3, field: 'email' },
  { line: 4, field: 'phone' },
  { line: 5, field: 'timeZone' },
  { line: 8, field: null },
  { line: 9, field: null },
];

async function upload(t: TestHerald, csv: string, query: string): Promise<Import> {
  const r = await t.api<Import>('POST', `/v1/imports?${query}`, csv, { 'content-type': 'text/csv' });
  expect(r.status, JSON.stringify(r.body)).toBe(202);
  expect(r.headers.location).toBe(`/v1/imports/${r.body.id}`);
  return r.body;
}

async function finished(t: TestHerald, id: string): Promise<Import> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const r = await t.api<Import>('GET', `/v1/imports/${id}`);
    if (r.body.status !== 'running') return r.body;
    if (Date.now() > deadline) throw new Error(`import still running: ${JSON.stringify(r.body)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function csvOf(t: TestHerald, url: string): Promise<{ status: number; type: string; rows: Record<string, string>[] }> {
  const res = await t.herald.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${t.key}` } });
  return {
    status: res.statusCode,
    type: String(res.headers['content-type']),
    rows: res.statusCode === 200 ? parse(res.body, { columns: true }) : [],
  };
}

describe.each(dialects)('CSV import and export through the API (%s)', (dialect) => {
  let t: TestHerald;
  beforeEach(async () => {
    t = await startTestHerald({ dialect });
  });
  afterEach(async () => t.close());

  it('imports the good rows, reports every bad line with its number and reason, and a re-import changes nothing', async () => {
    const first = await finished(t, (await upload(t, file, 'list=Newsletter&filename=people.csv')).id);
    expect(first).toMatchObject({
      status: 'completed',
      filename: 'people.csv',
      rowsRead: 9, // the empty line is not a row; Ed's two lines are one
      rowsImported: 4,
      rowsInvalid: 5,
      created: 3, // Ann, Ed and Gus: Ann's second row updates the contact her first created
      updated: 0,
      error: null,
    });
    expect(first.mapping).toMatchObject({ email: 'email', first_name: 'firstName', plan: 'attributes.plan', tags: 'tags' });

    const errors = await t.api('GET', `/v1/imports/${first.id}/errors`);
    expect(errors.body.data.map((e: { line: number; field: string | null }) => ({ line: e.line, field: e.field }))).toEqual(bad);
    expect(errors.body.data[0].reason).toMatch(/email is not a valid email address/);
    expect(errors.body.data[2].reason).toMatch(/IANA/);
    expect(errors.body.data[3].reason).toMatch(/9 fields; the header has 8/);
    // Paginated by line.
    const page1 = await t.api('GET', `/v1/imports/${first.id}/errors?limit=2`);
    expect(page1.body.data.map((e: { line: number }) => e.line)).toEqual([3, 4]);
    const page2 = await t.api('GET', `/v1/imports/${first.id}/errors?limit=2&cursor=${page1.body.nextCursor}`);
    expect(page2.body.data.map((e: { line: number }) => e.line)).toEqual([5, 8]);

    const contacts = await t.api('GET', '/v1/contacts?limit=100');
    expect(contacts.body.data).toHaveLength(3);
    const ann = contacts.body.data.find((c: { email: string }) => c.email === 'ann@example.test');
    expect(ann).toMatchObject({
      phone: '+14155550101',
      firstName: 'Ann',
      lastName: 'Lee-Smith',
      timeZone: 'Europe/Paris',
      attributes: { plan: 'pro' },
    });
    const ed = contacts.body.data.find((c: { email: string }) => c.email === 'ed@example.test');
    expect(ed.firstName).toBe('Ed\nJunior');
    const lists = await t.api('GET', '/v1/lists');
    const newsletter = lists.body.data.find((l: { name: string }) => l.name === 'Newsletter');
    expect(newsletter.memberCount).toBe(3);

    const again = await finished(t, (await upload(t, file, `listId=${newsletter.id}`)).id);
    expect(again).toMatchObject({
      status: 'completed',
      rowsRead: 9,
      rowsImported: 4,
      rowsInvalid: 5,
      created: 0,
      updated: 0,
      unchanged: 4,
    });
    expect((await t.api('GET', '/v1/contacts?limit=100')).body.data).toEqual(contacts.body.data);
    expect((await t.api('GET', `/v1/lists/${newsletter.id}`)).body.memberCount).toBe(3);

    // A real change is an update; the absent columns keep what is stored, tags are added.
    const changed = await finished(t, (await upload(t, 'external_id,last_name,tags\ncrm-1,Lee-Jones,gold\ncrm-7,,\n', '')).id);
    expect(changed).toMatchObject({ status: 'completed', rowsImported: 2, created: 0, updated: 1, unchanged: 1 });
    const annNow = (await t.api('GET', `/v1/contacts/${ann.id}`)).body;
    expect(annNow).toMatchObject({ email: 'ann@example.test', firstName: 'Ann', lastName: 'Lee-Jones', attributes: { plan: 'pro' } });

    const all = await t.api('GET', '/v1/imports');
    expect(all.body.data.map((i: Import) => i.id)).toEqual([first.id, again.id, changed.id]);
  });

  it('maps headers explicitly, refuses a file without a key column, and 404s an unknown list', async () => {
    const mapped = await finished(
      t,
      (
        await upload(
          t,
          'E-Mail,Kundennummer,Vorname\nzoe@example.test,K-1,Zoë\n',
          'map=E-Mail%3Demail&map=Kundennummer%3DexternalId&map=Vorname%3DfirstName',
        )
      ).id,
    );
    expect(mapped).toMatchObject({
      status: 'completed',
      created: 1,
      mapping: { 'E-Mail': 'email', Kundennummer: 'externalId', Vorname: 'firstName' },
    });

    const keyless = await finished(t, (await upload(t, 'name,plan\nZoë,pro\n', '')).id);
    expect(keyless.status).toBe('failed');
    expect(keyless.error).toMatch(/No column maps to email, phone or externalId/);

    const r = await t.api('POST', '/v1/imports?listId=lst_nope', 'email\na@example.test\n', { 'content-type': 'text/csv' });
    expect(r.status).toBe(404);
    const wrongType = await t.api('POST', '/v1/imports', { email: 'a@example.test' });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body.detail).toMatch(/text\/csv/);
    expect((await t.api('GET', '/v1/imports/imp_nope')).status).toBe(404);
  });

  it('exports contacts to CSV that imports back unchanged, and a campaign’s recipients', async () => {
    await finished(t, (await upload(t, file, 'list=Newsletter')).id);
    const listId = (await t.api('GET', '/v1/lists')).body.data[0].id as string;
    const exported = await csvOf(t, `/v1/contacts/export.csv?listId=${listId}`);
    expect(exported.status).toBe(200);
    expect(exported.type).toMatch(/^text\/csv/);
    expect(exported.rows).toHaveLength(3);
    expect(exported.rows.find((r) => r.email === 'ann@example.test')).toMatchObject({
      phone: '+14155550101',
      first_name: 'Ann',
      last_name: 'Lee-Smith',
      time_zone: 'Europe/Paris',
      external_id: 'crm-1',
      tags: 'friends;news;vip',
      plan: 'pro',
    });
    const res = await t.herald.app.inject({ method: 'GET', url: '/v1/contacts/export.csv', headers: { authorization: `Bearer ${t.key}` } });
    const back = await finished(t, (await upload(t, res.body, 'list=Newsletter')).id);
    expect(back).toMatchObject({ status: 'completed', rowsRead: 3, rowsInvalid: 0, created: 0, updated: 0, unchanged: 3 });
    expect((await csvOf(t, '/v1/contacts/export.csv')).rows).toEqual(exported.rows);
    expect((await csvOf(t, '/v1/contacts/export.csv?listId=lst_nope')).status).toBe(404);

    const { campaign } = await seedCampaign(t.api, { contacts: 3 });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    const recipients = await csvOf(t, `/v1/campaigns/${campaign.id}/recipients.csv`);
    expect(recipients.status).toBe(200);
    expect(recipients.rows).toHaveLength(3);
    expect(recipients.rows[0]).toMatchObject({
      email: 'reader0@example.test',
      address: 'reader0@example.test',
      state: 'sent',
      attempts: '1',
      error_code: '',
    });
    expect(recipients.rows[0]!.sent_at).not.toBe('');
    expect((await csvOf(t, '/v1/campaigns/cmp_nope/recipients.csv')).status).toBe(404);
  });
});
