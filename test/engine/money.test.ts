import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { readMoney, reserveBatch } from '../../src/store/balance.js';
import { recoverExpiredLeases } from '../../src/store/ledger/bulk-transitions.js';
import { claimBatch } from '../../src/store/ledger/claim-batch.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

/**
 * Money through the real API, engine and sandbox Twilio (issue 5 item 6, DESIGN §5): preflight
 * refuses what the balance cannot pay and says by how much, a send stops at the balance and
 * never overdraws, every cent is in the balance ledger, and free channels do no money work.
 */

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

/** A cent, in micro-units. */
const cent = 10_000;

/** SMS contacts on a list, an SMS template and sender, and a campaign draft; returns the campaign id. */
async function smsCampaign(t: TestHerald, n: number, opts: { text?: string; attributes?: (i: number) => object; pacing?: object } = {}) {
  const list = await t.api('POST', '/v1/lists', { name: 'Phones' });
  // Numbers ending in 1: the Twilio sandbox fails some other endings on purpose.
  const contacts = Array.from({ length: n }, (_, i) => ({
    phone: `+1555${String(2_000_000 + i * 10 + 1)}`,
    firstName: `R${i}`,
    attributes: opts.attributes?.(i) ?? {},
  }));
  const bulk = await t.api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.body.id] });
  expect(bulk.status, JSON.stringify(bulk.body)).toBe(200);
  const template = await t.api('POST', '/v1/templates', {
    name: 'T',
    channel: 'sms',
    content: { text: opts.text ?? 'Hi {{ contact.firstName }}, news from Herald' },
  });
  const sender = await t.api('POST', '/v1/senders', { name: 'S', channel: 'sms', address: '+15005550006' });
  const campaign = await t.api('POST', '/v1/campaigns', {
    name: `SMS to ${n}`,
    channel: 'sms',
    templateId: template.body.id,
    senderId: sender.body.id,
    audience: { listIds: [list.body.id] },
    ...(opts.pacing ? { pacing: opts.pacing } : {}),
  });
  expect(campaign.status, JSON.stringify(campaign.body)).toBe(201);
  return campaign.body.id as string;
}

async function setPrices(t: TestHerald, prices: object, topUp = 0) {
  const r = await t.api('PATCH', '/v1/workspace', { prices });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  if (topUp > 0) expect((await t.api('POST', '/v1/workspace/balance/top-ups', { amount: topUp, note: 'test' })).status).toBe(201);
}

/** Every ledger entry of the workspace (all pages). */
type Entry = { kind: string; amount: number; balanceAfter: number; campaignId: string | null };
async function entries(t: TestHerald): Promise<Entry[]> {
  const out: Entry[] = [];
  let cursor: string | null = null;
  do {
    const page: { body: { data: Entry[]; nextCursor: string | null } } = await t.api(
      'GET',
      `/v1/workspace/balance/entries?limit=500${cursor ? `&cursor=${cursor}` : ''}`,
    );
    out.push(...page.body.data);
    cursor = page.body.nextCursor;
  } while (cursor);
  return out;
}

/** Cost and count of the workspace's messages by state, from the ledger itself. */
async function costsByState(t: TestHerald) {
  const rows = await t.herald.db
    .selectFrom('messages')
    .select(['state', sql<number>`count(*)`.as('n'), sql<number>`sum(cost)`.as('cost')])
    .where('workspace_id', '=', t.workspaceId)
    .groupBy('state')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.state, { n: Number(r.n), cost: Number(r.cost) }]));
}

const delivered = ['sent', 'delivered', 'read', 'clicked', 'opened'];

describe.each(dialects)('workspace balance and prices (%s)', (dialect) => {
  it('sets prices and the currency, reports top-ups in the ledger, and refuses money that is not an exact amount', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const fresh = await t.api('GET', '/v1/workspace');
    expect(fresh.body).toMatchObject({ balance: 0, balanceText: '0.00 USD', currency: 'USD', prices: { sms: 0, email: 0, voice: 0 } });

    const patched = await t.api('PATCH', '/v1/workspace', { currency: 'EUR', prices: { sms: 7_900, voice: 13_000 } });
    expect(patched.body).toMatchObject({ currency: 'EUR', prices: { sms: 7_900, voice: 13_000, viber: 0, email: 0 } });
    // Prices merge; 0 makes a channel free again.
    expect((await t.api('PATCH', '/v1/workspace', { prices: { viber: 2_000, voice: 0 } })).body.prices).toMatchObject({
      sms: 7_900,
      voice: 0,
      viber: 2_000,
    });
    for (const bad of [{ prices: { sms: -1 } }, { prices: { sms: 0.5 } }, { prices: { fax: 1 } }, { currency: 'euro' }]) {
      expect((await t.api('PATCH', '/v1/workspace', bad)).status, JSON.stringify(bad)).toBe(400);
    }

    const top = await t.api(
      'POST',
      '/v1/workspace/balance/top-ups',
      { amount: 12_500_000, note: 'invoice 42' },
      { 'idempotency-key': 'k1' },
    );
    expect(top.status).toBe(201);
    expect(top.body).toMatchObject({ kind: 'top_up', amount: 12_500_000, balanceAfter: 12_500_000, note: 'invoice 42', campaignId: null });
    // A retried top-up with its Idempotency-Key is not counted twice.
    const again = await t.api(
      'POST',
      '/v1/workspace/balance/top-ups',
      { amount: 12_500_000, note: 'invoice 42' },
      { 'idempotency-key': 'k1' },
    );
    expect(again.body.id).toBe(top.body.id);
    await t.api('POST', '/v1/workspace/balance/top-ups', { amount: 1 });
    for (const bad of [{ amount: 0 }, { amount: -5 }, { amount: 1.5 }, {}]) {
      expect((await t.api('POST', '/v1/workspace/balance/top-ups', bad)).status, JSON.stringify(bad)).toBe(400);
    }
    const ws = await t.api('GET', '/v1/workspace');
    expect(ws.body).toMatchObject({ balance: 12_500_001, balanceText: '12.500001 EUR' });
    expect((await entries(t)).map((e) => [e.kind, e.amount, e.balanceAfter])).toEqual([
      ['top_up', 1, 12_500_001],
      ['top_up', 12_500_000, 12_500_000],
    ]);
    // The currency labels every amount: it cannot change under a balance.
    expect((await t.api('PATCH', '/v1/workspace', { currency: 'USD' })).status).toBe(409);
  });

  it('refuses to launch a campaign that would cost more than the balance, saying the estimate, the balance and by how much', async () => {
    t = await startTestHerald({ dialect });
    await setPrices(t, { sms: cent }, 25 * cent);
    // 5 contacts, the third with a name long enough to make its rendering 2 segments.
    const id = await smsCampaign(t, 5, {
      text: `Hi {{ contact.nickname }}, ${'news '.repeat(28)}`,
      attributes: (i) => ({ nickname: i === 2 ? 'Bartholomew the Magnificent' : `R${i}` }),
    });

    const estimate = await t.api('GET', `/v1/campaigns/${id}/audience/estimate`);
    expect(estimate.body).toMatchObject({ willSend: 5 });
    expect(estimate.body.cost).toMatchObject({
      currency: 'USD',
      unit: 'segment',
      price: cent,
      unitsPerMessage: 2,
      messages: 5,
      estimate: 10 * cent,
      balance: 25 * cent,
      shortfall: 0,
    });
    expect(estimate.body.cost.method).toMatch(/rendered for the first 5 recipient/);

    await t.api('PATCH', '/v1/workspace', { prices: { sms: 6 * cent } });
    // Refused: the campaign is failed (seed 003), its reason saying the estimate, the balance and by how much.
    const launch = await act(t.api, id, 'launch');
    expect(launch.status, JSON.stringify(launch.body)).toBe(200);
    expect(launch.body.status).toBe('failed');
    expect(launch.body.failureReasons).toEqual([
      {
        code: 'INSUFFICIENT_BALANCE',
        detail:
          'Sending would cost about 0.60 USD (5 message(s) × 2 segment(s) at 0.06 USD per segment) but the balance is 0.25 USD: top up at least 0.35 USD.',
        count: 5,
        estimate: 60 * cent,
        balance: 25 * cent,
        shortfall: 35 * cent,
        currency: 'USD',
      },
    ]);
    const after = (await t.api('GET', `/v1/campaigns/${id}`)).body;
    expect(after.counts.total).toBe(0);
    expect((await t.api('GET', '/v1/workspace')).body.balance).toBe(25 * cent);
    expect(await entries(t)).toHaveLength(1);

    // Topped up by the shortfall, it launches and spends what each message really cost: 6 segments.
    await t.api('POST', '/v1/workspace/balance/top-ups', { amount: 35 * cent });
    expect((await act(t.api, id, 'retry')).status).toBe(200);
    const done = await waitFor(t.api, id, (c) => c.status === 'completed');
    expect(done.counts).toMatchObject({ total: 5, failed: 0 });
    const money = (await t.api('GET', '/v1/workspace')).body;
    expect(money.balance).toBe(60 * cent - 6 * 6 * cent);
    const costs = await costsByState(t);
    const charged = delivered.reduce((sum, s) => sum + (costs[s]?.cost ?? 0), 0);
    expect(charged).toBe(36 * cent);
  });

  it('stops a send at the balance without overdrawing, pauses with INSUFFICIENT_BALANCE, and a top-up and resume finish it', async () => {
    t = await startTestHerald({ dialect, env: { HERALD_BATCH_SIZE: '7' }, startEngine: false });
    // Each campaign alone fits the balance, so both pass preflight; together they run out.
    await setPrices(t, { sms: cent }, 40 * cent + 5_000);
    const a = await smsCampaign(t, 30);
    const b = await smsCampaign(t, 30);
    for (const id of [a, b]) expect((await act(t.api, id, 'launch')).body.status).toMatch(/^(queued|sending)$/);
    t.herald.engine.start();

    const settled = (c: { status: string; counts: { inFlight: number }; failureReasons: unknown }) => {
      if (c.status === 'failed') throw new Error(`failed: ${JSON.stringify(c.failureReasons)}`);
      return ['paused', 'completed'].includes(c.status) && c.counts.inFlight === 0;
    };
    const [ca, cb] = [await waitFor(t.api, a, settled), await waitFor(t.api, b, settled)];
    const paused = [ca, cb].filter((c) => c.status === 'paused');
    expect(paused.length).toBeGreaterThanOrEqual(1);
    for (const c of paused) {
      expect(c.failureReasons).toEqual([
        { code: 'INSUFFICIENT_BALANCE', detail: expect.stringContaining('does not cover the next message') },
      ]);
      expect(c.allowedActions).toContain('resume');
    }

    // Exactly what the balance paid went out: 40 messages, half a cent left, never below zero.
    const costs = await costsByState(t);
    const sent = delivered.reduce((n, s) => n + (costs[s]?.n ?? 0), 0);
    const charged = delivered.reduce((sum, s) => sum + (costs[s]?.cost ?? 0), 0);
    expect(sent).toBe(40);
    expect(charged).toBe(40 * cent);
    expect(costs.pending).toEqual({ n: 20, cost: 0 });
    expect(costs.sending).toBeUndefined();
    const ws = (await t.api('GET', '/v1/workspace')).body;
    expect(ws.balance).toBe(5_000);
    // The ledger explains it: top-up, then debits less refunds equal to the messages sent × price.
    const ledger = await entries(t);
    expect(ledger.reduce((sum, e) => sum + e.amount, 0)).toBe(ws.balance);
    const spent = ledger.filter((e) => e.kind !== 'top_up').reduce((sum, e) => sum - e.amount, 0);
    expect(spent).toBe(sent * cent);
    expect(ledger.every((e) => e.balanceAfter >= 0)).toBe(true);
    expect(new Set(ledger.filter((e) => e.kind === 'debit').map((e) => e.campaignId))).toEqual(new Set([a, b]));
    // Nothing waiting lost an attempt to the balance.
    const attempts = await t.herald.db
      .selectFrom('messages')
      .select(sql<number>`max(attempts)`.as('m'))
      .where('workspace_id', '=', t.workspaceId)
      .where('state', '=', 'pending')
      .executeTakeFirstOrThrow();
    expect(Number(attempts.m)).toBe(0);

    await t.api('POST', '/v1/workspace/balance/top-ups', { amount: 20 * cent });
    for (const c of paused) expect((await act(t.api, c.id, 'resume')).status).toBe(200);
    for (const id of [a, b]) expect((await waitFor(t.api, id, (c) => c.status === 'completed')).outcome).toBe('fully_sent');
    expect((await t.api('GET', '/v1/workspace')).body.balance).toBe(5_000);
    const all = await costsByState(t);
    expect(delivered.reduce((sum, s) => sum + (all[s]?.cost ?? 0), 0)).toBe(60 * cent);
  });

  it('gives a dead worker’s reservation back when its lease is recovered, once, and charges the re-send', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    await setPrices(t, { sms: cent }, 10 * cent);
    const id = await smsCampaign(t, 4);
    expect((await act(t.api, id, 'launch')).status).toBe(200);
    for (let i = 0; i < 10 && (await t.api('GET', `/v1/campaigns/${id}`)).body.status !== 'sending'; i++) await t.herald.engine.tick();
    const runId = (await t.herald.db.selectFrom('campaigns').select('current_run_id').where('id', '=', id).executeTakeFirstOrThrow())
      .current_run_id!;

    // A worker claims and pays for a batch, then dies before the provider answers.
    const now = new Date();
    const claimed = await claimBatch(t.herald.db, { runId, campaignId: id, owner: 'dead', limit: 3, leaseMs: 1000, now });
    const r = await reserveBatch(t.herald.db, {
      workspaceId: t.workspaceId,
      campaignId: id,
      runId,
      owner: 'dead',
      costs: claimed.map((m) => ({ id: m.id, cost: cent })),
      now,
    });
    expect(r).toMatchObject({ total: 3 * cent, released: 0, balance: 7 * cent });
    // Recovery before the lease ends takes nothing; after it, the messages and the money come back.
    expect(await recoverExpiredLeases(t.herald.db, { runId, campaignId: id, now })).toBe(0);
    const later = new Date(now.getTime() + 5000);
    expect(await recoverExpiredLeases(t.herald.db, { runId, campaignId: id, now: later })).toBe(3);
    expect(await recoverExpiredLeases(t.herald.db, { runId, campaignId: id, now: later })).toBe(0);
    expect((await readMoney(t.herald.db, t.workspaceId))!.balance).toBe(10 * cent);
    expect(await costsByState(t)).toEqual({ pending: { n: 4, cost: 0 } });

    t.herald.engine.start();
    await waitFor(t.api, id, (c) => c.status === 'completed');
    expect((await readMoney(t.herald.db, t.workspaceId))!.balance).toBe(6 * cent);
    const ledger = await entries(t);
    expect(ledger.find((e) => e.kind === 'refund')).toMatchObject({ amount: 3 * cent, campaignId: id });
    expect(ledger.reduce((sum, e) => sum + e.amount, 0)).toBe(6 * cent);
  });

  it('leaves free channels alone: no balance needed, no cost, no ledger, no money statements while sending', async () => {
    t = await startTestHerald({ dialect });
    await setPrices(t, { sms: cent });
    const { campaign } = await seedCampaign(t.api, { contacts: 60 });
    const estimate = await t.api('GET', `/v1/campaigns/${campaign.id}/audience/estimate`);
    expect(estimate.body.cost).toMatchObject({ price: 0, estimate: 0, balance: 0, shortfall: 0, unit: 'message' });
    t.queries.length = 0;
    expect((await act(t.api, campaign.id, 'launch')).status).toBe(200);
    const done = await waitFor(t.api, campaign.id, (c) => c.status === 'completed');
    // Lease recovery (once a second, not per batch) reads the cost back; the send itself never does.
    const money = t.queries.filter((q) => /balance_entries|\bcost\b|update "workspaces"/i.test(q) && !q.includes('lease_until <'));
    expect(money).toEqual([]);
    expect(done.counts).toMatchObject({ total: 60, sent: 60 });
    expect(await entries(t)).toEqual([]);
    expect((await costsByState(t)).sent).toEqual({ n: 60, cost: 0 });
  });
});
