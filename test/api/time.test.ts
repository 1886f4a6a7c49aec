import { afterEach, describe, expect, it } from 'vitest';
import type { CalendarEntry } from '../../src/domain/calendar.js';
import { ManualClock } from '../../src/engine/clock.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe.each(dialects)('calendar and events (%s)', (dialect) => {
  it('GET /v1/calendar lists runs, scheduled sends, recurring occurrences in the range and automations’ expected sends; no drafts without a time', async () => {
    const clock = new ManualClock('2026-03-02T08:00:00Z');
    t = await startTestHerald({ dialect, clock });
    await t.api('PATCH', '/v1/workspace', { timeZone: 'Europe/Paris' });
    const { campaign: sent, listId, templateId, senderId } = await seedCampaign(t.api, { contacts: 3, campaign: { name: 'Sent now' } });
    await act(t.api, sent.id, 'launch');
    await waitFor(t.api, sent.id, (c) => c.status === 'completed');
    const base = { templateId, senderId, audience: { listIds: [listId] } };
    const scheduled = (
      await t.api('POST', '/v1/campaigns', { ...base, name: 'Spring sale', description: 'Up to 30%', sendAt: '2026-03-05T10:00' })
    ).body;
    await act(t.api, scheduled.id, 'schedule');
    const weekly = (
      await t.api('POST', '/v1/campaigns', { ...base, name: 'Weekly digest', kind: 'recurring', recurrence: { cron: '0 9 * * 1' } })
    ).body;
    await act(t.api, weekly.id, 'schedule');
    await t.api('POST', '/v1/campaigns', { ...base, name: 'Idea, no time yet' });
    await t.api('PATCH', `/v1/contacts/${(await t.api('GET', '/v1/contacts?limit=1')).body.data[0].id}`, {
      attributes: { birthday: '1990-03-10' },
    });
    const birthday = (
      await t.api('POST', '/v1/campaigns', {
        ...base,
        name: 'Birthday',
        kind: 'automation',
        trigger: { type: 'date_anniversary', attribute: 'birthday', hour: 9 },
      })
    ).body;
    await act(t.api, birthday.id, 'publish');

    const res = await t.api('GET', '/v1/calendar?from=2026-03-01T00:00:00Z&to=2026-04-01T00:00:00Z');
    expect(res.status).toBe(200);
    const entries = res.body.data as CalendarEntry[];
    const names = entries.map((e) => `${e.name}|${e.entry}|${e.atLocal}`);
    expect(names).toEqual([
      'Sent now|run|2026-03-02T09:00:00+01:00',
      // 09:00 in Paris is now: the rule's next occurrence is the following Monday.
      'Spring sale|scheduled|2026-03-05T10:00:00+01:00',
      'Weekly digest|occurrence|2026-03-09T09:00:00+01:00',
      'Birthday|automation|2026-03-10T09:00:00+01:00',
      'Weekly digest|occurrence|2026-03-16T09:00:00+01:00',
      'Weekly digest|occurrence|2026-03-23T09:00:00+01:00',
      // Paris is on summer time from 29 March.
      'Weekly digest|occurrence|2026-03-30T09:00:00+02:00',
    ]);
    expect(entries.find((e) => e.name === 'Spring sale')).toMatchObject({
      channel: 'email',
      status: 'scheduled',
      launchType: 'scheduled',
      description: 'Up to 30%',
      at: '2026-03-05T09:00:00.000Z',
    });
    expect(entries.find((e) => e.entry === 'automation')).toMatchObject({ expected: 1, launchType: 'triggered', status: 'live' });
    expect(entries.find((e) => e.entry === 'run')).toMatchObject({ status: 'completed', runNumber: 1 });

    const bad = await t.api('GET', '/v1/calendar?from=2026-04-01T00:00:00Z&to=2026-03-01T00:00:00Z');
    expect(bad).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    expect((await t.api('GET', '/v1/calendar?from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z')).status).toBe(400);
  });

  it('POST /v1/events lets a contact into live automations for that event, once a day and under the frequency cap', async () => {
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    t = await startTestHerald({ dialect, clock });
    const { listId, templateId, senderId } = await seedCampaign(t.api, { contacts: 2 });
    const outsider = (await t.api('POST', '/v1/contacts', { email: 'outsider@example.test' })).body;
    const automation = (
      await t.api('POST', '/v1/campaigns', {
        name: 'Cart reminder',
        kind: 'automation',
        templateId,
        senderId,
        audience: { listIds: [listId] },
        trigger: { type: 'event', name: 'cart_abandoned' },
        pacing: { frequencyCapDays: 3 },
      })
    ).body;
    const event = { contact: { email: 'Reader0@example.test' }, name: 'cart_abandoned', properties: { total: 42 } };
    // A draft automation reacts to nothing.
    expect((await t.api('POST', '/v1/events', event)).body).toMatchObject({ automations: [] });
    expect((await act(t.api, automation.id, 'publish')).body.status).toBe('live');

    const first = await t.api('POST', '/v1/events', event);
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ name: 'cart_abandoned', automations: [{ campaignId: automation.id, queued: true, reason: null }] });
    await waitFor(t.api, automation.id, (c) => c.counts.sent === 1);
    // The same day again, and two days later: the cap holds; four days later it lets the contact in again.
    expect((await t.api('POST', '/v1/events', event)).body.automations[0]).toMatchObject({ queued: false, reason: 'FREQUENCY_CAP' });
    clock.advance(2 * 86_400_000);
    expect((await t.api('POST', '/v1/events', event)).body.automations[0]).toMatchObject({ queued: false, reason: 'FREQUENCY_CAP' });
    clock.advance(2 * 86_400_000);
    expect((await t.api('POST', '/v1/events', event)).body.automations[0]).toMatchObject({ queued: true });
    await waitFor(t.api, automation.id, (c) => c.counts.sent === 2);
    // Entry conditions: the contact must be in the automation's audience.
    const outside = await t.api('POST', '/v1/events', { contact: { id: outsider.id }, name: 'cart_abandoned' });
    expect(outside.body.automations[0]).toMatchObject({ queued: false, reason: 'NOT_IN_AUDIENCE' });
    // Other events and unknown contacts.
    expect((await t.api('POST', '/v1/events', { ...event, name: 'signed_up' })).body.automations).toEqual([]);
    expect((await t.api('POST', '/v1/events', { contact: { email: 'nobody@example.test' }, name: 'x' })).status).toBe(404);
    expect((await t.api('POST', '/v1/events', { contact: {}, name: 'x' })).status).toBe(400);

    // Unpublished: the event lets nobody in; the ledger shows one run per day a contact entered.
    await act(t.api, automation.id, 'unpublish');
    clock.advance(5 * 86_400_000);
    expect((await t.api('POST', '/v1/events', event)).body.automations).toEqual([]);
    const runs = (await t.api('GET', `/v1/campaigns/${automation.id}/runs`)).body.data;
    expect(runs.map((r: { counts: { sent: number } }) => r.counts.sent)).toEqual([1, 1]);
    expect(t.herald.mailbox!.summary({ campaignId: automation.id })).toEqual({ received: 2, unique: 2, duplicates: 0 });
  });

  it('an event’s name and properties reach the template of the message it queued; oversized properties are a 400', async () => {
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    t = await startTestHerald({ dialect, clock });
    const { listId, senderId } = await seedCampaign(t.api, { contacts: 2 });
    const template = (
      await t.api('POST', '/v1/templates', {
        name: 'Cart',
        subject:
          '{{ event.name }}: {{ event.properties.items | size }} items, {{ event.properties.total }} {{ event.properties.currency | default: "EUR" }}',
        html: '<p>{% for item in event.properties.items %}{{ item.sku }} {% endfor %}</p>',
      })
    ).body;
    const automation = (
      await t.api('POST', '/v1/campaigns', {
        name: 'Cart reminder',
        kind: 'automation',
        templateId: template.id,
        senderId,
        audience: { listIds: [listId] },
        trigger: { type: 'event', name: 'cart_abandoned' },
      })
    ).body;
    await act(t.api, automation.id, 'publish');
    const items = [{ sku: 'A-1' }, { sku: 'B-2' }];
    const events = [
      { contact: { email: 'reader0@example.test' }, name: 'cart_abandoned', properties: { total: 42, items } },
      { contact: { email: 'reader1@example.test' }, name: 'cart_abandoned', properties: { total: 7.5, currency: 'USD', items: [] } },
    ];
    for (const event of events) expect((await t.api('POST', '/v1/events', event)).body.automations[0]).toMatchObject({ queued: true });
    await waitFor(t.api, automation.id, (c) => c.counts.sent === 2);
    const received = t.herald.mailbox!.latest({ campaignId: automation.id, limit: 10 });
    expect(Object.fromEntries(received.map((m) => [m.to[0], m.subject]))).toEqual({
      'reader0@example.test': 'cart_abandoned: 2 items, 42 EUR',
      'reader1@example.test': 'cart_abandoned: 0 items, 7.5 USD',
    });
    expect(received.find((m) => m.to[0] === 'reader0@example.test')!.raw).toContain('A-1 B-2');

    const huge = { contact: { email: 'reader0@example.test' }, name: 'cart_abandoned', properties: { blob: 'x'.repeat(20_000) } };
    const tooBig = await t.api('POST', '/v1/events', huge);
    expect(tooBig).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED', errors: [{ field: 'body/properties' }] } });
  });

  it('a segment-entry automation lets in contacts who newly match, not those already in at publish, once a day', async () => {
    const clock = new ManualClock('2026-05-01T10:00:00Z');
    t = await startTestHerald({ dialect, clock });
    const { listId, templateId, senderId } = await seedCampaign(t.api, { contacts: 4 });
    const ids = ((await t.api('GET', '/v1/contacts?limit=10')).body.data as { id: number }[]).map((c) => c.id);
    const [a, b, c, d] = ids as [number, number, number, number];
    const tag = (add: number[], remove: number[] = []) =>
      t!.api('POST', '/v1/contacts/tags', {
        contactIds: [...add, ...remove],
        add: add.length ? ['vip'] : [],
        remove: remove.length ? ['vip'] : [],
      });
    await t.api('POST', '/v1/contacts/tags', { contactIds: [a, b], add: ['vip'] });
    const segment = (await t.api('POST', '/v1/segments', { name: 'VIP', rule: { tag: 'vip' } })).body;
    const automation = (
      await t.api('POST', '/v1/campaigns', {
        name: 'Welcome to VIP',
        kind: 'automation',
        templateId,
        senderId,
        audience: { listIds: [listId] },
        trigger: { type: 'segment_entry', segmentId: segment.id },
      })
    ).body;
    await act(t.api, automation.id, 'publish');
    // How many messages a pass two minutes later queues. The engine's own loop evaluates
    // automations too and may get there first, so the ledger is counted, not the tick's answer.
    const messages = async () => (await t!.herald.db.selectFrom('messages').select('id').execute()).length;
    const step = async () => {
      const before = await messages();
      clock.advance(2 * 60_000);
      await t!.herald.automations.tick();
      t!.herald.engine.notify();
      await waitFor(t!.api, automation.id, (x) => x.counts.pending === 0 && x.counts.inFlight === 0);
      return (await messages()) - before;
    };
    expect(await step()).toBe(0); // a and b were in the segment at publish
    await tag([c]);
    expect(await step()).toBe(1);
    expect(await step()).toBe(0);
    // Leaving and entering again: a enters (a first message), c enters again the same day (not a second one).
    await tag([], [a, c]);
    expect(await step()).toBe(0);
    await tag([a, c]);
    expect(await step()).toBe(1);
    const sent = await t.herald.db.selectFrom('messages').select(['contact_id', 'state']).orderBy('contact_id').execute();
    expect(sent).toEqual([
      { contact_id: a, state: 'sent' },
      { contact_id: c, state: 'sent' },
    ]);
    // While unpublished nobody enters; published again, those who came meanwhile are already in.
    await act(t.api, automation.id, 'unpublish');
    await tag([d]);
    expect(await step()).toBe(0);
    await act(t.api, automation.id, 'publish');
    expect(await step()).toBe(0);
    expect(await step()).toBe(0);
    expect(t.herald.mailbox!.summary({ campaignId: automation.id })).toEqual({ received: 2, unique: 2, duplicates: 0 });
  });

  it('refuses a trigger on a broadcast and a launch type that does not fit the kind; the OpenAPI document shows the time routes', async () => {
    t = await startTestHerald({ dialect });
    const doc = (await t.herald.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/calendar', '/v1/events', '/v1/campaigns/{id}/runs']));
    const created = JSON.stringify(doc.paths['/v1/campaigns'].post);
    for (const field of ['recurrence', 'delivery', 'trigger', 'segment_entry', 'quietHours', 'frequencyCapDays'])
      expect(created).toContain(field);
    expect(JSON.stringify(doc.paths['/v1/workspace'].patch)).toContain('scheduleGraceMinutes');
    const bad = await t.api('POST', '/v1/campaigns', { name: 'x', kind: 'broadcast', trigger: { type: 'event', name: 'e' } });
    expect(bad).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    const wrong = await t.api('POST', '/v1/campaigns', { name: 'x', launchType: 'recurring' });
    expect(wrong).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
    const cron = await t.api('POST', '/v1/campaigns', { name: 'x', kind: 'recurring', recurrence: { cron: '61 * * * *' } });
    expect(cron).toMatchObject({ status: 400, body: { code: 'VALIDATION_FAILED' } });
  });
});
