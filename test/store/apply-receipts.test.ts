import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ReceiptEvent, ReceiptEventType } from '../../src/channels/receipts.js';
import type { Channel } from '../../src/domain/lifecycle.js';
import { type MessageState, messageStates } from '../../src/domain/messages.js';
import { applyReceiptEvents } from '../../src/domain/receipt-transitions.js';
import { insertCampaign } from '../../src/store/campaigns.js';
import type { Db } from '../../src/store/database.js';
import { applyReceipts } from '../../src/store/ledger/apply-receipts.js';
import { claimBatch } from '../../src/store/ledger/claim-batch.js';
import { readCounters } from '../../src/store/ledger/counters.js';
import { recordOutcomes } from '../../src/store/ledger/record-outcomes.js';
import { snapshotChunk } from '../../src/store/ledger/snapshot-audience.js';
import { addMembers, createList } from '../../src/store/lists.js';
import { applyRecipientVerdicts } from '../../src/store/recipient-verdicts.js';
import { getSuppression } from '../../src/store/suppressions.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects, migratedDatabase } from '../dialects.js';

const eventTypes: readonly ReceiptEventType[] = [
  'delivered',
  'read',
  'opened',
  'clicked',
  'failed',
  'bounced',
  'complained',
  'unsubscribed',
];

describe.each(dialects)('receipts applied to the ledger (%s)', (dialect) => {
  let db: Db;
  let database: Awaited<ReturnType<typeof migratedDatabase>>;
  let ws: string;
  let other: string;
  let listId: string;
  let contactIds: number[];
  const now = new Date('2026-03-01T10:00:00Z');
  const at = now.toISOString();
  const p256dh = `B${'A'.repeat(86)}`;

  beforeEach(async () => {
    database = await migratedDatabase(dialect);
    db = database.db;
    ws = (await createWorkspace(db, { name: 'W', now })).id;
    other = (await createWorkspace(db, { name: 'Other', now })).id;
    const contact = (i: number) => ({
      workspace_id: ws,
      email: `reader${i}@example.test`,
      phone: `+49151000000${10 + i}`,
      telegram_chat_id: String(1000 + i),
      viber_id: `vb${i}==`,
      first_name: null,
      last_name: null,
      time_zone: null,
      attributes: '{}',
      external_id: null,
      created_at: at,
      updated_at: at,
    });
    const rows = await db
      .insertInto('contacts')
      .values(Array.from({ length: 6 }, (_, i) => contact(i)))
      .returning('id')
      .execute();
    contactIds = rows.map((r) => Number(r.id));
    listId = (await createList(db, ws, { name: 'Readers' }, now)).id;
    await addMembers(db, ws, listId, contactIds, now);
    await db
      .insertInto('contact_devices')
      .values(
        contactIds.map((contactId, i) => ({
          workspace_id: ws,
          contact_id: contactId,
          kind: 'webpush' as const,
          token: `https://push.example/sub/${i}`,
          keys: JSON.stringify({ p256dh, auth: `auth${i}` }),
          platform: 'web',
          status: 'active' as const,
          created_at: at,
          updated_at: at,
        })),
      )
      .execute();
  });
  afterEach(async () => {
    await database.close();
  });

  let campaigns = 0;
  /** A sending campaign of the channel over the list, snapshotted; `send` of its messages claimed and recorded `sent`. */
  async function run(channel: Channel, send = Number.MAX_SAFE_INTEGER) {
    const campaignId = `cmp_${++campaigns}`;
    await insertCampaign(db, {
      id: campaignId,
      workspace_id: ws,
      kind: 'broadcast',
      channel,
      name: campaignId,
      description: null,
      tags: '[]',
      status: 'sending',
      outcome: null,
      launch_type: 'now',
      send_at: null,
      template_id: null,
      sender_id: null,
      audience: JSON.stringify({ listIds: [listId] }),
      pacing: '{}',
      failure_reasons: '[]',
      version: 1,
      current_run_id: null,
      cloned_from: null,
      created_at: at,
      updated_at: at,
      launched_at: at,
      finished_at: null,
    });
    const { id: runId } = await db
      .insertInto('runs')
      .values({ workspace_id: ws, campaign_id: campaignId, number: 1, channel, snapshot_cursor: 0, snapshot_done: 0, created_at: at })
      .returning('id')
      .executeTakeFirstOrThrow();
    await db
      .insertInto('run_counters')
      .values({ run_id: runId, workspace_id: ws } as never)
      .execute();
    await db.updateTable('campaigns').set({ current_run_id: runId }).where('id', '=', campaignId).execute();
    while (!(await snapshotChunk(db, runId, 100, now)).done);
    const claimed = await claimBatch(db, { runId, campaignId, owner: 'w1', limit: send, leaseMs: 60_000, now });
    await recordOutcomes(db, {
      runId,
      campaignId,
      workspaceId: ws,
      owner: 'w1',
      outcomes: claimed.map((m) => ({ id: m.id, state: 'sent' as const, providerId: `prov-${runId}-${m.id}` })),
      now,
      // Some receipts below name messages only by the provider's id, as Viber's do.
      keyByProviderId: true,
    });
    const messages = await db
      .selectFrom('messages')
      .select(['id', 'contact_id', 'address', 'state'])
      .where('run_id', '=', runId)
      .orderBy('id')
      .execute();
    return {
      runId: Number(runId),
      campaignId,
      messages: messages.map((m) => ({ ...m, id: Number(m.id), contact_id: Number(m.contact_id) })),
    };
  }

  /** The run's counters must equal a recount of its messages. */
  async function expectCountersRecounted(runId: number) {
    const rows = await db
      .selectFrom('messages')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('run_id', '=', runId)
      .groupBy('state')
      .execute();
    const recount = Object.fromEntries(messageStates.map((s) => [s, 0])) as Record<MessageState, number>;
    for (const r of rows) recount[r.state as MessageState] = Number(r.n);
    expect(await readCounters(db, runId)).toEqual(recount);
  }

  const receipt = (runId: number, messageId: number, type: ReceiptEventType, extra: Partial<ReceiptEvent> = {}): ReceiptEvent => ({
    message: { runId, messageId },
    providerId: null,
    type,
    at: now,
    ...extra,
  });

  it('ends each message in the state its receipts rank highest, in any order, repeated, in any batches, with exact counters', async () => {
    // Per message a list of receipts; each sent by ledger key or by the provider's id; the
    // whole lot shuffled across messages, with repeats, and cut into webhook-sized batches.
    const perMessage = fc.array(fc.array(fc.tuple(fc.constantFrom(...eventTypes), fc.boolean()), { maxLength: 5 }), {
      minLength: 6,
      maxLength: 6,
    });
    await fc.assert(
      fc.asyncProperty(
        perMessage,
        fc.nat(),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 8 }),
        async (plan, seed, cuts) => {
          // Earlier runs' complaints and unsubscribes would keep this run's recipients out.
          await db.deleteFrom('suppressions').execute();
          const { runId, messages } = await run('email');
          const events = plan.flatMap((list, i) =>
            list.map(([type, byProvider]) =>
              byProvider
                ? ({ message: null, providerId: `prov-${runId}-${messages[i]!.id}`, type, hard: false, at: now } as ReceiptEvent)
                : receipt(runId, messages[i]!.id, type, { hard: false }),
            ),
          );
          const repeated = [...events, ...events.filter((_, k) => k % 3 === 0)];
          const shuffled = fc.sample(fc.shuffledSubarray(repeated, { minLength: repeated.length, maxLength: repeated.length }), {
            seed,
            numRuns: 1,
          })[0]!;
          let sent = 0;
          for (let c = 0; sent < shuffled.length; c++) {
            const size = cuts[c % cuts.length]!;
            const batch = shuffled.slice(sent, sent + size);
            sent += size;
            const result = await applyReceipts(db, { workspaceId: ws, channel: 'email', events: batch, now });
            expect(result.unknown).toBe(0);
            expect(result.applied + result.ignored).toBe(batch.length);
          }
          const states = await db.selectFrom('messages').select(['id', 'state']).where('run_id', '=', runId).orderBy('id').execute();
          expect(states.map((s) => s.state)).toEqual(
            plan.map((list) =>
              applyReceiptEvents(
                'sent',
                list.map(([type]) => type),
                { handedOver: true },
              ),
            ),
          );
          await expectCountersRecounted(runId);
        },
      ),
      { numRuns: dialect === 'postgres' ? 15 : 40 },
    );
  });

  it('applies a receipt that overtakes the record of its send, and the late record leaves the row and the counters alone', async () => {
    const campaign = await run('sms', 0);
    const { runId, campaignId } = campaign;
    const claimed = await claimBatch(db, { runId, campaignId, owner: 'w2', limit: 10, leaseMs: 60_000, now });
    const first = claimed[0]!;
    expect((await applyReceipts(db, { workspaceId: ws, events: [receipt(runId, first.id, 'delivered')], now })).applied).toBe(1);
    await recordOutcomes(db, {
      runId,
      campaignId,
      workspaceId: ws,
      owner: 'w2',
      outcomes: claimed.map((m) => ({ id: m.id, state: 'sent' as const, providerId: `late-${m.id}` })),
      now,
      keyByProviderId: true,
    });
    const row = await db.selectFrom('messages').selectAll().where('id', '=', first.id).executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'delivered', sent_at: at });
    expect(await readCounters(db, runId)).toMatchObject({ sending: 0, sent: 5, delivered: 1 });
    await expectCountersRecounted(runId);
  });

  it('ignores receipts for messages never handed over, and counts other workspaces’ and unknown messages as unknown', async () => {
    const { runId, messages } = await run('email', 2);
    const pending = messages.find((m) => m.state === 'pending')!;
    const sent = messages.find((m) => m.state === 'sent')!;
    const events = [
      receipt(runId, pending.id, 'delivered'),
      receipt(runId, sent.id, 'delivered'),
      receipt(runId, 999_999, 'delivered'),
      { message: null, providerId: 'nobody-knows', type: 'read', at: now } as ReceiptEvent,
    ];
    const theirs = await applyReceipts(db, { workspaceId: other, events, now });
    expect(theirs).toMatchObject({ applied: 0, ignored: 0, unknown: 4 });
    expect(theirs.unknownEvents).toEqual(events);
    const ours = await applyReceipts(db, { workspaceId: ws, events, now });
    expect(ours).toMatchObject({ applied: 1, ignored: 1, unknown: 2 });
    expect(await db.selectFrom('messages').select('state').where('id', '=', pending.id).executeTakeFirstOrThrow()).toEqual({
      state: 'pending',
    });
    await expectCountersRecounted(runId);
  });

  it('keeps a failure’s code, suppresses a hard bounce, a complaint and an unsubscribe, and not a soft bounce', async () => {
    const { runId, campaignId, messages } = await run('email');
    const [hard, soft, complaint, unsubscribe, failed] = messages;
    const result = await applyReceipts(db, {
      workspaceId: ws,
      events: [
        receipt(runId, hard!.id, 'delivered'),
        receipt(runId, hard!.id, 'bounced', { hard: true, code: '550', detail: '5.1.1 No such user' }),
        receipt(runId, soft!.id, 'bounced', { hard: false, code: '452', detail: 'Mailbox full' }),
        receipt(runId, complaint!.id, 'complained'),
        receipt(runId, unsubscribe!.id, 'opened'),
        receipt(runId, unsubscribe!.id, 'unsubscribed'),
        receipt(runId, failed!.id, 'failed', { code: 'X', detail: 'Undeliverable' }),
        receipt(runId, failed!.id, 'delivered'),
        receipt(runId, failed!.id, 'failed', { code: 'Y', detail: 'Late' }),
      ],
      now,
    });
    expect(result).toMatchObject({ applied: 8, ignored: 1, unknown: 0, suppressed: 3 });
    const row = (id: number) =>
      db.selectFrom('messages').select(['state', 'error_code', 'error_detail']).where('id', '=', id).executeTakeFirstOrThrow();
    expect(await row(hard!.id)).toEqual({ state: 'bounced', error_code: '550', error_detail: '5.1.1 No such user' });
    expect(await row(soft!.id)).toEqual({ state: 'bounced', error_code: '452', error_detail: 'Mailbox full' });
    // Delivered after all: the failure's code goes with it.
    expect(await row(failed!.id)).toEqual({ state: 'delivered', error_code: null, error_detail: null });
    expect(await getSuppression(db, ws, hard!.address!)).toMatchObject({ kind: 'email', reason: 'hard_bounce', source: campaignId });
    expect(await getSuppression(db, ws, complaint!.address!)).toMatchObject({ reason: 'complaint', source: campaignId });
    expect(await getSuppression(db, ws, unsubscribe!.address!)).toMatchObject({ reason: 'unsubscribe' });
    expect(await getSuppression(db, ws, soft!.address!)).toBeUndefined();
    expect(await getSuppression(db, other, hard!.address!)).toBeUndefined();
    await expectCountersRecounted(runId);
  });

  it('suppresses a Telegram chat that blocked the bot, and the next snapshot skips that contact', async () => {
    const blocked: ReceiptEvent = { message: null, providerId: null, type: 'unsubscribed', recipient: 'blocked', address: '1002', at: now };
    expect(await applyReceipts(db, { workspaceId: null, events: [blocked], now })).toMatchObject({ applied: 0, unknown: 1 });
    expect(await applyReceipts(db, { workspaceId: ws, channel: 'telegram', events: [blocked, blocked], now })).toMatchObject({
      applied: 2,
      unknown: 0,
      suppressed: 1,
    });
    expect(await getSuppression(db, ws, 'telegram:1002')).toMatchObject({ kind: 'telegram', reason: 'unsubscribe' });
    // A Viber user who unsubscribed, told by the send's answer.
    await applyRecipientVerdicts(db, { workspaceId: ws, channel: 'viber', verdicts: [{ address: 'vb3==', verdict: 'blocked' }], now });
    expect(await getSuppression(db, ws, 'viber:vb3==')).toMatchObject({ kind: 'viber', reason: 'unsubscribe' });

    const telegram = await run('telegram', 0);
    expect(telegram.messages.filter((m) => m.state === 'suppressed').map((m) => m.address)).toEqual(['1002']);
    const viber = await run('viber', 0);
    expect(viber.messages.filter((m) => m.state === 'suppressed').map((m) => m.address)).toEqual(['vb3==']);
    // Another channel's address that looks the same is not touched.
    expect((await run('email', 0)).messages.every((m) => m.state === 'pending')).toBe(true);
    await expectCountersRecounted(telegram.runId);
  });

  it('addresses web push with the subscription and its keys, and never uses a gone subscription again', async () => {
    const first = await run('webpush');
    const subscription = JSON.parse(first.messages[0]!.address!);
    expect(subscription).toEqual({ endpoint: 'https://push.example/sub/0', keys: { p256dh, auth: 'auth0' } });

    const verdicts = await applyRecipientVerdicts(db, {
      workspaceId: ws,
      channel: 'webpush',
      verdicts: [{ address: first.messages[0]!.address!, verdict: 'gone' }],
      now,
    });
    expect(verdicts).toEqual({ devices: 1, suppressed: 0, ignored: 0 });
    // A receipt may say it too (a push service's later answer); it marks the device once.
    const byReceipt = await applyReceipts(db, {
      workspaceId: ws,
      events: [
        receipt(first.runId, first.messages[1]!.id, 'failed', { recipient: 'gone' }),
        receipt(first.runId, first.messages[0]!.id, 'failed', { recipient: 'gone' }),
      ],
      now,
    });
    expect(byReceipt.devices).toBe(1);
    const devices = await db
      .selectFrom('contact_devices')
      .select(['token', 'status'])
      .where('status', '<>', 'active')
      .orderBy('token')
      .execute();
    expect(devices).toEqual([
      { token: 'https://push.example/sub/0', status: 'gone' },
      { token: 'https://push.example/sub/1', status: 'gone' },
    ]);
    const next = await run('webpush', 0);
    expect(next.messages.map((m) => m.contact_id)).toEqual(contactIds.slice(2));
  });
});
