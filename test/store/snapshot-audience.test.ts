import { afterEach, describe, expect, it } from 'vitest';
import { readCounters } from '../../src/store/ledger/counters.js';
import { snapshotChunk } from '../../src/store/ledger/snapshot-audience.js';
import { createApiKey, createWorkspace } from '../../src/store/workspaces.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, apiFor, startTestHerald } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

describe.each(dialects)('the audience snapshot in chunks (%s)', (dialect) => {
  it('writes each member of the live lists once, skipping other workspaces’ ids, and a repeated snapshot writes nothing', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const db = t.herald.db;
    const now = new Date();
    const other = await createWorkspace(db, { name: 'Other', now });
    const otherApi = apiFor(t.herald, await createApiKey(db, { workspaceId: other.id, name: 'other', now }));
    const otherList = (await otherApi('POST', '/v1/lists', { name: 'Theirs' })).body.id as string;
    const lists = await Promise.all(['A', 'B', 'Gone'].map(async (name) => (await t.api('POST', '/v1/lists', { name })).body.id as string));
    // Ours interleaved with the other workspace's, so the ids have gaps: ours 0-19, theirs 3 after each 2 of ours.
    for (let i = 0; i < 20; i += 2) {
      const listIds = i < 10 ? [lists[0]] : i < 16 ? [lists[0], lists[1]] : [lists[2]];
      const mine = [i, i + 1].map((k) => ({ email: `reader${k}@example.test` }));
      expect((await t.api('POST', '/v1/contacts/bulk', { contacts: mine, listIds })).status).toBe(200);
      const theirs = [0, 1, 2].map((k) => ({ email: `reader${i}-${k}@example.test` }));
      expect((await otherApi('POST', '/v1/contacts/bulk', { contacts: theirs, listIds: [otherList] })).status).toBe(200);
    }
    await t.api('POST', '/v1/suppressions', { suppressions: [{ address: 'reader12@example.test', reason: 'unsubscribe' }] });
    const template = await t.api('POST', '/v1/templates', { name: 'T', subject: 'Hi', html: '<p>Hi</p>' });
    const sender = await t.api('POST', '/v1/senders', { name: 'S', fromEmail: 'news@example.test', fromName: 'News' });
    const campaign = await t.api('POST', '/v1/campaigns', {
      name: 'C',
      templateId: template.body.id,
      senderId: sender.body.id,
      audience: { listIds: lists },
    });
    expect((await act(t.api, campaign.body.id, 'launch')).status).toBe(200);
    // Deleted after launch: the snapshot leaves its members out.
    expect((await t.api('DELETE', `/v1/lists/${lists[2]}`)).status).toBeLessThan(300);
    const { current_run_id: runId } = await db
      .selectFrom('campaigns')
      .select('current_run_id')
      .where('id', '=', campaign.body.id)
      .executeTakeFirstOrThrow();

    const snapshot = async () => {
      let inserted = 0;
      let chunks = 0;
      for (let done = false; !done; chunks++) {
        const chunk = await snapshotChunk(db, runId!, 4, now);
        inserted += chunk.inserted;
        done = chunk.done;
      }
      return { inserted, chunks };
    };
    const first = await snapshot();
    const rows = await db.selectFrom('messages').select(['address', 'state']).where('run_id', '=', runId!).orderBy('contact_id').execute();
    const expected = Array.from({ length: 16 }, (_, k) => `reader${k}@example.test`);
    expect(rows.map((r) => r.address)).toEqual(expected);
    expect(rows.filter((r) => r.state === 'suppressed').map((r) => r.address)).toEqual(['reader12@example.test']);
    expect(first.inserted).toBe(16);
    // Chunks of 4 ids over our 20 contacts spread among 50 ids: at most one chunk per 4 ids.
    expect(first.chunks).toBeLessThanOrEqual(Math.ceil(50 / 4));
    expect(await readCounters(db, runId!)).toMatchObject({ pending: 15, suppressed: 1 });

    // A snapshot run again from the start (a crash before the cursor moved) writes nothing twice.
    await db.updateTable('runs').set({ snapshot_cursor: 0, snapshot_done: 0 }).where('id', '=', runId!).execute();
    expect((await snapshot()).inserted).toBe(0);
    expect(
      await db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('run_id', '=', runId!)
        .executeTakeFirstOrThrow(),
    ).toEqual({ n: 16 });
    expect(await readCounters(db, runId!)).toMatchObject({ pending: 15, suppressed: 1 });
  });
});
