/**
 * workers-pg: 1, 2 and 4 `herald worker` processes (real CLI children) on one PostgreSQL
 * database send N messages (default 200,000) through the HTTP adapter to the HTTP sink in
 * its own process; the campaign is built and launched through the API of a Herald in the
 * phase's own process with its engine off (as `herald serve` beside the workers). Each phase
 * gets a fresh database (created through the admin URL of test/dialects.ts and dropped after).
 *
 * Figures per worker count: throughput (launch → completed, the snapshot included) against
 * one worker; raw duplicates at the sink (a message two workers both sent: goal 0, nothing
 * crashes here); and double claims in the ledger (messages claimed more than once, attempts
 * > 1: goal 0, as SKIP LOCKED promises).
 */
import { readFileSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { type CliProcess, startCli } from '../test/process/spawn.js';
import { cpuSecondsOf, httpEnv, peakRssOf, progress, startHttpHerald } from './dispatch-http.js';
import { waitForStatus } from './dispatch-smtp.js';
import { startHttpSink } from './http-sink.js';
import { createBenchCampaign, launch, mb, round, runOf, seedAudience } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 200_000;
const counts = { w1: 1, w2: 2, w4: 4 } as const;

/** CPU seconds of every PostgreSQL server process (postmaster, backends, background workers), by pid. */
function postgresCpu(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') out.set(Number(entry), cpuSecondsOf(Number(entry)));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

/** Where the machine's CPU went between two readings: the workers, PostgreSQL, the sink, this process (the API). */
function cpuReading(workerPids: readonly number[], sinkPid: number) {
  const self = process.cpuUsage();
  return {
    workers: workerPids.reduce((s, pid) => s + cpuSecondsOf(pid), 0),
    postgres: postgresCpu(),
    sink: cpuSecondsOf(sinkPid),
    api: (self.user + self.system) / 1e6,
  };
}

function cpuSpent(before: ReturnType<typeof cpuReading>, after: ReturnType<typeof cpuReading>) {
  let postgres = 0;
  for (const [pid, s] of after.postgres) postgres += s - (before.postgres.get(pid) ?? 0);
  return { workers: after.workers - before.workers, postgres, sink: after.sink - before.sink, api: after.api - before.api };
}

async function run(phase: string, ctx: PhaseContext) {
  // Imported here: test/dialects.ts probes PostgreSQL when loaded, which no other scenario needs.
  const { freshDatabase, pgAdminUrl, pgAvailable } = await import('../test/dialects.js');
  if (!pgAvailable) throw new Error(`workers-pg needs PostgreSQL at ${pgAdminUrl} (HERALD_TEST_PG_URL)`);
  const k = counts[phase as keyof typeof counts];
  const n = Math.max(2000, Math.round(defaultMessages * ctx.scale));
  const fresh = await freshDatabase('postgres');
  const url = fresh.location.dialect === 'postgres' ? fresh.location.url : '';
  const sink = await startHttpSink();
  const bench = await startHttpHerald({ sinkUrl: sink.url, databaseUrl: url, startEngine: false });
  const workers: CliProcess[] = [];
  try {
    const listId = await seedAudience(bench.db, bench.workspaceId, n);
    const campaignId = await createBenchCampaign(bench.api, listId);
    for (let i = 0; i < k; i++) workers.push(startCli(['worker'], { ...httpEnv(sink.url), DATABASE_URL: url }));
    await Promise.all(workers.map((w) => w.waitForLine(/is sending/, 60_000)));
    ctx.log(`${k} worker(s) up on ${url.replace(/\/\/[^@]*@/, '//')}; ${n.toLocaleString('en-US')} contacts`);

    const shown = progress(ctx, n, async () => (await sink.summary()).received);
    const cpuBefore = cpuReading(
      workers.map((w) => w.pid),
      sink.pid,
    );
    const t0 = performance.now();
    await launch(bench.api, campaignId);
    const status = await waitForStatus(bench.db, campaignId, ['completed', 'failed', 'paused']);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSpent(
      cpuBefore,
      cpuReading(
        workers.map((w) => w.pid),
        sink.pid,
      ),
    );
    shown.stop();
    const cpuTotal = cpu.workers + cpu.postgres + cpu.sink + cpu.api;
    const busyPct = (cpuTotal / (os.availableParallelism() * seconds)) * 100;
    ctx.log(
      `CPU over the send (${os.availableParallelism()} cores × ${seconds.toFixed(1)} s): workers ${cpu.workers.toFixed(1)} s, ` +
        `PostgreSQL ${cpu.postgres.toFixed(1)} s, sink ${cpu.sink.toFixed(1)} s, API process ${cpu.api.toFixed(1)} s: ${busyPct.toFixed(0)}% of the machine`,
    );
    const workerRss = Math.max(...workers.map((w) => peakRssOf(w.pid)));
    const got = await sink.summary();
    const runId = await runOf(bench.db, campaignId);
    const { reclaimed } = await bench.db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('reclaimed'))
      .where('run_id', '=', runId)
      .where('attempts', '>', 1)
      .executeTakeFirstOrThrow();
    ctx.log(
      `${k} worker(s): ${n} messages in ${seconds.toFixed(2)} s (${Math.round(n / seconds)} msg/s), ${got.duplicates} raw duplicates, ` +
        `${reclaimed} claimed twice, worker peak RSS ${mb(workerRss)} MB`,
    );
    if (status !== 'completed' || got.unique !== n)
      throw new Error(
        `workers-pg ${phase}: ${status} with ${got.unique} of ${n} at the sink\n${workers.map((w) => w.describe()).join('\n')}`,
      );
    return {
      k,
      n,
      seconds,
      duplicates: got.duplicates,
      reclaimed: Number(reclaimed),
      workerRss,
      busyPct,
      workersCpuUsPerMsg: (cpu.workers / n) * 1e6,
      postgresCpuUsPerMsg: (cpu.postgres / n) * 1e6,
      sinkCpuUsPerMsg: (cpu.sink / n) * 1e6,
    };
  } finally {
    await Promise.all(workers.map((w) => w.kill('SIGTERM')));
    await bench.close();
    sink.close();
    await fresh.drop();
  }
}

export const workersPg: Scenario = {
  name: 'workers-pg',
  phases: ['w1', 'w2', 'w4'],
  worst: ['duplicates', 'reclaimed'],
  run,
  figures(results) {
    const one = results.w1 as Awaited<ReturnType<typeof run>>;
    const baseline = '1 herald worker, same PostgreSQL and sink';
    return (['w1', 'w2', 'w4'] as const).flatMap((phase) => {
      const m = results[phase] as Awaited<ReturnType<typeof run>>;
      return [
        {
          metric: `throughput_${m.k}_workers`,
          value: round(m.n / m.seconds, 0),
          unit: 'msg/s',
          baseline,
          baseline_value: round(one.n / one.seconds, 0),
          better: 'higher' as const,
        },
        {
          metric: `raw_duplicates_${m.k}_workers`,
          value: m.duplicates,
          unit: 'msgs',
          baseline: 'goal 0 (no crash)',
          baseline_value: 0,
          better: 'lower' as const,
        },
        {
          metric: `double_claims_${m.k}_workers`,
          value: m.reclaimed,
          unit: 'msgs',
          baseline: 'goal 0 (attempts > 1 in the ledger)',
          baseline_value: 0,
          better: 'lower' as const,
        },
        {
          metric: `machine_cpu_busy_${m.k}_workers`,
          value: round(m.busyPct, 0),
          unit: '%',
          baseline: 'the same, 1 worker (all processes: workers, PostgreSQL, sink, API)',
          baseline_value: round(one.busyPct, 0),
          better: 'lower' as const,
        },
        {
          metric: `postgres_cpu_per_msg_${m.k}_workers`,
          value: round(m.postgresCpuUsPerMsg, 0),
          unit: 'µs',
          baseline: 'the same, 1 worker',
          baseline_value: round(one.postgresCpuUsPerMsg, 0),
          better: 'lower' as const,
        },
        {
          metric: `worker_cpu_per_msg_${m.k}_workers`,
          value: round(m.workersCpuUsPerMsg, 0),
          unit: 'µs',
          baseline: 'the same, 1 worker',
          baseline_value: round(one.workersCpuUsPerMsg, 0),
          better: 'lower' as const,
        },
        {
          metric: `worker_peak_rss_${m.k}_workers`,
          value: mb(m.workerRss),
          unit: 'MB',
          baseline: 'largest worker, 1 worker',
          baseline_value: mb(one.workerRss),
          better: 'lower' as const,
        },
      ];
    });
  },
};
