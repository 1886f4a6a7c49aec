import fc from 'fast-check';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDatabase } from '../../src/store/database.js';
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

  /**
   * 40 contacts on a list, 4 of them suppressed, interleaved with another workspace's (ids
   * with gaps), and a way to launch a fresh run of a campaign to them. Returns the run id.
   */
  const audienceOf40 = async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const db = t.herald.db;
    const now = new Date();
    const other = await createWorkspace(db, { name: 'Other', now });
    const otherApi = apiFor(t.herald, await createApiKey(db, { workspaceId: other.id, name: 'other', now }));
    const list = (await t.api('POST', '/v1/lists', { name: 'L' })).body.id as string;
    for (let i = 0; i < 40; i += 4) {
      const mine = [0, 1, 2, 3].map((k) => ({ email: `reader${i + k}@example.test` }));
      expect((await t.api('POST', '/v1/contacts/bulk', { contacts: mine, listIds: [list] })).status).toBe(200);
      expect((await otherApi('POST', '/v1/contacts/bulk', { contacts: [{ email: `other${i}@example.test` }] })).status).toBe(200);
    }
    const suppressed = [3, 17, 18, 39].map((k) => `reader${k}@example.test`);
    await t.api('POST', '/v1/suppressions', { suppressions: suppressed.map((address) => ({ address, reason: 'unsubscribe' })) });
    const template = (await t.api('POST', '/v1/templates', { name: 'T', subject: 'Hi', html: '<p>Hi</p>' })).body.id as string;
    const sender = (await t.api('POST', '/v1/senders', { name: 'S', fromEmail: 'news@example.test', fromName: 'News' })).body.id as string;
    const contactIds = (await db.selectFrom('contacts').select('id').where('workspace_id', '=', t.workspaceId).orderBy('id').execute()).map(
      (c) => Number(c.id),
    );
    const launchRun = async (): Promise<number> => {
      const campaign = await t.api('POST', '/v1/campaigns', {
        name: 'C',
        templateId: template,
        senderId: sender,
        audience: { listIds: [list] },
      });
      expect((await act(t.api, campaign.body.id, 'launch')).status).toBe(200);
      const row = await db.selectFrom('campaigns').select('current_run_id').where('id', '=', campaign.body.id).executeTakeFirstOrThrow();
      return row.current_run_id!;
    };
    /** The run's rows, each contact once (the unique key) and every one of the 40; its counters as the ledger counts them. */
    const expectWhole = async (runId: number) => {
      const rows = await db
        .selectFrom('messages')
        .select(['contact_id', 'state'])
        .where('run_id', '=', runId)
        .orderBy('contact_id')
        .execute();
      expect(rows.map((r) => Number(r.contact_id))).toEqual(contactIds);
      expect(rows.filter((r) => r.state === 'suppressed')).toHaveLength(suppressed.length);
      expect(await readCounters(db, runId)).toMatchObject({ pending: 36, suppressed: 4, sending: 0, cancelled: 0 });
    };
    return { db, contactIds, launchRun, expectWhole };
  };

  /** Fails any insert of the contact's message (a process dying mid-step, as far as the database can tell), until `heal`. */
  const failInsertOf = async (db: Db, contactId: number) => {
    if (dialect === 'postgres') {
      await sql`create or replace function herald_test_crash() returns trigger language plpgsql as $$ begin raise exception 'crashed'; end $$`.execute(
        db,
      );
      await sql
        .raw(
          `create trigger herald_test_crash before insert on messages for each row when (new.contact_id = ${contactId}) execute function herald_test_crash()`,
        )
        .execute(db);
    } else {
      await sql
        .raw(
          `create trigger herald_test_crash before insert on messages when new.contact_id = ${contactId} begin select raise(abort, 'crashed'); end`,
        )
        .execute(db);
    }
    return async () => {
      await sql.raw(dialect === 'postgres' ? 'drop trigger herald_test_crash on messages' : 'drop trigger herald_test_crash').execute(db);
    };
  };

  it('writes and counts each recipient once whatever the chunk size and chunks at once, when a step fails anywhere and is taken again', async () => {
    const { db, contactIds, launchRun, expectWhole } = await audienceOf40();
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 4 }),
        fc.option(fc.integer({ min: 0, max: 39 }), { nil: null }),
        async (chunk, parallel, crashAt) => {
          const runId = await launchRun();
          let heal = crashAt === null ? null : await failInsertOf(db, contactIds[crashAt]!);
          let inserted = 0;
          let failures = 0;
          const rowsOf = async () =>
            Number(
              (
                await db
                  .selectFrom('messages')
                  .select((eb) => eb.fn.countAll<number>().as('n'))
                  .where('run_id', '=', runId)
                  .executeTakeFirstOrThrow()
              ).n,
            );
          for (let done = false; !done;) {
            try {
              const step = await snapshotChunk(db, runId, chunk, new Date(), { parallel });
              inserted += step.inserted;
              done = step.done;
            } catch (err) {
              // The failed step's other ranges may have committed; its cursor did not move.
              expect(String(err)).toMatch(/crashed/);
              failures++;
              // Rows a failed step committed were never reported: count them as written here.
              inserted = await rowsOf();
              await heal!();
              heal = null;
            }
          }
          expect(failures).toBe(crashAt === null ? 0 : 1);
          await expectWhole(runId);
          // The steps after a failure report only the rows they added: nothing counted twice.
          expect(inserted).toBe(40);
        },
      ),
      { numRuns: dialect === 'postgres' ? 12 : 25 },
    );
  });

  it('writes each recipient once when two workers snapshot the same run at once, each with chunks at once', async () => {
    const { db, launchRun, expectWhole } = await audienceOf40();
    const runId = await launchRun();
    // On PostgreSQL the second worker has a pool of its own, as a second process would.
    const location = t.herald.config.database;
    const second = location.dialect === 'postgres' ? openDatabase(location) : db;
    try {
      const worker = async (on: Db) => {
        let inserted = 0;
        for (let done = false; !done;) {
          const step = await snapshotChunk(on, runId, 3, new Date(), { parallel: 3 });
          inserted += step.inserted;
          done = step.done;
        }
        return inserted;
      };
      const [a, b] = await Promise.all([worker(db), worker(second)]);
      expect(a + b).toBe(40);
      await expectWhole(runId);
    } finally {
      if (second !== db) await second.destroy();
    }
  });
});
