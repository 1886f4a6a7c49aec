/**
 * import-1m: a 1,000,000-row CSV (1% bad rows: bad emails, bad phones, bad time zones)
 * imported by `herald import FILE --list Imported` (the compiled CLI in a process of its
 * own, whose CPU and peak RSS are the figures; it calls `runImport`, as `POST /v1/imports`
 * does) into a fresh database, then imported again (the re-run must change nothing). Beside it,
 * the limit: the same rows written by a bare loop with no CSV, no checks and no upsert —
 * on SQLite one better-sqlite3 prepared INSERT per row in one transaction, on PostgreSQL
 * one `COPY … FROM STDIN` — into the real `contacts` table of a fresh database (same
 * columns and indexes).
 *
 * The import must name every bad line: the phase fails unless the lines in `import_errors`
 * are exactly the generated bad lines.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import SqliteDatabase from 'better-sqlite3';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { type DatabaseLocation, type Db, migrate, openDatabase } from '../src/store/database.js';
import { createWorkspace } from '../src/store/workspaces.js';
import { startCli } from '../test/process/spawn.js';
import { cpuSecondsOf, peakRssOf } from './dispatch-http.js';
import { badLines, cells } from './import-csv.js';
import { mb } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultRows = 1_000_000;
async function location(dialect: 'sqlite' | 'postgres', dir: string): Promise<{ at: DatabaseLocation; drop(): Promise<void> }> {
  if (dialect === 'sqlite') return { at: { dialect: 'sqlite', path: join(dir, 'herald.db') }, drop: async () => undefined };
  // Imported here: test/dialects.ts probes PostgreSQL when loaded, which the SQLite phases do not need.
  const { freshDatabase } = await import('../test/dialects.js');
  const fresh = await freshDatabase('postgres');
  return { at: fresh.location, drop: () => fresh.drop() };
}

/** Pages through the import's refused lines and checks they are exactly the bad lines written. */
async function checkReport(db: Db, importId: string, bad: readonly number[]): Promise<number> {
  let seen = 0;
  let after = 0;
  for (;;) {
    const rows = await db
      .selectFrom('import_errors')
      .select('line')
      .where('import_id', '=', importId)
      .where('line', '>', after)
      .orderBy('line')
      .limit(10_000)
      .execute();
    for (const r of rows) {
      if (Number(r.line) !== bad[seen]) throw new Error(`import_errors line ${r.line}, expected bad line ${bad[seen]}`);
      seen++;
    }
    if (rows.length < 10_000) break;
    after = Number(rows.at(-1)!.line);
  }
  if (seen !== bad.length) throw new Error(`the report names ${seen} bad lines; the file has ${bad.length}`);
  return seen;
}

const count = (text: string) => Number(text.replace(/,/g, ''));

/**
 * `herald import FILE --list Imported`, the compiled CLI as an operator runs it, on the
 * database at `at`. Its peak RSS (VmHWM) and CPU come from /proc, sampled until it exits;
 * the seconds, the import id and the counts from its summary line (its own clock around
 * the import, as runImport's callers time it: start-up and migrations not included).
 */
async function cliImport(file: string, at: DatabaseLocation) {
  const url = at.dialect === 'sqlite' ? at.path : at.url;
  const cli = startCli(['import', file, '--list', 'Imported'], { DATABASE_URL: url, LOG_LEVEL: 'silent' }, { built: true });
  let peak = 0;
  let cpuS = 0;
  const sample = () => {
    peak = Math.max(peak, peakRssOf(cli.pid));
    cpuS = Math.max(cpuS, cpuSecondsOf(cli.pid));
  };
  const timer = setInterval(sample, 20);
  const exit = await cli.exited;
  clearInterval(timer);
  const summary =
    /Import (\S+) (\w+) in ([\d.]+) s \([\d,]+ rows\/s\): ([\d,]+) rows read, ([\d,]+) imported \(([\d,]+) created, ([\d,]+) updated, [\d,]+ unchanged\), ([\d,]+) invalid/.exec(
      cli.stdout(),
    );
  if (exit.code !== 0 || !summary) throw new Error(`herald import failed\n${cli.describe()}`);
  const [line, importId, status, seconds, read, imported, created, updated, invalid] = summary as unknown as string[];
  return {
    summary: line!,
    importId: importId!,
    status: status!,
    seconds: Number(seconds),
    read: count(read!),
    imported: count(imported!),
    created: count(created!),
    updated: count(updated!),
    invalid: count(invalid!),
    peak,
    cpuS,
  };
}

async function herald(dialect: 'sqlite' | 'postgres', ctx: PhaseContext, n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-import-'));
  const place = await location(dialect, dir);
  const db = openDatabase(place.at);
  try {
    const file = join(dir, 'contacts.csv');
    const t = performance.now();
    // Written by a child process, so the garbage of generating it is not in this phase's RSS.
    await new Promise<void>((resolve, reject) =>
      fork(fileURLToPath(new URL('./import-csv.ts', import.meta.url)), [file, String(n)])
        .on('error', reject)
        .on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`import-csv exited with ${code}`)))),
    );
    const bad = badLines(n);
    ctx.log(`wrote ${n.toLocaleString('en-US')} rows (${bad.length} bad) in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    await migrate(db);
    // The CLI imports into the first workspace.
    await createWorkspace(db, { name: 'Bench', now: new Date() });

    const once = async (label: string) => {
      const run = await cliImport(file, place.at);
      const used = run.cpuS * 1e6;
      ctx.log(
        `${label}: ${run.seconds.toFixed(2)} s, ${Math.round(n / run.seconds).toLocaleString('en-US')} rows/s, ` +
          `CPU ${(used / n).toFixed(1)} µs/row (the whole herald process, start-up included), ` +
          `${run.created} created, ${run.updated} updated, ${run.invalid} invalid, peak RSS ${mb(run.peak)} MB`,
      );
      if (run.status !== 'completed' || run.read !== n || run.imported !== n - bad.length) throw new Error(`${label}: ${run.summary}`);
      await checkReport(db, run.importId, bad);
      return { seconds: run.seconds, peak: run.peak, created: run.created, updated: run.updated };
    };
    const first = await once('import');
    const again = await once('re-import');
    if (first.created !== n - bad.length || again.created !== 0 || again.updated !== 0) {
      throw new Error(`created ${first.created} then ${again.created} (updated ${again.updated}): not idempotent`);
    }
    const members = await db
      .selectFrom('list_members')
      .innerJoin('lists', 'lists.id', 'list_members.list_id')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('lists.name', '=', 'Imported')
      .executeTakeFirstOrThrow();
    if (Number(members.n) !== n - bad.length) throw new Error(`${members.n} list members, expected ${n - bad.length}`);
    return { n, bad: bad.length, seconds: first.seconds, rss: first.peak, reSeconds: again.seconds, reRss: again.peak };
  } finally {
    await db.destroy();
    await place.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The stored form of row i's values, built by string concatenation: the baseline parses and checks nothing. */
function storedRow(i: number, workspaceId: string, at: string): (string | null)[] {
  const c = cells(i);
  const tags = c[6] === 'news' ? '["news"]' : '["news","vip"]';
  return [workspaceId, c[0]!, c[1]!, c[2]!, c[3]!, c[4]!, c[5]!, tags, `{"plan":"${c[7]}"}`, at, at];
}
const columns = 'workspace_id, email, phone, first_name, last_name, time_zone, external_id, tags, attributes, created_at, updated_at';

async function baseline(dialect: 'sqlite' | 'postgres', ctx: PhaseContext, n: number) {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-import-'));
  const place = await location(dialect, dir);
  try {
    // The schema comes from Herald's migrations, so the bare writer fills the same table with the same indexes.
    const db = openDatabase(place.at);
    await migrate(db);
    const ws = await createWorkspace(db, { name: 'Bench', now: new Date() });
    await db.destroy();
    const at = new Date().toISOString();
    const rss = ctx.watchRss();
    const t = performance.now();
    const cpu = process.cpuUsage();
    if (place.at.dialect === 'sqlite') {
      const sqlite = new SqliteDatabase(place.at.path);
      sqlite.pragma('journal_mode = WAL');
      sqlite.pragma('synchronous = NORMAL');
      const insert = sqlite.prepare(`insert into contacts (${columns}) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      sqlite.transaction(() => {
        for (let i = 1; i <= n; i++) insert.run(storedRow(i, ws.id, at));
      })();
      sqlite.close();
    } else {
      const client = new pg.Client({ connectionString: place.at.url });
      await client.connect();
      async function* lines() {
        let buf = '';
        for (let i = 1; i <= n; i++) {
          // COPY's text format: tab-separated; none of these values holds a tab, newline or backslash.
          buf += `${storedRow(i, ws.id, at).join('\t')}\n`;
          if (i % 10_000 === 0) {
            yield buf;
            buf = '';
          }
        }
        yield buf;
      }
      await pipeline(Readable.from(lines()), client.query(copyFrom(`copy contacts (${columns}) from stdin`)));
      await client.end();
    }
    const seconds = (performance.now() - t) / 1000;
    const used = process.cpuUsage(cpu);
    const peak = rss.stop();
    ctx.log(
      `bare ${dialect === 'sqlite' ? 'prepared INSERT loop' : 'COPY'}: ${seconds.toFixed(2)} s, ${Math.round(n / seconds).toLocaleString('en-US')} rows/s, ` +
        `CPU ${((used.user + used.system) / n).toFixed(1)} µs/row (this process; PostgreSQL's own work is not in it)`,
    );
    return { n, seconds, rss: peak };
  } finally {
    await place.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

type HeraldRun = Awaited<ReturnType<typeof herald>>;
type BaselineRun = Awaited<ReturnType<typeof baseline>>;

function scenario(dialect: 'sqlite' | 'postgres'): Scenario {
  const pg = dialect === 'postgres';
  return {
    name: pg ? 'import-1m-pg' : 'import-1m',
    phases: ['herald', 'baseline'],
    run: async (phase, ctx) => {
      const n = Math.max(2000, Math.round(defaultRows * ctx.scale));
      return phase === 'herald' ? herald(dialect, ctx, n) : baseline(dialect, ctx, n);
    },
    figures(results) {
      const h = results.herald as HeraldRun;
      const b = results.baseline as BaselineRun;
      const bare = `${pg ? 'bare COPY FROM STDIN' : 'bare better-sqlite3 INSERT loop, 1 txn'} of the same ${h.n.toLocaleString('en-US')} rows`;
      const bareRate = Math.round(b.n / b.seconds);
      return [
        {
          metric: 'import_rate',
          value: Math.round(h.n / h.seconds),
          unit: 'rows/s',
          baseline: bare,
          baseline_value: bareRate,
          better: 'higher',
        },
        {
          metric: 'reimport_rate',
          value: Math.round(h.n / h.reSeconds),
          unit: 'rows/s',
          baseline: bare,
          baseline_value: bareRate,
          better: 'higher',
        },
        { metric: 'peak_rss', value: mb(h.rss), unit: 'MB', baseline: bare, baseline_value: mb(b.rss), better: 'lower' },
        // Every bad line named: the phase fails otherwise, so value = baseline = the bad rows generated.
        {
          metric: 'bad_lines_reported',
          value: h.bad,
          unit: 'lines',
          baseline: 'bad rows generated (1%)',
          baseline_value: h.bad,
          better: 'higher',
        },
      ];
    },
  };
}

export const import1m = scenario('sqlite');
export const import1mPg = scenario('postgres');
