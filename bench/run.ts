/**
 * `npm run bench [-- scenario…] [--json] [--scale F] [--repeat K]`: Herald's benchmarks (DESIGN §7).
 *
 * Every phase of every scenario runs in a fresh child process, so a phase's peak RSS is
 * its own and not what an earlier phase left on the heap; the parent gathers each phase's
 * measurements over IPC and prints each figure beside the baseline measured in the same
 * run. `--scale 0.05` (or HERALD_BENCH_SCALE) shrinks every size for a quick run.
 * `--repeat 3` runs the phases three times, interleaved, and keeps the median of each
 * measurement: on a shared 2-core machine one run can lose a third of its speed to a
 * neighbour, and interleaving spreads that over Herald and its baseline alike.
 */
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { dispatchHttp } from './dispatch-http.js';
import { dispatchHttpSingle } from './dispatch-http-single.js';
import { dispatchSmtp } from './dispatch-smtp.js';
import { import1m, import1mPg } from './import-1m.js';
import { materialise } from './materialise.js';
import { materialise1m, materialise1mPg } from './materialise-1m.js';
import { pause } from './pause.js';
import { pause1m } from './pause-1m.js';
import { rate100 } from './rate-100.js';
import { workersPg } from './workers-pg.js';

/** One line of the DESIGN §7 contract. `ratio` is always value ÷ baseline_value; `better` says which way is good. */
export interface Row {
  readonly scenario: string;
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline: string;
  readonly baseline_value: number;
  readonly ratio: number | null;
  readonly better: 'higher' | 'lower';
}

export type Figure = Omit<Row, 'scenario' | 'ratio'>;
export type Measurements = Record<string, number>;

export interface PhaseContext {
  /** Multiplies every default size (1 = the full benchmark). */
  readonly scale: number;
  /** Progress for people, on stderr (stdout carries the results). */
  log(message: string): void;
  /** Starts sampling the process RSS; stop() returns the peak in bytes. */
  watchRss(): { stop(): number };
}

export interface Scenario {
  readonly name: string;
  /** Each phase runs in its own process, in this order. */
  readonly phases: readonly string[];
  /** Measurements reported as their worst (highest) over repeats instead of the median: guarantees, not speeds. */
  readonly worst?: readonly string[];
  run(phase: string, ctx: PhaseContext): Promise<Measurements>;
  figures(results: Readonly<Record<string, Measurements>>): Figure[];
}

const scenarios: readonly Scenario[] = [
  dispatchSmtp,
  materialise,
  pause,
  dispatchHttp,
  dispatchHttpSingle,
  rate100,
  workersPg,
  pause1m,
  import1m,
  import1mPg,
  materialise1m,
  materialise1mPg,
];

function watchRss(): { stop(): number } {
  let peak = process.memoryUsage.rss();
  // Each sample reads /proc (~0.15 ms): every 10 ms cost 1.5% of a dispatch run, every 50 ms is
  // noise, and RSS falls back slowly enough after a spike that 50 ms still catches it.
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

function parseArgs(argv: readonly string[]) {
  const names: string[] = [];
  let json = false;
  let phase: string | null = null;
  let repeat = 1;
  let scale = Number(process.env.HERALD_BENCH_SCALE ?? 1);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--scale') scale = Number(argv[++i]);
    else if (arg.startsWith('--scale=')) scale = Number(arg.slice('--scale='.length));
    else if (arg === '--repeat') repeat = Number(argv[++i]);
    else if (arg === '--phase') phase = argv[++i] ?? null;
    else if (arg.startsWith('-')) throw new Error(`unknown flag ${arg} (try --json, --scale F, or scenario names)`);
    else names.push(arg);
  }
  if (!(scale > 0)) throw new Error('--scale must be a positive number, e.g. 0.05 for a quick run');
  if (!Number.isInteger(repeat) || repeat < 1) throw new Error('--repeat must be a positive integer');
  return { names, json, phase, scale, repeat };
}

/** Runs one phase in a fresh process and returns its measurements. */
function runPhase(scenario: string, phase: string, scale: number): Promise<Measurements> {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ['--phase', `${scenario}:${phase}`, '--scale', String(scale)], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    let result: Measurements | undefined;
    child.on('message', (m) => (result = m as Measurements));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 && result ? resolve(result) : reject(new Error(`${scenario}:${phase} exited with ${code}`))));
  });
}

/** The median of each measurement over repeated runs of one phase (the highest, for those in `worst`). */
function summarise(runs: readonly Measurements[], worst: readonly string[] = []): Measurements {
  const out: Measurements = {};
  for (const key of Object.keys(runs[0]!)) {
    const values = runs.map((r) => r[key]!).sort((a, b) => a - b);
    out[key] = worst.includes(key) ? values.at(-1)! : values[(values.length - 1) >> 1]!;
  }
  return out;
}

function toRow(scenario: string, f: Figure): Row {
  const ratio = f.baseline_value === 0 ? null : Number((f.value / f.baseline_value).toFixed(3));
  // Spelled out so the JSON keys come in the contract's order.
  return {
    scenario,
    metric: f.metric,
    value: f.value,
    unit: f.unit,
    baseline: f.baseline,
    baseline_value: f.baseline_value,
    ratio,
    better: f.better,
  };
}

function table(rows: readonly Row[]): string {
  const fmt = (n: number) => (Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 }));
  const cells = [
    ['scenario', 'metric', 'Herald', 'baseline', '', 'ratio', 'better'],
    ...rows.map((r) => [
      r.scenario,
      r.metric,
      `${fmt(r.value)} ${r.unit}`,
      `${fmt(r.baseline_value)} ${r.unit}`,
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

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));

  if (args.phase !== null) {
    // A child: run one phase and send its measurements to the parent.
    const [name, phase] = args.phase.split(':') as [string, string];
    const scenario = scenarios.find((s) => s.name === name)!;
    const ctx: PhaseContext = { scale: args.scale, log: (m) => process.stderr.write(`[${args.phase}] ${m}\n`), watchRss };
    const result = await scenario.run(phase, ctx);
    // Run by hand (say under `node --cpu-prof --import tsx`), a phase prints its measurements.
    if (process.send) process.send(result, () => process.disconnect());
    else process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }

  // `crash` kills real processes and prints its own rows; it runs after the others.
  const known = [...scenarios.map((s) => s.name), 'crash'];
  const unknown = args.names.filter((n) => !known.includes(n));
  if (unknown.length) throw new Error(`unknown scenario ${unknown.join(', ')}; known: ${known.join(', ')}`);
  const chosen = args.names.length ? scenarios.filter((s) => args.names.includes(s.name)) : scenarios;
  const rows: Row[] = [];
  for (const s of chosen) {
    const load = os.loadavg().map((l) => l.toFixed(2));
    process.stderr.write(`${s.name}: load average ${load.join(' ')}\n`);
    const runs: Record<string, Measurements[]> = {};
    for (let k = 0; k < args.repeat; k++)
      for (const phase of s.phases) (runs[phase] ??= []).push(await runPhase(s.name, phase, args.scale));
    const results = Object.fromEntries(Object.entries(runs).map(([phase, r]) => [phase, summarise(r, s.worst)]));
    const figures = s.figures(results).map((f) => toRow(s.name, f));
    if (args.json) for (const r of figures) process.stdout.write(`${JSON.stringify(r)}\n`);
    rows.push(...figures);
  }
  if (!args.names.length || args.names.includes('crash')) {
    const { crashScenario } = await import('./crash.js');
    rows.push(...(await crashScenario({ json: args.json, scale: args.scale })));
  }
  if (!args.json) process.stdout.write(`\n${table(rows)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
