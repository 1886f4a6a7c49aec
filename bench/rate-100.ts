/**
 * rate-100: a campaign under a 100 msg/s limit for 30 s (3,000 messages; --scale shrinks the
 * count, not the rate), sent by Herald through the HTTP adapter to the HTTP sink in its own
 * process, which stamps every message's arrival on its own clock. Two phases, one per way a
 * limit is set: `sender` (the sender's `rateLimit: { perSecond: 100 }` through PATCH
 * /v1/senders/:id) and `provider` (HERALD_EMAIL_RATE_LIMIT=100/s).
 *
 * Figures: the largest number of arrivals in any 1-second sliding window (goal ≤ 100) and
 * the mean rate over the send (messages before the last request ÷ time from the first to
 * the last arrival), with its error against 100/s (goal ≤ 2%). Baseline: the limit itself.
 *
 * The engine grants a tenth of a second's allowance at a time (10 messages here) and spaces
 * each slot's grants, so arrivals come in requests of 10 about every 100 ms; a request that
 * lands late moves its 10 into the next second's window, which is what the sliding window
 * measures.
 */
import { readCounters } from '../src/store/ledger/counters.js';
import { startHttpHerald } from './dispatch-http.js';
import { waitForStatus } from './dispatch-smtp.js';
import { startHttpSink } from './http-sink.js';
import { createBenchCampaign, launch, round, runOf, seedAudience } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const perSecond = 100;
const defaultSeconds = 30;

/** The largest number of arrivals in any window [t, t + windowMs): a window holding most starts at an arrival. */
export function maxInWindow(sorted: readonly number[], windowMs: number): number {
  let best = 0;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

/** The share of 1-s windows (one starting at each arrival) holding more than `limit`, and where the first such window starts (ms after the first arrival). */
export function windowsOver(sorted: readonly number[], windowMs: number, limit: number): { share: number; firstAtMs: number | null } {
  let over = 0;
  let firstAtMs: number | null = null;
  for (let i = 0, j = 0; i < sorted.length; i++) {
    while (j < sorted.length && sorted[j]! < sorted[i]! + windowMs) j++;
    if (j - i > limit) {
      over++;
      firstAtMs ??= sorted[i]! - sorted[0]!;
    }
  }
  return { share: over / sorted.length, firstAtMs };
}

/** Messages per second over the send: those that arrived before the last request, over first → last arrival. */
export function meanRate(sorted: readonly number[]): number {
  const first = sorted[0]!;
  const last = sorted.at(-1)!;
  // The last request's messages arrive within a millisecond of each other; the interval they close is not theirs.
  const before = sorted.filter((t) => t < last - 1).length;
  return (before / (last - first)) * 1000;
}

async function run(phase: string, ctx: PhaseContext) {
  const n = Math.max(300, Math.round(perSecond * defaultSeconds * ctx.scale));
  const sink = await startHttpSink();
  const env: Record<string, string> = phase === 'provider' ? { HERALD_EMAIL_RATE_LIMIT: `${perSecond}/s` } : {};
  const bench = await startHttpHerald({ sinkUrl: sink.url, env });
  try {
    const listId = await seedAudience(bench.db, bench.workspaceId, n);
    const campaignId = await createBenchCampaign(bench.api, listId);
    if (phase === 'sender') {
      const { sender_id } = await bench.db
        .selectFrom('campaigns')
        .select('sender_id')
        .where('id', '=', campaignId)
        .executeTakeFirstOrThrow();
      const r = await bench.api('PATCH', `/v1/senders/${sender_id}`, { rateLimit: { perSecond } });
      if (r.status !== 200) throw new Error(`PATCH sender: ${r.status} ${JSON.stringify(r.body)}`);
    }
    const t0 = performance.now();
    await launch(bench.api, campaignId);
    const status = await waitForStatus(bench.db, campaignId, ['completed', 'failed', 'paused'], Math.max(120_000, (n / perSecond) * 3000));
    const seconds = (performance.now() - t0) / 1000;
    const got = await sink.summary();
    const counters = await readCounters(bench.db, await runOf(bench.db, campaignId));
    if (status !== 'completed' || got.unique !== n || got.duplicates !== 0)
      throw new Error(
        `rate-100 ${phase}: ${status}, ${got.unique} of ${n} at the sink, ${got.duplicates} duplicates, ${JSON.stringify(counters)}`,
      );
    const arrivals = (await sink.arrivals()).sort((a, b) => a - b);
    const maxWindow = maxInWindow(arrivals, 1000);
    const rate = meanRate(arrivals);
    const over = windowsOver(arrivals, 1000, perSecond);
    const errorPct = (Math.abs(rate - perSecond) / perSecond) * 100;
    ctx.log(
      `${phase} limit: ${n} messages in ${seconds.toFixed(1)} s (${got.requests} requests); ` +
        `max ${maxWindow} in any 1 s window (${(over.share * 100).toFixed(1)}% of windows over ${perSecond}, the first ` +
        `${over.firstAtMs === null ? '—' : `${over.firstAtMs.toFixed(0)} ms`} after the first arrival); mean ${rate.toFixed(2)} msg/s (${errorPct.toFixed(2)}% off)`,
    );
    return { n, seconds, maxWindow, overShare: over.share * 100, rate, errorPct, requests: got.requests };
  } finally {
    await bench.close();
    sink.close();
  }
}

export const rate100: Scenario = {
  name: 'rate-100',
  phases: ['sender', 'provider'],
  worst: ['maxWindow', 'overShare', 'errorPct'],
  run,
  figures(results) {
    return (['sender', 'provider'] as const).flatMap((phase) => {
      const m = results[phase] as Awaited<ReturnType<typeof run>>;
      const how = phase === 'sender' ? 'sender rateLimit {perSecond: 100}' : 'HERALD_EMAIL_RATE_LIMIT=100/s';
      return [
        {
          metric: `${phase}_max_in_1s_window`,
          value: m.maxWindow,
          unit: 'msgs',
          baseline: `the limit (${how}); goal ≤ 100`,
          baseline_value: perSecond,
          better: 'lower' as const,
        },
        {
          metric: `${phase}_windows_over_limit`,
          value: round(m.overShare, 1),
          unit: '%',
          baseline: 'goal 0% of 1-s windows (one starting at each arrival) over 100',
          baseline_value: 0,
          better: 'lower' as const,
        },
        {
          metric: `${phase}_mean_rate`,
          value: round(m.rate, 2),
          unit: 'msg/s',
          baseline: `the limit (${how})`,
          baseline_value: perSecond,
          better: 'higher' as const,
        },
        {
          metric: `${phase}_rate_error`,
          value: round(m.errorPct, 2),
          unit: '%',
          baseline: 'goal ≤ 2% off 100/s',
          baseline_value: 2,
          better: 'lower' as const,
        },
      ];
    });
  },
};
