/**
 * pause: a ~20,000-message campaign is paused once ~30% has reached the sandbox. DESIGN §4
 * promises that a pause takes effect within one batch: after the pause is acknowledged
 * no new message may be claimed, and only the batches already in flight (at most
 * batchSize × concurrency messages) may still reach the provider. The bound is that
 * in-flight window; the goal for new claims is 0.
 *
 * Claims are read from the ledger (a claim sets attempts > 0), receptions from the
 * in-process sandbox. After the drain the campaign is resumed and must complete with
 * every recipient received exactly once.
 */
import { loadConfig } from '../src/config.js';
import type { Db } from '../src/store/database.js';
import { readCounters } from '../src/store/ledger/counters.js';
import { waitForStatus } from './dispatch-smtp.js';
import { createBenchCampaign, launch, round, runOf, seedAudience, startBenchHerald } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 20_000;
/** How long to keep watching after the drain, for a claim that would come late (several engine idle ticks). */
const settleMs = 1_500;

const claimedSoFar = async (db: Db, runId: number) =>
  Number(
    (
      await db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('run_id', '=', runId)
        .where('attempts', '>', 0)
        .executeTakeFirstOrThrow()
    ).n,
  );

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function run(_phase: string, ctx: PhaseContext) {
  const n = Math.max(1000, Math.round(defaultMessages * ctx.scale));
  const { batchSize, concurrency } = loadConfig({ LOG_LEVEL: 'silent' }).engine;
  const window = (batchSize ?? 50) * concurrency;
  const bench = await startBenchHerald();
  const { db } = bench.herald;
  const mailbox = bench.herald.mailbox!;
  try {
    const listId = await seedAudience(db, bench.workspaceId, n);
    const campaignId = await createBenchCampaign(bench.api, listId);
    await launch(bench.api, campaignId);
    const runId = await runOf(db, campaignId);

    // Wait for the first reception (the send rate is measured from there), then for ~30%.
    while (mailbox.summary().received === 0) await sleep(2);
    const tFirst = performance.now();
    while (mailbox.summary().received < 0.3 * n) await sleep(2);

    // A read of the same campaign just before, as the latency the pause is compared with.
    let t = performance.now();
    await bench.api('GET', `/v1/campaigns/${campaignId}`);
    const getMs = performance.now() - t;

    t = performance.now();
    const r = await bench.api('POST', `/v1/campaigns/${campaignId}/actions/pause`, {});
    const tAck = performance.now();
    if (r.status !== 200 || r.body.status !== 'paused') throw new Error(`pause: ${r.status} ${JSON.stringify(r.body)}`);
    const ackMs = tAck - t;
    const receivedAtAck = mailbox.summary().received;
    const claimedAtAck = await claimedSoFar(db, runId);
    const inFlightAtAck = (await readCounters(db, runId)).sending;
    const rate = receivedAtAck / ((tAck - tFirst) / 1000);

    while ((await readCounters(db, runId)).sending > 0) await sleep(1);
    const drainMs = performance.now() - tAck;
    await sleep(settleMs);
    const claimedAfter = (await claimedSoFar(db, runId)) - claimedAtAck;
    const receivedAfter = mailbox.summary().received - receivedAtAck;
    ctx.log(
      `paused at ${receivedAtAck}/${n} received; ${inFlightAtAck} in flight; drained in ${drainMs.toFixed(0)} ms; ` +
        `${claimedAfter} claimed and ${receivedAfter} received after the ack`,
    );

    // Resume must finish the run without re-sending or skipping anyone (DESIGN §8).
    const resumed = await bench.api('POST', `/v1/campaigns/${campaignId}/actions/resume`, {});
    if (resumed.status !== 200) throw new Error(`resume: ${resumed.status} ${JSON.stringify(resumed.body)}`);
    const status = await waitForStatus(db, campaignId, ['completed', 'failed']);
    const got = mailbox.summary();
    if (status !== 'completed' || got.unique !== n || got.duplicates !== 0) {
      throw new Error(`after resume: ${status}, ${got.unique} of ${n} unique, ${got.duplicates} duplicates`);
    }
    return { n, window, claimedAfter, receivedAfter, inFlightAtAck, drainMs, windowMs: (window / rate) * 1000, ackMs, getMs };
  } finally {
    await bench.close();
  }
}

export const pause: Scenario = {
  name: 'pause',
  phases: ['pause'],
  worst: ['claimedAfter', 'receivedAfter', 'inFlightAtAck'],
  run,
  figures(results) {
    const m = results.pause as Awaited<ReturnType<typeof run>>;
    const bound = `in-flight window (batch × concurrency)`;
    return [
      {
        metric: 'claimed_after_ack',
        value: m.claimedAfter,
        unit: 'msgs',
        baseline: `${bound}; goal 0`,
        baseline_value: m.window,
        better: 'lower',
      },
      { metric: 'received_after_ack', value: m.receivedAfter, unit: 'msgs', baseline: bound, baseline_value: m.window, better: 'lower' },
      { metric: 'in_flight_at_ack', value: m.inFlightAtAck, unit: 'msgs', baseline: bound, baseline_value: m.window, better: 'lower' },
      {
        metric: 'drain_time',
        value: round(m.drainMs, 0),
        unit: 'ms',
        baseline: 'one in-flight window at the run’s own send rate',
        baseline_value: round(m.windowMs, 0),
        better: 'lower',
      },
      {
        metric: 'pause_ack',
        value: round(m.ackMs, 1),
        unit: 'ms',
        baseline: 'GET of the same campaign just before',
        baseline_value: round(m.getMs, 1),
        better: 'lower',
      },
    ];
  },
};
