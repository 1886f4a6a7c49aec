/**
 * crash: kill -9 a worker at random points of a send (DESIGN §7). A `herald worker`
 * child process sends 20,000 messages to a separate `herald sandbox` process and is
 * killed with SIGKILL 20 times at random moments (each while a batch is in flight),
 * restarted each time on the same database; on SQLite and on PostgreSQL. The moments are
 * random points of the whole send (between 3% and 97% of the audience at the sink), so
 * the kills hit its start, middle and end; HERALD_CRASH_MOMENTS=delay kills each life
 * after 150–900 ms of sending instead, as the reduced test in `npm test` does.
 *
 * Figures per dialect (scenario crash-sqlite, crash-postgres):
 * - lost: recipients the sink never received (goal 0);
 * - duplicates_idempotent: what a sink honouring the idempotency key (Message-ID) delivered
 *   twice (goal 0);
 * - duplicates_raw: what a sink ignoring the key received twice, against the bound
 *   DESIGN §4 promises, the in-flight window (batch × concurrency) per kill.
 * The run fails (after printing) if anything was lost, if an idempotent sink saw a
 * duplicate, or if the raw duplicates are not exactly the deliveries each dead worker had
 * not recorded. The harness is test/process/crash-harness.ts; its seed, printed on stderr,
 * draws the same kill moments again (HERALD_CRASH_SEED).
 */
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { pgAvailable, pgAdminUrl, type TestDialect } from '../test/dialects.js';
import { type CrashReport, runCrashScenario } from '../test/process/crash-harness.js';
import { killAll } from '../test/process/spawn.js';
import type { Row } from './run.js';

const defaultMessages = 20_000;
const defaultKills = 20;
/** Short, so each dead worker's batch comes back quickly; the default (30 s) would only add waiting. */
const leaseMs = 2_000;

function rows(report: CrashReport): Row[] {
  const scenario = `crash-${report.dialect}`;
  const window = `in-flight window × kills (${report.window} × ${report.kills})`;
  const row = (metric: string, value: number, baseline: string, baselineValue: number): Row => ({
    scenario,
    metric,
    value,
    unit: 'messages',
    baseline,
    baseline_value: baselineValue,
    ratio: baselineValue === 0 ? null : Number((value / baselineValue).toFixed(3)),
    better: 'lower',
  });
  return [
    row('lost', report.lost, '0', 0),
    row('duplicates_idempotent', report.duplicatesIdempotent, '0', 0),
    row('duplicates_raw', report.duplicates, window, report.window * report.kills),
  ];
}

function table(all: readonly Row[]): string {
  const cells = [
    ['scenario', 'metric', 'Herald', 'baseline', '', 'ratio', 'better'],
    ...all.map((r) => [
      r.scenario,
      r.metric,
      `${r.value} ${r.unit}`,
      `${r.baseline_value} ${r.unit}`,
      r.baseline,
      r.ratio === null ? '—' : `${r.ratio}×`,
      r.better,
    ]),
  ];
  const widths = cells[0]!.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells
    .map((c) =>
      c
        .map((v, i) => v.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Runs the scenario on SQLite and (when reachable) PostgreSQL; prints JSON lines on `json`, else a table. */
export async function crashScenario(opts: { json: boolean; scale: number }): Promise<Row[]> {
  const contacts = Math.max(1000, Math.round(defaultMessages * opts.scale));
  const kills = Math.max(3, Math.round(defaultKills * opts.scale));
  // Herald's own batch size and concurrency (as `herald worker` would run), capped at the SMTP adapter's batch of 50.
  const engine = loadConfig({ LOG_LEVEL: 'silent' }).engine;
  const batchSize = Math.min(engine.batchSize ?? 50, 50);
  const dialects: TestDialect[] = ['sqlite'];
  if (pgAvailable) dialects.push('postgres');
  else process.stderr.write(`crash: PostgreSQL is not reachable at ${pgAdminUrl} (HERALD_TEST_PG_URL); crash-postgres is skipped.\n`);

  const all: Row[] = [];
  const broken: string[] = [];
  for (const dialect of dialects) {
    const report = await runCrashScenario({
      dialect,
      contacts,
      kills,
      batchSize,
      concurrency: engine.concurrency,
      leaseMs,
      moments: process.env.HERALD_CRASH_MOMENTS === 'delay' ? 'delay' : 'progress',
      log: (line) => process.stderr.write(`[crash-${dialect}] ${line}\n`),
      completionTimeoutMs: Math.max(120_000, contacts * 20),
    });
    const figures = rows(report);
    if (opts.json) for (const r of figures) process.stdout.write(`${JSON.stringify(r)}\n`);
    all.push(...figures);
    if (report.status !== 'completed' || report.outcome !== 'fully_sent')
      broken.push(`${dialect}: campaign ended ${report.status}/${report.outcome}`);
    if (report.kills !== kills) broken.push(`${dialect}: the campaign finished after ${report.kills} of ${kills} kills`);
    if (report.lost !== 0) broken.push(`${dialect}: ${report.lost} messages lost`);
    if (report.duplicatesIdempotent !== 0) broken.push(`${dialect}: ${report.duplicatesIdempotent} duplicates at an idempotent sink`);
    if (report.duplicates !== report.expectedDuplicates)
      broken.push(`${dialect}: ${report.duplicates} raw duplicates, but the dead workers had left ${report.expectedDuplicates} unrecorded`);
    if (report.maxPerKill > report.window)
      broken.push(`${dialect}: ${report.maxPerKill} re-deliveries from one kill, over the window of ${report.window}`);
  }
  if (!opts.json) process.stdout.write(`\n${table(all)}\n`);
  if (broken.length) throw new Error(`crash safety broken:\n${broken.join('\n')}`);
  return all;
}

// `tsx bench/crash.ts [--json] [--scale F]` runs it alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const at = argv.findIndex((a) => a === '--scale' || a.startsWith('--scale='));
  const scale =
    at === -1 ? Number(process.env.HERALD_BENCH_SCALE ?? 1) : Number(argv[at]!.includes('=') ? argv[at]!.split('=')[1] : argv[at + 1]);
  crashScenario({ json: argv.includes('--json'), scale })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    })
    .finally(() => killAll());
}
