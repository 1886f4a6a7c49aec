import { afterEach, describe, expect, it } from 'vitest';
import { createApiKey, createWorkspace } from '../../src/store/workspaces.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, apiFor, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

describe.each(dialects)('segments through the API (%s)', (dialect) => {
  it('saves a rule, estimates who it selects, and names the bad node of a malformed one', async () => {
    t = await startTestHerald({ dialect });
    const contacts = Array.from({ length: 30 }, (_, i) => ({
      email: `c${i}@example.test`,
      firstName: `C${i}`,
      tags: i % 5 === 0 ? ['vip'] : [],
      attributes: { plan: i % 3 === 0 ? 'pro' : 'free', score: i },
    }));
    expect((await t.api('POST', '/v1/contacts/bulk', { contacts })).status).toBe(200);

    const rule = {
      and: [
        { attribute: 'attributes.plan', op: 'eq', value: 'pro' },
        { attribute: 'attributes.score', op: 'gte', value: 10 },
      ],
    };
    const saved = await t.api('POST', '/v1/segments', { name: 'Engaged pros', rule });
    expect(saved.status).toBe(201);
    const estimate = await t.api('GET', `/v1/segments/${saved.body.id}/estimate?sample=3`);
    // pro: 0, 3, …, 27; score ≥ 10: 12, 15, 18, 21, 24, 27
    expect(estimate.body.count).toBe(6);
    expect(estimate.body.sample.map((c: { email: string }) => c.email)).toEqual([
      'c12@example.test',
      'c15@example.test',
      'c18@example.test',
    ]);

    const vips = await t.api('POST', '/v1/segments/estimate', { rule: { tag: 'vip' } });
    expect(vips.body.count).toBe(6);

    const bad = await t.api('POST', '/v1/segments', {
      name: 'x',
      rule: { and: [{ tag: 'vip' }, { attribute: 'attributes.plan', op: 'eq' }] },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].field).toMatch(/^body\/rule\/and\/1/);
    expect((await t.api('GET', '/v1/segments')).body.data).toHaveLength(1);
  });

  it('keeps segments to their workspace', async () => {
    t = await startTestHerald({ dialect });
    const saved = await t.api('POST', '/v1/segments', { name: 'All vips', rule: { tag: 'vip' } });
    const other = await createWorkspace(t.herald.db, { name: 'Other', now: new Date() });
    const otherApi = apiFor(t.herald, await createApiKey(t.herald.db, { workspaceId: other.id, name: 'k', now: new Date() }));
    expect((await otherApi('GET', `/v1/segments/${saved.body.id}`)).status).toBe(404);
    expect((await otherApi('GET', `/v1/segments/${saved.body.id}/estimate`)).status).toBe(404);
    expect((await otherApi('DELETE', `/v1/segments/${saved.body.id}`)).status).toBe(404);
    expect((await t.api('DELETE', `/v1/segments/${saved.body.id}`)).status).toBe(204);
    expect((await t.api('GET', `/v1/segments/${saved.body.id}`)).status).toBe(404);
  });

  it('targets a campaign at lists narrowed by segments, minus exclusions, filtered by a one-time rule', async () => {
    t = await startTestHerald({ dialect });
    const list = (await t.api('POST', '/v1/lists', { name: 'All' })).body;
    const contacts = Array.from({ length: 40 }, (_, i) => ({
      email: `c${i}@example.test`,
      tags: i % 4 === 0 ? ['vip'] : [],
      attributes: { plan: i % 2 === 0 ? 'pro' : 'free', score: i },
    }));
    await t.api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.id] });
    const pros = (await t.api('POST', '/v1/segments', { name: 'Pros', rule: { attribute: 'attributes.plan', op: 'eq', value: 'pro' } }))
      .body;
    const vips = (await t.api('POST', '/v1/segments', { name: 'VIPs', rule: { tag: 'vip' } })).body;
    const template = (await t.api('POST', '/v1/templates', { name: 'T', subject: 'Hi', html: '<p>Hi</p>' })).body;
    const sender = (await t.api('POST', '/v1/senders', { name: 'S', fromEmail: 'news@example.test' })).body;
    const base = { templateId: template.id, senderId: sender.id };

    // Pros (even), minus VIPs (multiples of 4), with score < 30: 2, 6, 10, …, 26 → 7 contacts.
    const audience = {
      listIds: [list.id],
      segmentIds: [pros.id],
      excludeSegmentIds: [vips.id],
      rule: { attribute: 'attributes.score', op: 'lt', value: 30 },
    };
    const campaign = (await t.api('POST', '/v1/campaigns', { ...base, name: 'Targeted', audience })).body;
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    expect(done.counts).toMatchObject({ total: 7, sent: 7 });
    const received = t.herald
      .mailbox!.latest({ campaignId: campaign.id, limit: 100 })
      .flatMap((m) => m.to)
      .sort();
    expect(received).toEqual([2, 6, 10, 14, 18, 22, 26].map((i) => `c${i}@example.test`).sort());

    // Include and exclude cancel out: every VIP is a pro, so "VIPs minus pros" is nobody.
    const conflict = (
      await t.api('POST', '/v1/campaigns', {
        ...base,
        name: 'Conflict',
        audience: { listIds: [list.id], segmentIds: [vips.id], excludeSegmentIds: [pros.id] },
      })
    ).body;
    // A launch that cannot start leaves the campaign failed with its reasons (seed 003).
    const refused = await act(t.api, conflict.id, 'launch');
    expect(refused.body.status).toBe('failed');
    expect(refused.body.failureReasons.map((r: { code: string }) => r.code)).toEqual(['AUDIENCE_CONFLICT']);

    // A segment that selects nobody, and one deleted since: all reasons at once.
    const nobody = (
      await t.api('POST', '/v1/segments', { name: 'Nobody', rule: { attribute: 'attributes.plan', op: 'eq', value: 'enterprise' } })
    ).body;
    const gone = (await t.api('POST', '/v1/segments', { name: 'Gone', rule: { tag: 'vip' } })).body;
    const broken = (
      await t.api('POST', '/v1/campaigns', { ...base, name: 'Broken', audience: { listIds: [list.id], segmentIds: [nobody.id, gone.id] } })
    ).body;
    await t.api('DELETE', `/v1/segments/${gone.id}`);
    const reasons = (await act(t.api, broken.id, 'launch')).body.failureReasons.map((r: { code: string }) => r.code).sort();
    expect(reasons).toEqual(['AUDIENCE_EMPTY', 'SEGMENT_DELETED', 'SEGMENT_EMPTY']);

    const badRule = await t.api('POST', '/v1/campaigns', { ...base, name: 'Bad', audience: { listIds: [list.id], rule: { tag: 42 } } });
    expect(badRule.status).toBe(400);
    expect(badRule.body.errors[0].field).toMatch(/^body\/audience\/rule/);
  });
});
