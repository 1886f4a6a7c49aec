import { type Kysely, sql } from 'kysely';
import type { Channel } from '../domain/lifecycle.js';
import { type BalanceEntry, type BalanceEntryKind, type ChannelPrices, affordablePrefix, pricesOf } from '../domain/money.js';
import { dialectOf } from './dialect.js';
import { bumpCounters, tally } from './ledger/counters.js';
import { type Page, decodeCursor, pageOfRows } from './pagination.js';
import type { Database } from './schema.js';

/**
 * The workspace balance and its ledger (docs/money.md). Every change of `workspaces.balance`
 * happens here, in the transaction that changes what it pays for, and writes one
 * `balance_entries` row with the balance after it:
 *
 * - a top-up adds money;
 * - `reserveBatch` takes a batch's cost before the batch goes to the provider, writing
 *   each message's share to `messages.cost` (one statement asks `balance >= cost`);
 * - `refundUnsent` gives back the cost of messages that did not go out, from
 *   recordOutcomes (the provider answered) and lease recovery (the worker died), in their
 *   transactions, and zeroes those messages' cost.
 *
 * So at every commit: balance = top-ups − Σ messages.cost, where a message's cost is
 * non-zero only while it is leased (`sending`) or once it was sent. A message leaves
 * `sending` exactly once per lease, through one of those two paths, each guarded on the
 * lease (state and owner), so a reservation is given back at most once and never lost.
 */

export interface Money {
  readonly balance: number;
  readonly currency: string;
  readonly prices: Record<Channel, number>;
}

/** The workspace's balance, currency and every channel's price (0: free). */
export async function readMoney(db: Kysely<Database>, workspaceId: string): Promise<Money | undefined> {
  const row = await db.selectFrom('workspaces').select(['balance', 'currency', 'prices']).where('id', '=', workspaceId).executeTakeFirst();
  return row
    ? { balance: Number(row.balance), currency: row.currency, prices: pricesOf(JSON.parse(row.prices) as ChannelPrices) }
    : undefined;
}

/** Sets the currency and merges prices (a channel given as 0 becomes free). */
export async function setPricing(
  db: Kysely<Database>,
  workspaceId: string,
  args: { currency?: string | undefined; prices?: ChannelPrices | undefined },
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('workspaces').select('prices').where('id', '=', workspaceId).executeTakeFirst();
    if (!row) return;
    const prices = { ...(JSON.parse(row.prices) as ChannelPrices), ...args.prices };
    for (const [channel, price] of Object.entries(prices)) if (!price) delete prices[channel as Channel];
    await trx
      .updateTable('workspaces')
      .set({ prices: JSON.stringify(prices), ...(args.currency ? { currency: args.currency } : {}) })
      .where('id', '=', workspaceId)
      .execute();
  });
}

function entryOf(row: {
  id: number;
  kind: string;
  amount: number;
  balance_after: number;
  campaign_id: string | null;
  run_id: number | null;
  messages: number | null;
  note: string | null;
  created_at: string;
}): BalanceEntry {
  return {
    id: Number(row.id),
    kind: row.kind as BalanceEntryKind,
    amount: Number(row.amount),
    balanceAfter: Number(row.balance_after),
    campaignId: row.campaign_id,
    runId: row.run_id === null ? null : Number(row.run_id),
    messages: row.messages === null ? null : Number(row.messages),
    note: row.note,
    createdAt: row.created_at,
  };
}

/** Adds `amount` in one statement and records it; returns the ledger entry. */
export async function topUp(
  db: Kysely<Database>,
  args: { workspaceId: string; amount: number; note: string | null; now: Date },
): Promise<BalanceEntry | undefined> {
  return db.transaction().execute(async (trx) => {
    const id = await changeBalance(trx, {
      workspaceId: args.workspaceId,
      kind: 'top_up',
      amount: args.amount,
      campaignId: null,
      runId: null,
      messages: null,
      note: args.note,
      now: args.now,
    });
    if (id === undefined) return undefined;
    const row = await trx.selectFrom('balance_entries').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    return entryOf(row);
  });
}

/** The balance ledger, newest first, by keyset on the entry id. */
export async function listBalanceEntries(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined; campaignId?: string | undefined },
): Promise<Page<BalanceEntry> | 'bad_cursor'> {
  let q = db.selectFrom('balance_entries').selectAll().where('workspace_id', '=', workspaceId);
  if (args.campaignId) q = q.where('campaign_id', '=', args.campaignId);
  if (args.cursor) {
    const cursor = decodeCursor(args.cursor);
    if (!cursor || typeof cursor.id !== 'number') return 'bad_cursor';
    q = q.where('id', '<', cursor.id);
  }
  const rows = await q
    .orderBy('id', 'desc')
    .limit(args.limit + 1)
    .execute();
  return pageOfRows(rows.map(entryOf), args.limit, (last) => ({ value: null, id: last.id }));
}

/**
 * Moves the balance by a signed amount and writes the ledger entry, inside the caller's
 * transaction. A debit only happens when the balance covers it (the statement's own
 * `balance >= cost`); returns the entry id, or undefined when nothing changed.
 */
async function changeBalance(
  trx: Kysely<Database>,
  args: {
    workspaceId: string;
    kind: BalanceEntryKind;
    amount: number;
    campaignId: string | null;
    runId: number | null;
    messages: number | null;
    note: string | null;
    now: Date;
  },
): Promise<number | undefined> {
  let update = trx
    .updateTable('workspaces')
    .set({ balance: sql`balance + ${args.amount}` })
    .where('id', '=', args.workspaceId);
  if (args.amount < 0) update = update.where('balance', '>=', -args.amount);
  const after = await update.returning('balance').executeTakeFirst();
  if (!after) return undefined;
  const entry = await trx
    .insertInto('balance_entries')
    .values({
      workspace_id: args.workspaceId,
      kind: args.kind,
      amount: args.amount,
      balance_after: Number(after.balance),
      campaign_id: args.campaignId,
      run_id: args.runId,
      messages: args.messages,
      note: args.note,
      created_at: args.now.toISOString(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(entry.id);
}

/** A batch's (id, cost) pairs as a table `o`, from one JSON parameter (as recordOutcomes does). */
function costsTable(db: Kysely<Database>, payload: string) {
  return dialectOf(db) === 'postgres'
    ? sql`jsonb_to_recordset(${payload}::jsonb) as o(id bigint, cost bigint)`
    : sql`(select json_extract(value, '$.id') as id, json_extract(value, '$.cost') as cost from json_each(${payload})) as o`;
}

/** The lease guard of the ledger statements: rows of this run still leased by this owner. */
function leased(db: Kysely<Database>, runId: number, owner: string) {
  // SQLite: the unary + keeps (run_id, state) off the index so each row is found by id (see recordOutcomes).
  return dialectOf(db) === 'postgres'
    ? sql`messages.run_id = ${runId} and messages.state = 'sending' and messages.lease_owner = ${owner}`
    : sql`+messages.run_id = ${runId} and +messages.state = 'sending' and messages.lease_owner = ${owner}`;
}

export interface Reservation {
  /** Messages the balance pays for (a prefix of the batch, by id): send these. */
  readonly reserved: ReadonlySet<number>;
  /** Micro-units taken from the balance. */
  readonly total: number;
  /** Messages the balance could not pay for, back to `pending` with error INSUFFICIENT_BALANCE. */
  readonly released: number;
  /** The balance after the reservation. */
  readonly balance: number;
}

/**
 * Reserves a claimed batch's cost before it goes to the provider (DESIGN §5: sending spends
 * balance, and never overdraws). In one transaction: reads the balance (PostgreSQL: locks
 * the workspace row, so concurrent workers reserve one after another), takes the longest
 * prefix of the batch it covers, writes each of those messages' cost, takes their sum from
 * the balance in one statement guarded by `balance >= cost`, and writes the debit entry.
 * The rest of the batch goes back to `pending` (its attempt not counted), to be sent after
 * a top-up; the caller pauses the campaign.
 */
export async function reserveBatch(
  db: Kysely<Database>,
  args: {
    workspaceId: string;
    campaignId: string;
    runId: number;
    owner: string;
    /** The claimed batch in id order, with each message's cost. */
    costs: readonly { readonly id: number; readonly cost: number }[];
    now: Date;
  },
): Promise<Reservation> {
  const pg = dialectOf(db) === 'postgres';
  return db.transaction().execute(async (trx) => {
    let read = trx.selectFrom('workspaces').select('balance').where('id', '=', args.workspaceId);
    if (pg) read = read.forUpdate();
    const balance = Number((await read.executeTakeFirst())?.balance ?? 0);
    const prefix = affordablePrefix(
      balance,
      args.costs.map((c) => c.cost),
    );
    const paid = args.costs.slice(0, prefix.count);
    const unpaid = args.costs.slice(prefix.count);

    let total = 0;
    const charged = paid.filter((c) => c.cost > 0);
    if (charged.length > 0) {
      // Only rows still leased by this owner are charged: a row another worker took back is its to pay.
      const rows = await sql<{ cost: number }>`
        update messages set cost = o.cost
        from ${costsTable(db, JSON.stringify(charged))}
        where messages.id = o.id and ${leased(db, args.runId, args.owner)}
        returning messages.cost as cost
      `.execute(trx);
      total = rows.rows.reduce((sum, r) => sum + Number(r.cost), 0);
    }
    let after = balance;
    if (total > 0) {
      const entry = await changeBalance(trx, {
        workspaceId: args.workspaceId,
        kind: 'debit',
        amount: -total,
        campaignId: args.campaignId,
        runId: args.runId,
        messages: charged.length,
        note: null,
        now: args.now,
      });
      // Unreachable while the row is locked (PostgreSQL) or the writer is alone (SQLite); the
      // throw undoes the costs written above rather than sending what nobody paid for.
      if (entry === undefined) throw new Error(`balance of ${args.workspaceId} moved under a reservation`);
      after = balance - total;
    }

    if (unpaid.length > 0) {
      const ids = unpaid.map((c) => c.id);
      const back = await sql<{ state: string }>`
        update messages
        set state = case when (select status from campaigns where id = ${args.campaignId}) = 'stopped' then 'cancelled' else 'pending' end,
            lease_owner = null, lease_until = null, attempts = attempts - 1, next_attempt_at = ${args.now.getTime()},
            error_code = 'INSUFFICIENT_BALANCE', error_detail = 'The balance did not cover this message; it waits for a top-up.',
            updated_at = ${args.now.toISOString()}
        where messages.id in (${sql.join(ids)}) and ${leased(db, args.runId, args.owner)}
        returning messages.state as state
      `.execute(trx);
      await bumpCounters(trx, args.runId, { ...tally(back.rows), sending: -back.rows.length });
    }
    return { reserved: new Set(paid.map((c) => c.id)), total, released: unpaid.length, balance: after };
  });
}

/**
 * Gives back the cost of messages that did not go out, inside the transaction that moved
 * them out of `sending` (recordOutcomes, lease recovery): `rows` are what that statement
 * returned. Zeroes their cost and writes one refund entry. Nothing to do for free channels.
 */
export async function refundUnsent(
  trx: Kysely<Database>,
  args: {
    workspaceId: string;
    campaignId: string | null;
    runId: number;
    rows: readonly { readonly id: number; readonly state: string; readonly cost: number }[];
    note: string | null;
    now: Date;
  },
): Promise<number> {
  const back = args.rows.filter((r) => r.state !== 'sent' && Number(r.cost) > 0);
  if (back.length === 0) return 0;
  const amount = back.reduce((sum, r) => sum + Number(r.cost), 0);
  await trx
    .updateTable('messages')
    .set({ cost: 0 })
    .where('run_id', '=', args.runId)
    .where(
      'id',
      'in',
      back.map((r) => r.id),
    )
    .execute();
  await changeBalance(trx, {
    workspaceId: args.workspaceId,
    kind: 'refund',
    amount,
    campaignId: args.campaignId,
    runId: args.runId,
    messages: back.length,
    note: args.note,
    now: args.now,
  });
  return amount;
}
