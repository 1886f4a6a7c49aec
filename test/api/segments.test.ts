import { afterEach, describe, expect, it } from 'vitest';
import { createApiKey, createWorkspace } from '../../src/store/workspaces.js';
import { dialects } from '../dialects.js';
import { type TestHerald, apiFor, startTestHerald } from '../harness.js';

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
      attributes: { plan: i % 3 === 0 ? 'pro' : 'free', tags: i % 5 === 0 ? ['vip'] : [], score: i },
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
});
