/**
 * materialise: how long Herald takes to snapshot a 1,000,000-contact audience into the
 * ledger, beside a bare `INSERT INTO copy SELECT` of the same contacts into a table of the
 * same shape and indexes in the same database (no list rule, no chunks, no cursor).
 *
 * This file also holds the set-up the other scenarios share: a Herald on a fresh file
 * database, an audience seeded with set-based SQL, and a campaign created through the API.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RawBuilder, sql } from 'kysely';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { type Herald, startHerald } from '../src/runtime.js';
import type { DatabaseLocation, Db } from '../src/store/database.js';
import { dialectOf } from '../src/store/dialect.js';
import { createList } from '../src/store/lists.js';
import { createApiKey, createWorkspace } from '../src/store/workspaces.js';
import { type Api, apiFor } from '../test/harness.js';
import { cpuSecondsOf, peakRssOf } from './dispatch-http.js';
import type { PhaseContext, Scenario } from './run.js';

export interface BenchHerald {
  readonly herald: Herald;
  readonly api: Api;
  readonly workspaceId: string;
  close(): Promise<void>;
}

/**
 * Herald as `herald serve` runs it (file database with WAL, in-process sandbox SMTP
 * server, default batch size and concurrency unless `env` says otherwise), in a
 * throw-away folder: a file, not `:memory:`, so commits pay for the WAL like production.
 */
export async function startBenchHerald(opts: { env?: Record<string, string>; startEngine?: boolean } = {}): Promise<BenchHerald> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const config = loadConfig({
    DATABASE_URL: join(dir, 'herald.db'),
    HERALD_SANDBOX: 'on',
    LOG_LEVEL: 'silent',
    // Set on the command line to compare (HERALD_SNAPSHOT_PARALLEL=1: one chunk at a time).
    ...(process.env.HERALD_SNAPSHOT_PARALLEL ? { HERALD_SNAPSHOT_PARALLEL: process.env.HERALD_SNAPSHOT_PARALLEL } : {}),
    ...opts.env,
  });
  const herald = await startHerald(config, { log: pino({ level: 'silent' }), startEngine: opts.startEngine ?? true });
  // A workspace of our own, as a new customer would have, rather than whatever the runtime set up first.
  const now = new Date();
  const workspace = await createWorkspace(herald.db, { name: 'Bench', now });
  const key = await createApiKey(herald.db, { workspaceId: workspace.id, name: 'bench', now });
  return {
    herald,
    api: apiFor(herald, key),
    workspaceId: workspace.id,
    async close() {
      await herald.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Adds n contacts (reader{i}@example.test) and a list holding all of them, with two
 * set-based statements: a recursive CTE counts to n inside SQLite, so nothing of the
 * audience passes through JavaScript. Returns the list id.
 */
export async function seedAudience(db: Db, workspaceId: string, n: number): Promise<string> {
  const now = new Date().toISOString();
  await sql`
    with recursive seq(i) as (select 1 union all select i + 1 from seq where i < ${n})
    insert into contacts (workspace_id, email, first_name, last_name, attributes, created_at, updated_at)
    select ${workspaceId}, 'reader' || i || '@example.test', 'Reader' || i, 'Bench', '{"plan":"pro"}', ${now}, ${now} from seq
  `.execute(db);
  const list = await createList(db, workspaceId, { name: 'Everyone' }, new Date());
  await sql`
    insert into list_members (workspace_id, list_id, contact_id, added_at)
    select workspace_id, ${list.id}, id, ${now} from contacts where workspace_id = ${workspaceId}
  `.execute(db);
  return list.id;
}

/** The content every benchmark sends: a short newsletter with two personalised fields. */
export const benchTemplate = {
  name: 'Bench newsletter',
  subject: 'Hello {{ contact.firstName }}, your {{ contact.plan }} digest',
  html: `<h1>Hi {{ contact.firstName }}</h1>${'<p>This week: what changed, what shipped, and what comes next. Read on for the details.</p>'.repeat(12)}<p><a href="https://example.test/u">Unsubscribe</a></p>`,
} as const;
export const benchSender = { name: 'Bench', fromEmail: 'news@example.test', fromName: 'Herald Bench' } as const;

/** Creates the template, the sender and a draft campaign to the list, through the API. */
export async function createBenchCampaign(api: Api, listId: string): Promise<string> {
  const template = await api('POST', '/v1/templates', benchTemplate);
  const sender = await api('POST', '/v1/senders', benchSender);
  const campaign = await api('POST', '/v1/campaigns', {
    name: 'Bench',
    templateId: template.body.id,
    senderId: sender.body.id,
    audience: { listIds: [listId] },
  });
  if (campaign.status !== 201) throw new Error(`create campaign: ${campaign.status} ${JSON.stringify(campaign.body)}`);
  return campaign.body.id as string;
}

/** Launches a campaign through the API; throws unless the API accepted it. */
export async function launch(api: Api, campaignId: string): Promise<void> {
  const r = await api('POST', `/v1/campaigns/${campaignId}/actions/launch`, {});
  if (r.status !== 200) throw new Error(`launch: ${r.status} ${JSON.stringify(r.body)}`);
}

/**
 * An empty table with the columns and indexes of `messages`, from the database's own
 * catalogue, so it follows migrations. Kysely's migrations quote the names they write, raw
 * SQL ones (0013's `messages_receipt_key`) do not: both are renamed.
 */
export async function messagesShapedTable(db: Db, name: string): Promise<void> {
  if (dialectOf(db) === 'postgres') {
    await sql.raw(`create table ${name} (like messages including all)`).execute(db);
    return;
  }
  const { rows } = await sql<{ sql: string }>`
    select sql from sqlite_master where tbl_name = 'messages' and sql is not null order by type desc
  `.execute(db);
  for (const r of rows) await sql.raw(r.sql.replace(/"?\bmessages(_\w+)?\b"?/g, `"${name}$1"`)).execute(db);
}

const defaultContacts = 1_000_000;
const chunk = 20_000; // the engine's default snapshot chunk (defaultEngineOptions.snapshotChunk)

async function run(_phase: string, ctx: PhaseContext) {
  const n = Math.max(1000, Math.round(defaultContacts * ctx.scale));
  // The engine stays off: this phase calls the engine's own snapshot step itself, so the
  // clock measures the snapshot and nothing else (no sending starts behind it).
  const bench = await startBenchHerald({ startEngine: false });
  const db = bench.herald.db;
  try {
    const t = performance.now();
    const listId = await seedAudience(db, bench.workspaceId, n);
    ctx.log(`seeded ${n.toLocaleString()} contacts on a list in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const campaignId = await createBenchCampaign(bench.api, listId);
    await launch(bench.api, campaignId);
    const runId = await runOf(db, campaignId);

    const {
      seconds: heraldS,
      chunks,
      longest,
      peak: heraldRss,
    } = await snapshotAll(bench.herald.config.database, runId, chunk, bench.herald.config.engine.snapshotParallel);
    const { count } = await db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<number>().as('count'))
      .where('run_id', '=', runId)
      .executeTakeFirstOrThrow();
    if (Number(count) !== n) throw new Error(`snapshot wrote ${count} messages, expected ${n}`);
    ctx.log(`Herald snapshot: ${heraldS.toFixed(2)} s in ${chunks} chunks, longest ${longest.toFixed(0)} ms`);

    await messagesShapedTable(db, 'bench_copy');
    const { seconds: bareS, peak: bareRss } = await statementAlone(
      db,
      bench.herald.config.database,
      sql`
        insert into bench_copy (workspace_id, run_id, contact_id, state, address, attempts, next_attempt_at, updated_at)
        select workspace_id, 0, id, 'pending', email, 0, 0, ${new Date().toISOString()} from contacts where workspace_id = ${bench.workspaceId}
      `,
    );
    ctx.log(`bare INSERT … SELECT: ${bareS.toFixed(2)} s`);
    return { n, heraldS, bareS, longestChunkMs: longest, heraldRss, bareRss };
  } finally {
    await bench.close();
  }
}

export const materialise: Scenario = {
  name: 'materialise',
  phases: ['snapshot'],
  run,
  figures(results) {
    const m = results.snapshot as Awaited<ReturnType<typeof run>>;
    const bare = `bare INSERT…SELECT of ${m.n.toLocaleString('en-US')} rows, same DB`;
    return [
      {
        metric: 'snapshot_time',
        value: round(m.heraldS, 2),
        unit: 's',
        baseline: bare,
        baseline_value: round(m.bareS, 2),
        better: 'lower',
      },
      // Herald chunks so no write transaction holds SQLite's single writer for long; the bare copy holds it throughout.
      {
        metric: 'longest_write_txn',
        value: round(m.longestChunkMs, 0),
        unit: 'ms',
        baseline: `${bare}, one transaction`,
        baseline_value: round(m.bareS * 1000, 0),
        better: 'lower',
      },
      { metric: 'peak_rss', value: mb(m.heraldRss), unit: 'MB', baseline: bare, baseline_value: mb(m.bareRss), better: 'lower' },
    ];
  },
};

/** The current run of a campaign. */
export async function runOf(db: Db, campaignId: string): Promise<number> {
  const { current_run_id } = await db
    .selectFrom('campaigns')
    .select('current_run_id')
    .where('id', '=', campaignId)
    .executeTakeFirstOrThrow();
  return current_run_id!;
}

/** What a phase's process reports: seconds, steps, the longest step (ms), and from /proc its peak RSS (VmHWM) and CPU seconds. */
export interface ProcessRun {
  readonly seconds: number;
  readonly chunks: number;
  readonly longest: number;
  readonly peak: number;
  readonly cpuS: number;
}

/** Runs snapshot-process.mjs with these arguments, sampling its /proc until it exits. */
async function inProcessOfItsOwn(location: DatabaseLocation, args: readonly string[]): Promise<ProcessRun> {
  const script = fileURLToPath(new URL('./snapshot-process.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, JSON.stringify(location), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let peak = 0;
  let cpuS = 0;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRssOf(child.pid!));
    cpuS = Math.max(cpuS, cpuSecondsOf(child.pid!));
  }, 20);
  const code = await new Promise<number | null>((resolve, reject) => child.on('error', reject).on('exit', resolve));
  clearInterval(timer);
  if (code !== 0) throw new Error(`snapshot-process.mjs ${args[0]} exited with ${code}: ${out}`);
  return { ...(JSON.parse(out) as { seconds: number; chunks: number; longest: number }), peak, cpuS };
}

/**
 * Runs the engine's snapshot step over a whole run, chunk by chunk, with the engine's own
 * options (`HERALD_SNAPSHOT_PARALLEL` chunks at once on PostgreSQL), in a process of its own;
 * after `warmUp`, untimed, if given (a small run of the same shape).
 */
export const snapshotAll = (
  location: DatabaseLocation,
  runId: number,
  chunk: number,
  parallel: number,
  warmUp?: number,
): Promise<ProcessRun> =>
  inProcessOfItsOwn(location, ['snapshot', String(runId), String(chunk), String(parallel), ...(warmUp ? [String(warmUp)] : [])]);

/** Runs one statement (the bare copy) in a process of its own, on a fresh connection as the snapshot's is. */
export async function statementAlone(db: Db, location: DatabaseLocation, statement: RawBuilder<unknown>): Promise<ProcessRun> {
  const { sql: text, parameters } = statement.compile(db);
  return inProcessOfItsOwn(location, ['statement', text, JSON.stringify(parameters)]);
}

export const round = (x: number, digits: number) => Number(x.toFixed(digits));
export const mb = (bytes: number) => Math.round(bytes / 1024 / 1024);
