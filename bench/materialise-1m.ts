/**
 * materialise-1m: the snapshot of a 1,000,000-contact audience with every rule of seed
 * 003 — a list, an include segment (plan is pro or team), an exclude segment (tag
 * churned) and the suppression list (1% of the emails) — into the ledger, through the
 * engine's own `snapshotChunk` in a loop (the campaign created and launched through the
 * API), on SQLite and on PostgreSQL. The snapshot runs in a process of its own on the
 * compiled code (snapshotAll), after an untimed snapshot of a 3,000-contact campaign of the
 * same shape (a running engine's code is compiled); its peak RSS is the figure. The bare copy
 * runs in a process of its own too, on a fresh connection like the snapshot's.
 *
 * Baseline, the limit: one bare `INSERT … SELECT` of the same contact ids (the rows the
 * snapshot wrote) into a table of the same shape and indexes as `messages`, in the same
 * database, with no rule, no chunks and no cursor.
 */
import { sql } from 'kysely';
import type { Db } from '../src/store/database.js';
import { dialectOf } from '../src/store/dialect.js';
import { createList } from '../src/store/lists.js';
import {
  type BenchHerald,
  benchSender,
  benchTemplate,
  launch,
  mb,
  messagesShapedTable,
  round,
  runOf,
  snapshotAll,
  statementAlone,
  startBenchHerald,
} from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultContacts = 1_000_000;
const chunk = 20_000; // the engine's default (defaultEngineOptions.snapshotChunk)

/**
 * n contacts on one list, set-based: plan cycles free/pro/team (include keeps 2 in 3),
 * every 20th is tagged churned (excluded), every 100th email is suppressed.
 */
export async function seed(db: Db, workspaceId: string, n: number): Promise<string> {
  const now = new Date().toISOString();
  await sql`
    with recursive seq(i) as (select 1 union all select i + 1 from seq where i < ${n})
    insert into contacts (workspace_id, email, first_name, last_name, attributes, tags, created_at, updated_at)
    select ${workspaceId}, 'reader' || i || '@example.test', 'Reader' || i, 'Bench',
           case i % 3 when 0 then '{"plan":"free"}' when 1 then '{"plan":"pro"}' else '{"plan":"team"}' end,
           case when i % 20 = 0 then '["churned"]' else '["news"]' end,
           ${now}, ${now}
    from seq
  `.execute(db);
  const list = await createList(db, workspaceId, { name: 'Everyone' }, new Date());
  await sql`
    insert into list_members (workspace_id, list_id, contact_id, added_at)
    select workspace_id, ${list.id}, id, ${now} from contacts where workspace_id = ${workspaceId}
  `.execute(db);
  await sql`
    insert into suppressions (workspace_id, address, kind, reason, source, note, created_at)
    select workspace_id, email, 'email', 'hard_bounce', 'bench', null, ${now} from contacts
    where workspace_id = ${workspaceId} and id % 100 = 7
  `.execute(db);
  if (dialectOf(db) === 'postgres') await sql`analyze`.execute(db);
  return list.id;
}

/** Template, sender, two segments and a campaign a list, through the API; returns the campaign ids. */
async function createCampaigns(bench: BenchHerald, listIds: readonly string[]): Promise<string[]> {
  const { api } = bench;
  const ok = async (method: string, url: string, body: unknown) => {
    const r = await api(method, url, body);
    if (r.status >= 300) throw new Error(`${method} ${url}: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.id as string;
  };
  const include = await ok('POST', '/v1/segments', {
    name: 'Paying',
    rule: { attribute: 'attributes.plan', op: 'in', value: ['pro', 'team'] },
  });
  const exclude = await ok('POST', '/v1/segments', { name: 'Churned', rule: { tag: 'churned' } });
  const templateId = await ok('POST', '/v1/templates', benchTemplate);
  const senderId = await ok('POST', '/v1/senders', benchSender);
  const ids: string[] = [];
  for (const [i, listId] of listIds.entries()) {
    ids.push(
      await ok('POST', '/v1/campaigns', {
        name: `Bench ${i + 1}`,
        templateId,
        senderId,
        audience: { listIds: [listId], segmentIds: [include], excludeSegmentIds: [exclude] },
      }),
    );
  }
  return ids;
}

async function run(dialect: 'sqlite' | 'postgres', ctx: PhaseContext) {
  const n = Math.max(2000, Math.round(defaultContacts * ctx.scale));
  let drop: () => Promise<void> = async () => undefined;
  let env: Record<string, string> = {};
  if (dialect === 'postgres') {
    // Imported here: test/dialects.ts probes PostgreSQL when loaded, which the SQLite phase does not need.
    const { freshDatabase } = await import('../test/dialects.js');
    const fresh = await freshDatabase('postgres');
    if (fresh.location.dialect === 'postgres') env = { DATABASE_URL: fresh.location.url };
    drop = () => fresh.drop();
  }
  // The engine stays off: this phase calls the engine's own snapshot step itself.
  const bench = await startBenchHerald({ startEngine: false, env });
  const db = bench.herald.db;
  try {
    const t = performance.now();
    const listId = await seed(db, bench.workspaceId, n);
    ctx.log(`seeded ${n.toLocaleString('en-US')} contacts, a list and 1% suppressed in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    // A campaign of the same shape on the first 3,000 contacts, whose snapshot warms the snapshot process up.
    const warmList = await createList(db, bench.workspaceId, { name: 'Warm-up' }, new Date());
    await sql`
      insert into list_members (workspace_id, list_id, contact_id, added_at)
      select workspace_id, ${warmList.id}, id, ${new Date().toISOString()} from contacts
      where workspace_id = ${bench.workspaceId} order by id limit 3000
    `.execute(db);
    const [warmCampaign, campaignId] = await createCampaigns(bench, [warmList.id, listId]);
    await launch(bench.api, warmCampaign!);
    const warmRun = await runOf(db, warmCampaign!);
    await launch(bench.api, campaignId!);
    const runId = await runOf(db, campaignId!);

    const parallel = bench.herald.config.engine.snapshotParallel;
    const {
      seconds: heraldS,
      chunks,
      longest,
      peak: heraldRss,
      cpuS,
    } = await snapshotAll(bench.herald.config.database, runId, chunk, parallel, warmRun);

    // The audience by plain arithmetic on how it was seeded: plan pro or team (i % 3 ≠ 0), not churned (i % 20 ≠ 0).
    const byState = await db
      .selectFrom('messages')
      .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
      .where('run_id', '=', runId)
      .groupBy('state')
      .execute();
    const count = (state: string) => Number(byState.find((r) => r.state === state)?.n ?? 0);
    let expected = 0;
    let suppressed = 0;
    for (let i = 1; i <= n; i++) {
      if (i % 3 === 0 || i % 20 === 0) continue;
      expected++;
      if (i % 100 === 7) suppressed++;
    }
    const written = count('pending') + count('suppressed');
    if (written !== expected || count('suppressed') !== suppressed) {
      throw new Error(`snapshot wrote ${JSON.stringify(byState)}; expected ${expected} rows, ${suppressed} suppressed`);
    }
    ctx.log(
      `Herald snapshot: ${heraldS.toFixed(2)} s, ${written.toLocaleString('en-US')} rows (${suppressed} suppressed) ` +
        `in ${chunks} steps of ${dialect === 'postgres' ? parallel : 1} chunk(s) at once, longest ${longest.toFixed(0)} ms; ` +
        `the snapshot process: CPU ${cpuS.toFixed(2)} s, peak RSS ${mb(heraldRss)} MB`,
    );

    await messagesShapedTable(db, 'bench_copy');
    const { seconds: bareS, peak: bareRss } = await statementAlone(
      db,
      bench.herald.config.database,
      sql`
        insert into bench_copy (workspace_id, run_id, contact_id, state, address, attempts, next_attempt_at, updated_at)
        select workspace_id, 0, contact_id, 'pending', address, 0, 0, ${new Date().toISOString()} from messages where run_id = ${runId}
      `,
    );
    ctx.log(`bare INSERT … SELECT: ${bareS.toFixed(2)} s`);
    return { n, written, heraldS, bareS, longestChunkMs: longest, heraldRss, bareRss };
  } finally {
    await bench.close();
    await drop();
  }
}

type Run = Awaited<ReturnType<typeof run>>;

function scenario(dialect: 'sqlite' | 'postgres'): Scenario {
  const pg = dialect === 'postgres';
  return {
    name: pg ? 'materialise-1m-pg' : 'materialise-1m',
    phases: ['snapshot'],
    run: (_phase: string, ctx: PhaseContext) => run(dialect, ctx),
    figures(results) {
      const m = results.snapshot as Run;
      const bare = `bare INSERT…SELECT of the same ${m.written.toLocaleString('en-US')} contact ids, no rules, same DB`;
      return [
        {
          metric: 'snapshot_time',
          value: round(m.heraldS, 2),
          unit: 's',
          baseline: bare,
          baseline_value: round(m.bareS, 2),
          better: 'lower',
        },
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
}

export const materialise1m = scenario('sqlite');
export const materialise1mPg = scenario('postgres');
