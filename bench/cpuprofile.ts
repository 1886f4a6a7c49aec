/**
 * `tsx bench/cpuprofile.ts FILE.cpuprofile [--top N] [--from S] [--to S]`: where a phase's
 * time went, from a `node --cpu-prof` profile. Prints self time grouped by area (SQLite
 * through Kysely, Liquid, JSON, fetch/undici, GC, idle…), then the top functions by self
 * time. --from/--to keep only the samples between those seconds of the profile (say, the
 * sending window after the seeding). --callers NAME splits the self time of the functions
 * named NAME (say, Kysely's `executeQuery`, where better-sqlite3's native statement calls
 * land) by the nearest Herald function (src/) above them: which query paid it.
 *
 * Profile a phase with, e.g.:
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/run.ts --phase dispatch-http:herald --scale 0.2
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}
interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** The area a frame belongs to, by its file and name; first match wins. */
const areas: readonly [string, (url: string, fn: string) => boolean][] = [
  ['GC', (_u, f) => f === '(garbage collector)'],
  ['idle', (_u, f) => f === '(idle)' || f === '(program)'],
  ['SQLite (better-sqlite3 native + driver)', (u, f) => /better-sqlite3/.test(u) || /^(all|run|get|prepare|iterate)$/.test(f)],
  ['Kysely (query building, compiling)', (u) => /node_modules\/kysely/.test(u)],
  ['pg driver', (u) => /node_modules\/(pg|pg-protocol|pg-pool|pg-types)\//.test(u)],
  ['Liquid render', (u) => /node_modules\/liquidjs/.test(u)],
  ['render.ts (textFromHtml, scope)', (u) => /src\/engine\/render\.ts/.test(u)],
  ['JSON.stringify / JSON.parse', (_u, f) => f === 'stringify' || f === 'parse'],
  ['fetch (undici)', (u) => /undici|node:internal\/deps\/undici/.test(u)],
  ['Node net/stream/http internals', (u) => /^node:/.test(u)],
  ['BullMQ / ioredis', (u) => /node_modules\/(bullmq|ioredis|msgpackr)/.test(u)],
  ['HTTP adapter', (u) => /src\/channels\/email-http/.test(u)],
  ['engine / store (Herald JS)', (u) => /src\/(engine|store|domain)/.test(u)],
  ['bench harness', (u) => /\/bench\//.test(u)],
  ['pino / fastify / other deps', (u) => /node_modules/.test(u)],
  ['native / builtins (RegExp, String, …)', (u) => u === ''],
];

function main(): void {
  const args = process.argv.slice(2);
  const file = args.find((a) => !a.startsWith('--') && !/^\d/.test(a));
  if (!file) throw new Error('usage: tsx bench/cpuprofile.ts FILE.cpuprofile [--top N] [--from S] [--to S]');
  const opt = (name: string, fallback: number) => {
    const i = args.indexOf(name);
    return i === -1 ? fallback : Number(args[i + 1]);
  };
  const top = opt('--top', 25);
  const from = opt('--from', 0) * 1e6;
  const to = opt('--to', Infinity) * 1e6;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  const callersOf = args.includes('--callers') ? args[args.indexOf('--callers') + 1] : undefined;
  if (callersOf) args.splice(args.indexOf('--callers'), 2);
  const self = new Map<number, number>();
  let t = 0;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) continue;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const perArea = new Map<string, number>();
  const perFn = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const fn = functionName || '(anonymous)';
    const area = areas.find(([, test]) => test(url, fn))?.[0] ?? 'other';
    perArea.set(area, (perArea.get(area) ?? 0) + us);
    const key = `${fn}  ${url.replace(/^.*\/(node_modules|src|bench)\//, '$1/')}:${lineNumber + 1}`;
    perFn.set(key, (perFn.get(key) ?? 0) + us);
  }
  // Herald's own code: src/ under tsx, dist/ compiled; not a dependency's dist/.
  const ours = (url: string) => /\/(src|dist)\//.test(url) && !url.includes('/node_modules/');
  if (callersOf) {
    const perCaller = new Map<string, number>();
    let sum = 0;
    for (const [id, us] of self) {
      if (byId.get(id)!.callFrame.functionName !== callersOf) continue;
      let up = parentOf.get(id);
      while (up !== undefined && !ours(byId.get(up)!.callFrame.url)) up = parentOf.get(up);
      const frame = up === undefined ? null : byId.get(up)!.callFrame;
      const key = frame
        ? `${frame.functionName || '(anonymous)'}  ${frame.url.replace(/^.*\/(src|dist)\//, '$1/')}:${frame.lineNumber + 1}`
        : '(no src/ caller)';
      perCaller.set(key, (perCaller.get(key) ?? 0) + us);
      sum += us;
    }
    process.stdout.write(`${callersOf}: ${(sum / 1e6).toFixed(2)} s, by nearest src/ caller\n`);
    for (const [k, us] of [...perCaller].sort((a, b) => b[1] - a[1]))
      process.stdout.write(`${((100 * us) / sum).toFixed(1).padStart(5)}% ${(us / 1e6).toFixed(2).padStart(7)} s  ${k}\n`);
    process.stdout.write('\n');
  }
  const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const sec = (us: number) => `${(us / 1e6).toFixed(2).padStart(7)} s`;
  process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s of samples\n\nby area (self time)\n`);
  for (const [area, us] of [...perArea].sort((a, b) => b[1] - a[1])) process.stdout.write(`${pct(us)} ${sec(us)}  ${area}\n`);
  process.stdout.write(`\ntop ${top} functions (self time)\n`);
  for (const [fn, us] of [...perFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`${pct(us)} ${sec(us)}  ${fn}\n`);
}

main();
