import { type Kysely, type RawBuilder, sql } from 'kysely';
import { type Audience, channelChain, parseFallback } from '../../domain/campaign.js';
import type { Channel } from '../../domain/lifecycle.js';
import { addressOf, chainAddress, chainChannel, chainColumns, chainSuppressed, suppressedAddress } from '../addresses.js';
import { type AudienceParts, audienceParts, listContactsFrom, rulesWhere } from '../audience.js';
import { dialectOf } from '../dialect.js';
import type { Database } from '../schema.js';
import { type CounterDeltas, bumpCounters } from './counters.js';
import { localDueSql } from './local-due.js';
import type { Delivery } from '../../domain/schedule.js';

export interface SnapshotChunk {
  readonly inserted: number;
  readonly done: boolean;
}

/**
 * Materialises the next chunk of a run's audience into the ledger with one
 * `INSERT … SELECT` (DESIGN §4): the campaign's audience (lists, include and exclude
 * segments, one-time rule, see store/audience.ts), with an address for the channel
 * (store/addresses.ts), contact ids above the run's cursor. Chunks keep each SQLite write
 * transaction short so the API stays responsive during a million-contact snapshot, and
 * the cursor makes a crash mid-snapshot resume where it stopped; a range written before
 * (see writeRange) is written again with `ON CONFLICT DO NOTHING` on the unique
 * (run_id, contact_id) key, so a repeated chunk is harmless.
 *
 * On PostgreSQL, `parallel` > 1 writes that many chunks of `chunkSize` ids at once, each
 * in a transaction of its own on a connection of its own (see writeInParallel); SQLite has
 * one writer and ignores it.
 *
 * Rows land `pending`, or `cancelled` when the campaign was stopped meanwhile, so the
 * ledger always holds the whole audience and a restart finds its unsent recipients; an
 * address on the suppression list lands `suppressed`, so reports show who was skipped.
 * A contact without an address for the channel gets no row.
 */
export async function snapshotChunk(
  db: Kysely<Database>,
  runId: number,
  chunkSize: number,
  now: Date,
  opts: { readonly parallel?: number } = {},
): Promise<SnapshotChunk> {
  const parallel = dialectOf(db) === 'postgres' ? Math.max(1, opts.parallel ?? 1) : 1;
  return db.transaction().execute(async (trx) => {
    // PostgreSQL: one worker at a time writes a run's chunks and advances its cursor; the
    // others wait, then see it moved.
    let query = trx
      .selectFrom('runs')
      .innerJoin('campaigns', 'campaigns.id', 'runs.campaign_id')
      .leftJoin('workspaces', 'workspaces.id', 'runs.workspace_id')
      .select([
        'runs.workspace_id',
        'runs.snapshot_cursor',
        'runs.snapshot_done',
        'runs.channel',
        'campaigns.audience',
        'campaigns.fallback',
        'campaigns.status',
        'campaigns.delivery',
        'runs.occurrence_at',
        'runs.created_at',
        'workspaces.time_zone',
      ])
      .where('runs.id', '=', runId);
    if (dialectOf(db) === 'postgres') query = query.forUpdate('runs');
    const run = await query.executeTakeFirstOrThrow();
    if (run.snapshot_done) return { inserted: 0, done: true };

    // The step is the workspace's next `chunkSize × parallel` contact ids from the first contact
    // above the cursor, found by two probes of (workspace_id, id) in one statement, where
    // `OFFSET chunkSize - 1` walked the chunk's whole index range to find its end. Gaps (other
    // workspaces' ids) are skipped; ids interleaved with another workspace's make chunks
    // smaller, never larger. `beyond`, the first contact past the step, says whether it is the last.
    const span = chunkSize * parallel;
    const after = (bound: RawBuilder<unknown>) =>
      sql`(select id from contacts where workspace_id = ${run.workspace_id} and id > ${bound} order by id limit 1)`;
    const { rows } = await sql<{ first: number | null; beyond: number | null }>`
      select f.id as first, ${after(sql`f.id + ${span - 1}`)} as beyond
      from (select ${after(sql`${run.snapshot_cursor}`)} as id) f
    `.execute(trx);
    const first = rows[0]?.first ?? null;
    const last = first === null || rows[0]?.beyond === null;
    const upto = last ? Number.MAX_SAFE_INTEGER : Number(first) + span - 1;

    const audience = JSON.parse(run.audience) as Audience;
    const range: RangeContext = {
      runId,
      workspaceId: run.workspace_id,
      audience,
      parts: await audienceParts(trx, { workspaceId: run.workspace_id, audience, now, timeZone: run.time_zone ?? 'UTC' }),
      state: run.status === 'stopped' ? 'cancelled' : 'pending',
      // With delivery rules, each message waits for its recipient's local send time (issue 6).
      delivery: run.delivery ? (JSON.parse(run.delivery) as Delivery | null) : null,
      launch: new Date(run.occurrence_at ?? run.created_at),
      timeZone: run.time_zone ?? 'UTC',
      channel: run.channel as Channel,
      chain: channelChain(run.channel as Channel, parseFallback(run.fallback)),
      now,
    };
    const deltas =
      first === null
        ? {}
        : parallel > 1
          ? await writeInParallel(db, range, splitRange(run.snapshot_cursor, Number(first), upto, chunkSize, parallel))
          : await writeRange(trx, range, run.snapshot_cursor, upto);
    const inserted = Object.values(deltas).reduce((a, b) => a + b, 0);
    await trx
      .updateTable('runs')
      .set({ snapshot_cursor: last ? run.snapshot_cursor : upto, snapshot_done: last ? 1 : 0 })
      .where('id', '=', runId)
      .execute();
    return { inserted, done: last };
  });
}

/** What every range of one snapshot chunk shares, read once under the run's lock. */
interface RangeContext {
  readonly runId: number;
  readonly workspaceId: string;
  readonly audience: Audience;
  readonly parts: AudienceParts;
  readonly state: 'pending' | 'cancelled';
  readonly delivery: Delivery | null;
  readonly launch: Date;
  readonly timeZone: string;
  readonly channel: Channel;
  readonly chain: readonly Channel[];
  readonly now: Date;
}

/** `parallel` consecutive ranges of contact ids, (after, upto] each: `chunkSize` ids from `first` each, the last one to `upto`. */
function splitRange(cursor: number, first: number, upto: number, chunkSize: number, parallel: number): [number, number][] {
  const ranges: [number, number][] = [];
  let from = cursor;
  for (let i = 0; i < parallel; i++) {
    const to = i === parallel - 1 ? upto : first + (i + 1) * chunkSize - 1;
    ranges.push([from, to]);
    from = to;
  }
  return ranges;
}

/**
 * Writes the ranges at once, each in a transaction of its own on a connection of the pool
 * (PostgreSQL 15 runs an `INSERT … SELECT` on one backend, one core; materialise-1m-pg with
 * two ranges: docs/benchmarks.md). The caller holds the run's row lock throughout, so one
 * worker at a time writes a run's ranges, and moves the cursor past all of them only after
 * every range committed. Each range commits its rows with their counters; if the process
 * dies between the ranges' commits and the cursor's, the next chunk writes the same ranges
 * again, `ON CONFLICT DO NOTHING` skips the rows already there and `RETURNING` counts only
 * new ones, so nobody is written or counted twice. Every range is waited for before an
 * error is thrown, so no write outlives the lock.
 */
async function writeInParallel(db: Kysely<Database>, range: RangeContext, ranges: readonly [number, number][]): Promise<CounterDeltas> {
  const settled = await Promise.allSettled(
    ranges.map(([after, upto]) => db.transaction().execute((trx) => writeRange(trx, range, after, upto))),
  );
  const sum: Record<string, number> = {};
  for (const r of settled) {
    if (r.status === 'rejected') throw r.reason;
    for (const [state, n] of Object.entries(r.value)) sum[state] = (sum[state] ?? 0) + (n ?? 0);
  }
  return sum;
}

/** Writes the audience's contacts with ids in (after, upto] and adds them to the run's counters, in the caller's transaction. */
async function writeRange(trx: Kysely<Database>, range: RangeContext, after: number, upto: number): Promise<CounterDeltas> {
  const { runId, workspaceId, channel, chain, state, now } = range;
  const due = range.delivery
    ? await localDueSql(trx, { workspaceId, delivery: range.delivery, launch: range.launch, workspaceZone: range.timeZone, after, upto })
    : sql<number>`0`;
  // Driven from the lists' members in the range, each joined to its contact by primary key.
  // The address is computed once in the inner select; a suppressed one lands `suppressed`
  // (DESIGN §4: the suppression list applies at snapshot time) by a primary-key probe per row.
  const from = sql`
    from ${listContactsFrom(trx, range.audience.listIds, after, upto)}
    where c.workspace_id = ${workspaceId}
      and ${rulesWhere(range.parts)}`;
  // A range above the cursor holds rows only when it was written before and the cursor never
  // passed it: writeInParallel's ranges of a step that died before its cursor moved, or a
  // cursor set back by hand. Checked with one probe of (run_id, contact_id); the conflict
  // check, one more search of that index per row, is kept for those ranges alone: it was
  // 15–20% of the statement at 1,000,000 contacts (docs/benchmarks.md). The caller holds
  // the run's lock (SQLite: its one writer), so no other snapshot writes the range meanwhile,
  // and a row there anyway would fail the unique key, never be written twice.
  const written = await trx
    .selectFrom('messages')
    .select('id')
    .where('run_id', '=', runId)
    .where('contact_id', '>', after)
    .where('contact_id', '<=', upto)
    .limit(1)
    .executeTakeFirst();
  const onConflict = written ? sql`on conflict (run_id, contact_id) do nothing` : sql``;
  const insert =
    chain.length > 1
      ? snapshotWithFallback({ runId, workspaceId, chain, state, now, dialect: dialectOf(trx), from, onConflict })
      : sql`
      insert into messages (workspace_id, run_id, contact_id, state, address, attempts, next_attempt_at, updated_at)
      select a.workspace_id, cast(${runId} as bigint), a.id,
             case when ${suppressedAddress(channel, workspaceId, sql.ref('a.address'))} then 'suppressed'
                  else cast(${state} as text) end,
             a.address, 0, a.due, cast(${now.toISOString()} as text)
      from (
        select c.workspace_id, c.id, ${addressOf(channel, dialectOf(trx))} as address, ${due} as due
        ${from}
      ) a
      where a.address is not null
      ${onConflict}
    `;
  const deltas = await insertCounted(trx, insert, runId, state);
  await bumpCounters(trx, runId, deltas);
  return deltas;
}

/**
 * The snapshot of a campaign with fallback channels (DESIGN §8): each contact gets the first
 * channel of the chain it has an address on, written to `messages.channel` (null for the
 * campaign's own, so the rows a campaign without fallbacks writes look the same) with that
 * address. An address suppressed on its channel lands `suppressed` and does not fall back:
 * the list holds unsubscribes and complaints, and a person who said stop on one channel is
 * not chased on the next.
 */
function snapshotWithFallback(args: {
  runId: number;
  workspaceId: string;
  chain: readonly Channel[];
  state: string;
  now: Date;
  dialect: ReturnType<typeof dialectOf>;
  from: RawBuilder<unknown>;
  onConflict: RawBuilder<unknown>;
}): RawBuilder<unknown> {
  const { chain } = args;
  return sql`
    insert into messages (workspace_id, run_id, contact_id, state, address, channel, attempts, next_attempt_at, updated_at)
    select a.workspace_id, cast(${args.runId} as bigint), a.id,
           case when ${chainSuppressed(chain, args.workspaceId, 'a')} then 'suppressed' else cast(${args.state} as text) end,
           ${chainAddress(chain, 'a')}, ${chainChannel(chain, 'a')}, 0, 0, cast(${args.now.toISOString()} as text)
    from (
      select c.workspace_id, c.id, ${chainColumns(chain, args.dialect)}
      ${args.from}
    ) a
    where ${chainAddress(chain, 'a')} is not null
    ${args.onConflict}
  `;
}

/**
 * Runs the INSERT and counts the rows it wrote per state, for the run counters. PostgreSQL
 * aggregates the RETURNING rows itself (one row back per state). SQLite cannot put an
 * INSERT in a CTE, and taking its RETURNING rows into Node made a 400,000-contact snapshot
 * 12-45% slower (1.06 s → 1.33-1.54 s); instead the chunk's new `suppressed` rows are
 * counted on the (run_id, state, id) index above the highest id before the insert. That is
 * exact because SQLite has one writer and AUTOINCREMENT ids only grow; it cost nothing
 * measurable. Every other row the chunk wrote is in `state`.
 */
async function insertCounted(trx: Kysely<Database>, insert: RawBuilder<unknown>, runId: number, state: string): Promise<CounterDeltas> {
  if (dialectOf(trx) === 'postgres') {
    const { rows } = await sql<{ state: string; n: number }>`
      with written as (${insert} returning state)
      select state, count(*) as n from written group by state
    `.execute(trx);
    return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
  }
  const before = await trx
    .selectFrom('messages')
    .select(sql<number | null>`max(id)`.as('id'))
    .executeTakeFirst();
  const written = Number((await insert.execute(trx)).numAffectedRows ?? 0n);
  const suppressed = await trx
    .selectFrom('messages')
    .select(sql<number>`count(*)`.as('n'))
    .where('run_id', '=', runId)
    .where('state', '=', 'suppressed')
    .where('id', '>', before?.id ?? 0)
    .executeTakeFirstOrThrow();
  const n = Number(suppressed.n);
  return { suppressed: n, [state]: written - n };
}
