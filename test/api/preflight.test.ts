import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { dialects } from '../dialects.js';
import { type Api, type TestHerald, act, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

/** Two lists of plan-tagged contacts, segments over the plan, a template and a sender. */
async function workspace(api: Api) {
  const lists = [];
  for (const name of ['Spring', 'Autumn']) lists.push((await api('POST', '/v1/lists', { name })).body.id as string);
  const contacts = Array.from({ length: 12 }, (_, i) => ({
    email: `p${i}@example.test`,
    attributes: { plan: i % 3 === 0 ? 'pro' : 'free' },
  }));
  await api('POST', '/v1/contacts/bulk', { contacts: contacts.slice(0, 6), listIds: [lists[0]] });
  await api('POST', '/v1/contacts/bulk', { contacts: contacts.slice(6), listIds: [lists[1]] });
  const segment = async (name: string, rule: unknown) => (await api('POST', '/v1/segments', { name, rule })).body.id as string;
  const pros = await segment('Pros', { attribute: 'attributes.plan', op: 'eq', value: 'pro' });
  const paying = await segment('Any plan', { attribute: 'attributes.plan', op: 'in', value: ['pro', 'free'] });
  const template = (await api('POST', '/v1/templates', { name: 'T', subject: 'Hi', html: '<p>Hi</p>' })).body.id as string;
  const sender = (await api('POST', '/v1/senders', { name: 'S', fromEmail: 'news@example.test' })).body.id as string;
  const campaign = async (audience: Record<string, unknown>, extra: Record<string, unknown> = {}) => {
    const res = await api('POST', '/v1/campaigns', { name: 'C', templateId: template, senderId: sender, audience, ...extra });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };
  return { lists, pros, paying, campaign };
}

/** The reasons a refused action answered with, or those a launch that could not start left on the campaign. */
const reasonsOf = (body: { reasons?: { code: string; detail: string }[]; failureReasons?: { code: string; detail: string }[] }) =>
  body.reasons ?? body.failureReasons ?? [];
const codesOf = (body: Parameters<typeof reasonsOf>[0]) =>
  reasonsOf(body)
    .map((r) => r.code)
    .sort();

describe.each(dialects)('preflight and the audience estimate through the API (%s)', (dialect) => {
  it('a campaign whose list was deleted and whose include and exclude cancel out fails at launch with both reasons', async () => {
    t = await startTestHerald({ dialect });
    const w = await workspace(t.api);
    // Pros minus "any plan": every pro is excluded again, whatever the contacts hold.
    const id = await w.campaign({ listIds: w.lists, segmentIds: [w.pros], excludeSegmentIds: [w.paying] });
    expect((await t.api('DELETE', `/v1/lists/${w.lists[0]}`)).status).toBe(204);

    const refused = await act(t.api, id, 'launch');
    expect(refused.status).toBe(200);
    expect(refused.body).toMatchObject({ status: 'failed', counts: { total: 0 } });
    expect(codesOf(refused.body)).toEqual(['AUDIENCE_CONFLICT', 'LIST_DELETED']);
    expect(reasonsOf(refused.body).find((r) => r.code === 'LIST_DELETED')!.detail).toContain(w.lists[0]);
    expect(
      reasonsOf(refused.body)
        .map((r) => r.detail)
        .join(' '),
    ).toMatch(/deleted.*exclude segments remove all 2 contacts/s);
    // Retry runs preflight again: still broken, it answers why and changes nothing.
    const retry = await act(t.api, id, 'retry');
    expect(retry.status).toBe(422);
    expect(retry.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(retry.body).toMatchObject({ code: 'PREFLIGHT_FAILED', status: 422 });
    expect(codesOf(retry.body)).toEqual(['AUDIENCE_CONFLICT', 'LIST_DELETED']);
    expect((await t.api('GET', `/v1/campaigns/${id}`)).body).toMatchObject({ status: 'failed', version: refused.body.version });

    // Rules that cancel out by themselves are found even when no list is left to count.
    const same = await w.campaign({ listIds: [w.lists[1]], segmentIds: [w.pros], excludeSegmentIds: [w.pros] });
    await t.api('DELETE', `/v1/lists/${w.lists[1]}`);
    const both = await act(t.api, same, 'launch');
    expect(both.body.status).toBe('failed');
    expect(codesOf(both.body)).toEqual(['AUDIENCE_CONFLICT', 'LIST_DELETED']);
  });

  it('a scheduled campaign that fails preflight when it comes due goes to failed with every reason', async () => {
    const clock = new ManualClock('2030-05-01T09:00:00Z');
    t = await startTestHerald({ dialect, clock });
    const w = await workspace(t.api);
    const id = await w.campaign({ listIds: w.lists, segmentIds: [w.pros], excludeSegmentIds: [w.paying] });
    const conflict = await act(t.api, id, 'schedule', { sendAt: '2030-05-01T10:00:00Z' });
    expect(codesOf(conflict.body)).toEqual(['AUDIENCE_CONFLICT']);

    // An exclude segment that removes nobody yet: the campaign passes and waits for its time.
    const later = (await t.api('POST', '/v1/segments', { name: 'Later', rule: { attribute: 'attributes.plan', op: 'eq', value: 'gold' } }))
      .body;
    const fine = await w.campaign({ listIds: w.lists, segmentIds: [w.pros], excludeSegmentIds: [later.id] });
    expect((await act(t.api, fine, 'schedule', { sendAt: '2030-05-01T10:00:00Z' })).body.status).toBe('scheduled');
    // Then the audience breaks: one list is deleted, and the exclusion comes to remove every pro.
    await t.api('DELETE', `/v1/lists/${w.lists[0]}`);
    await t.api('PATCH', `/v1/segments/${later.id}`, { rule: { attribute: 'attributes.plan', op: 'in', value: ['pro', 'gold'] } });
    clock.set('2030-05-01T10:00:00Z');
    const failed = await waitFor(t.api, fine, (c) => c.status === 'failed');
    expect(failed.failureReasons.map((r) => r.code).sort()).toEqual(['AUDIENCE_CONFLICT', 'LIST_DELETED']);
    expect(failed.allowedActions).toEqual(expect.arrayContaining(['retry']));
  });

  it('reports NO_ADDRESS_FOR_CHANNEL, SEGMENT_EMPTY and AUDIENCE_EMPTY', async () => {
    t = await startTestHerald({ dialect });
    const w = await workspace(t.api);
    const phones = (await t.api('POST', '/v1/lists', { name: 'Phones' })).body.id;
    const phoneOnly = Array.from({ length: 4 }, (_, i) => ({ phone: `+4915100000${String(i).padStart(3, '0')}` }));
    await t.api('POST', '/v1/contacts/bulk', { contacts: phoneOnly, listIds: [phones] });

    const noEmail = await act(t.api, await w.campaign({ listIds: [phones] }), 'launch');
    expect(noEmail.body.status).toBe('failed');
    expect(reasonsOf(noEmail.body)).toEqual([
      { code: 'NO_ADDRESS_FOR_CHANNEL', detail: 'None of the 4 contacts of the audience has an address for email.', count: 4 },
    ]);

    // Some without an address is no reason to refuse: they are skipped (the estimate counts them).
    const mixed = await w.campaign({ listIds: [phones, w.lists[0]] });
    expect((await t.api('GET', `/v1/campaigns/${mixed}/audience/estimate`)).body).toMatchObject({
      selected: 10,
      willSend: 6,
      noAddress: 4,
    });
    expect((await act(t.api, mixed, 'launch')).status).toBe(200);
    expect(await waitFor(t.api, mixed, (c) => c.status === 'completed')).toMatchObject({ counts: { total: 6, sent: 6 } });

    const empty = (await t.api('POST', '/v1/lists', { name: 'Empty' })).body.id;
    expect(codesOf((await act(t.api, await w.campaign({ listIds: [empty] }), 'launch')).body)).toEqual(['AUDIENCE_EMPTY']);
    const nobodyOnPhones = await act(t.api, await w.campaign({ listIds: [phones], segmentIds: [w.pros] }), 'launch');
    expect(codesOf(nobodyOnPhones.body)).toEqual(['AUDIENCE_EMPTY', 'SEGMENT_EMPTY']);

    // Everyone with an address suppressed: nothing would go out.
    const spring = await w.campaign({ listIds: [w.lists[0]] });
    await t.api('POST', '/v1/suppressions', { suppressions: [0, 1, 2, 3, 4, 5].map((i) => ({ address: `p${i}@example.test` })) });
    const allSuppressed = await act(t.api, spring, 'launch');
    expect(reasonsOf(allSuppressed.body)).toEqual([{ code: 'AUDIENCE_EMPTY', detail: expect.stringContaining('suppression list') }]);
  });

  it('estimates a campaign before launch: would send, suppressed, without address, a sample; and the launch agrees', async () => {
    t = await startTestHerald({ dialect });
    const w = await workspace(t.api);
    await t.api('POST', '/v1/contacts/bulk', {
      contacts: [{ phone: '+4915100000999', attributes: { plan: 'pro' } }],
      listIds: [w.lists[1]],
    });
    await t.api('POST', '/v1/suppressions', { suppressions: [{ address: 'p6@example.test' }, { address: 'p3@example.test' }] });
    // Pros (0, 3, 6, 9, and the phone-only contact) on both lists.
    const id = await w.campaign({ listIds: w.lists, segmentIds: [w.pros] });

    const estimate = await t.api('GET', `/v1/campaigns/${id}/audience/estimate?sample=1`);
    expect(estimate.status).toBe(200);
    expect(estimate.body).toEqual({
      campaignId: id,
      channel: 'email',
      selected: 5,
      willSend: 2,
      suppressed: 2,
      noAddress: 1,
      sample: [{ id: expect.any(Number), email: 'p0@example.test', phone: null, address: 'p0@example.test' }],
      // Email is free unless the workspace prices it; the estimate still says what it would cost.
      cost: expect.objectContaining({ unit: 'message', price: 0, messages: 2, estimate: 0, shortfall: 0 }),
    });
    const full = (await t.api('GET', `/v1/campaigns/${id}/audience/estimate`)).body.sample.map((s: { email: string }) => s.email);
    expect(full).toEqual(['p0@example.test', 'p9@example.test']);
    expect((await t.api('GET', `/v1/campaigns/${id}/audience/estimate?sample=51`)).status).toBe(400);
    expect((await t.api('GET', '/v1/campaigns/cmp_nope/audience/estimate')).status).toBe(404);

    await act(t.api, id, 'launch');
    const done = await waitFor(t.api, id, (c) => c.status === 'completed');
    expect(done.counts).toMatchObject({ total: 4, sent: 2, suppressed: 2 });
  });
});
