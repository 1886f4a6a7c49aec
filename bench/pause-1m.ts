/**
 * pause-1m: a 1,000,000-recipient campaign (--scale shrinks it) sent by Herald through the
 * HTTP adapter to the HTTP sink in its own process, paused through the API once half of it
 * has reached the sink, then resumed once the in-flight batches have drained; it must
 * complete with every recipient received exactly once (unique == N, raw duplicates == 0).
 *
 * Claims after the pause are counted two ways, both exact on SQLite: from the run counters
 * (a claim moves `pending` to `sending`, and nothing here fails, so claimed = N − pending),
 * read just after the pause returned and again after the drain plus 1.5 s; and by watching
 * the SQL the engine runs (Kysely's query log) for a claim statement that executes after
 * the pause returned. The goal for both is 0. What may still reach the sink is what was in
 * flight at the ack (claimed, not yet recorded), at most batch × slots (DESIGN §4): the sink's
 * final count less the ledger's `sent` at the ack must equal it exactly, or the phase fails.
 *
 * Time: launch → completed, less the time it sat paused, against the same N at the rate the
 * run kept before the pause (what the send would have taken without one).
 */
import { readCounters } from '../src/store/ledger/counters.js';
import { heraldHttpShape, progress, startHttpHerald } from './dispatch-http.js';
import { waitForStatus } from './dispatch-smtp.js';
import { startHttpSink } from './http-sink.js';
import { createBenchCampaign, launch, mb, round, runOf, seedAudience } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 1_000_000;
const settleMs = 1_500;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The claim statement of src/store/ledger/claim-batch.ts, as Kysely logs it. */
const claimSql = /update messages\s+set state = 'sending', lease_owner/;

async function run(_phase: string, ctx: PhaseContext) {
  const n = Math.max(2000, Math.round(defaultMessages * ctx.scale));
  const shape = heraldHttpShape();
  const window = shape.batchSize * shape.slots;
  const sink = await startHttpSink();
  let claimsSeen = 0;
  let lastClaimAt = 0;
  const bench = await startHttpHerald({
    sinkUrl: sink.url,
    onQuery: (sql) => {
      if (!claimSql.test(sql)) return;
      claimsSeen++;
      lastClaimAt = performance.now();
    },
  });
  const { db } = bench;
  try {
    const listId = await seedAudience(db, bench.workspaceId, n);
    const campaignId = await createBenchCampaign(bench.api, listId);
    const rss = ctx.watchRss();
    const shown = progress(ctx, n, async () => (await sink.summary()).received);
    const tLaunch = performance.now();
    await launch(bench.api, campaignId);
    const runId = await runOf(db, campaignId);
    while ((await sink.summary()).received < n / 2) await sleep(5);

    let t = performance.now();
    await bench.api('GET', `/v1/campaigns/${campaignId}`);
    const getMs = performance.now() - t;
    t = performance.now();
    const r = await bench.api('POST', `/v1/campaigns/${campaignId}/actions/pause`, {});
    const tAck = performance.now();
    if (r.status !== 200 || r.body.status !== 'paused') throw new Error(`pause: ${r.status} ${JSON.stringify(r.body)}`);
    const ackMs = tAck - t;
    const claimsAtAck = claimsSeen;
    const atAck = await readCounters(db, runId);
    const claimedAtAck = n - atAck.pending;
    const receivedAtAck = (await sink.summary()).received;
    const preRate = receivedAtAck / ((tAck - tLaunch) / 1000);

    while ((await readCounters(db, runId)).sending > 0) await sleep(1);
    const drainMs = performance.now() - tAck;
    await sleep(settleMs);
    const claimedAfter = n - (await readCounters(db, runId)).pending - claimedAtAck;
    const claimStatementsAfter = claimsSeen - claimsAtAck;
    // Everything the sink holds beyond what the ledger had recorded sent at the ack went out, or was
    // answered, after it: it must be exactly what was in flight then (nothing fails here), at most the window.
    const deliveredBeyondAck = (await sink.summary()).received - atAck.sent;
    if (deliveredBeyondAck !== atAck.sending + claimedAfter)
      throw new Error(
        `the sink holds ${deliveredBeyondAck} beyond the ${atAck.sent} recorded at the ack, but ${atAck.sending} were in flight`,
      );
    ctx.log(
      `paused at ${receivedAtAck.toLocaleString('en-US')}/${n.toLocaleString('en-US')} received (ack ${ackMs.toFixed(1)} ms); ` +
        `${atAck.sending} in flight; drained in ${drainMs.toFixed(0)} ms; ${claimedAfter} claimed, ${claimStatementsAfter} claim statements ` +
        `after the ack; ${deliveredBeyondAck} delivered beyond those recorded sent at the ack (last claim ${(tAck - lastClaimAt).toFixed(0)} ms before it)`,
    );

    const tResume = performance.now();
    const resumed = await bench.api('POST', `/v1/campaigns/${campaignId}/actions/resume`, {});
    if (resumed.status !== 200) throw new Error(`resume: ${resumed.status} ${JSON.stringify(resumed.body)}`);
    const status = await waitForStatus(db, campaignId, ['completed', 'failed', 'paused']);
    const tDone = performance.now();
    shown.stop();
    const peakRss = rss.stop();
    const got = await sink.summary();
    if (status !== 'completed' || got.unique !== n || got.duplicates !== 0)
      throw new Error(`after resume: ${status}, ${got.unique} of ${n} unique, ${got.duplicates} duplicates`);
    const pausedS = (tResume - tAck) / 1000;
    const sendS = (tDone - tLaunch) / 1000 - pausedS;
    ctx.log(
      `completed: ${got.unique.toLocaleString('en-US')} unique, ${got.duplicates} duplicates; ${sendS.toFixed(1)} s sending ` +
        `(+ ${pausedS.toFixed(1)} s paused), ${(n / preRate).toFixed(1)} s at the pre-pause rate; peak RSS ${mb(peakRss)} MB`,
    );
    return {
      n,
      window,
      unique: got.unique,
      duplicates: got.duplicates,
      claimedAfter,
      claimStatementsAfter,
      deliveredBeyondAck,
      inFlightAtAck: atAck.sending,
      drainMs,
      ackMs,
      getMs,
      sendS,
      expectedS: n / preRate,
      peakRss,
    };
  } finally {
    await bench.close();
    sink.close();
  }
}

export const pause1m: Scenario = {
  name: 'pause-1m',
  phases: ['pause'],
  worst: ['claimedAfter', 'claimStatementsAfter', 'deliveredBeyondAck', 'inFlightAtAck', 'duplicates'],
  run,
  figures(results) {
    const m = results.pause as Awaited<ReturnType<typeof run>>;
    const bound = `in-flight window (batch × slots)`;
    return [
      { metric: 'unique_received', value: m.unique, unit: 'msgs', baseline: 'N recipients', baseline_value: m.n, better: 'higher' },
      { metric: 'raw_duplicates', value: m.duplicates, unit: 'msgs', baseline: 'goal 0', baseline_value: 0, better: 'lower' },
      {
        metric: 'claimed_after_ack',
        value: m.claimedAfter,
        unit: 'msgs',
        baseline: `${bound}; goal 0`,
        baseline_value: m.window,
        better: 'lower',
      },
      {
        metric: 'claim_statements_after_ack',
        value: m.claimStatementsAfter,
        unit: 'stmts',
        baseline: 'goal 0',
        baseline_value: 0,
        better: 'lower',
      },
      {
        metric: 'delivered_beyond_recorded_at_ack',
        value: m.deliveredBeyondAck,
        unit: 'msgs',
        baseline: bound,
        baseline_value: m.window,
        better: 'lower',
      },
      { metric: 'in_flight_at_ack', value: m.inFlightAtAck, unit: 'msgs', baseline: bound, baseline_value: m.window, better: 'lower' },
      {
        metric: 'pause_ack',
        value: round(m.ackMs, 1),
        unit: 'ms',
        baseline: 'GET of the same campaign just before',
        baseline_value: round(m.getMs, 1),
        better: 'lower',
      },
      {
        metric: 'send_time',
        value: round(m.sendS, 1),
        unit: 's',
        baseline: 'N at the run’s own pre-pause rate (no pause)',
        baseline_value: round(m.expectedS, 1),
        better: 'lower',
      },
    ];
  },
};
