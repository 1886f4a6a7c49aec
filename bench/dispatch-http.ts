/**
 * dispatch-http: N emails (default 1,000,000) end to end through Herald (launch → snapshot →
 * claim → Liquid render → JSON → POST /email/batch → record → complete, in a `herald worker`
 * process) to the loopback HTTP batch sink in its own process, beside two baselines measured
 * in the same run, each against a fresh sink of its own:
 *
 * - (a) `bare`: a loop that renders the same template with the same `renderEmail` and the
 *   same links (unsubscribe link and footer, List-Unsubscribe headers, open pixel, tracked
 *   links), builds the same wire messages (`toWireEmail`) and posts the same 500-message
 *   batches with the same number of requests in flight, with no database and no ledger: the
 *   ceiling. `bare-untracked` is the same loop without the links, for what they cost;
 * - (b) `bullmq`: a conventional job-per-recipient sender on the local Redis: N jobs enqueued
 *   (addBulk, 1,000 at a time, while the worker runs), a BullMQ Worker with the same
 *   concurrency that renders each message as (a) does and posts it alone (a one-message batch: the
 *   sandbox serves no single-message endpoint).
 *
 * This file also holds the set-up the other HTTP scenarios share: a Herald (SQLite file or
 * PostgreSQL) whose email goes to an external HTTP sink, as `herald serve` with
 * HERALD_SANDBOX=off, HERALD_EMAIL_TRANSPORT=http and EMAIL_HTTP_URL would run.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { pino } from 'pino';
import { type WireAnswer, jsonArrayBytes, toWireEmail } from '../src/channels/email-http/adapter.js';
import { maxHttpEmailBatch, sandboxHttpEmailConfig } from '../src/channels/email-http/config.js';
import type { OutgoingEmail } from '../src/channels/channel.js';
import { loadConfig } from '../src/config.js';
import { trackingKey } from '../src/domain/tracking.js';
import type { EmailLinks } from '../src/engine/email-compose.js';
import { type EmailContent, renderEmail } from '../src/engine/render.js';
import { type Herald, emailLinkBaseUrl, startHerald } from '../src/runtime.js';
import type { Db } from '../src/store/database.js';
import { createApiKey, createWorkspace } from '../src/store/workspaces.js';
import { apiFor } from '../test/harness.js';
import { type CliProcess, startCli } from '../test/process/spawn.js';
import { waitForStatus } from './dispatch-smtp.js';
import { startHttpSink, sinkToken } from './http-sink.js';
import { type BenchHerald, benchSender, benchTemplate, createBenchCampaign, launch, mb, round, seedAudience } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 1_000_000;
/**
 * BullMQ sends one message per job with Herald's 2 requests in flight: about 650 msg/s here, so
 * a million would take 25 minutes. Its rate does not depend on the queue's length (each job is
 * the same few O(1) Redis scripts), so it is measured over at most this many jobs
 * (HERALD_BENCH_BULLMQ_MAX to change it), and the ratio compares rates.
 */
const bullmqMax = Number(process.env.HERALD_BENCH_BULLMQ_MAX ?? 50_000);
/** The BullMQ worker's concurrency: Herald's requests in flight, as the issue asks, unless HERALD_BENCH_BULLMQ_CONCURRENCY says otherwise. */
const bullmqConcurrency = () => Number(process.env.HERALD_BENCH_BULLMQ_CONCURRENCY ?? heraldHttpShape().inFlightRequests);
/**
 * V8 grows a busy sender's heap far past what it holds live (about 80 MB here at the peak),
 * collecting lazily: the worker's RSS climbs past 300 MB. Capping the old generation makes it
 * collect sooner, for a price in CPU; the `herald-capped` phase measures both
 * (HERALD_BENCH_CAPPED_HEAP to try other flags).
 */
const cappedHeap = process.env.HERALD_BENCH_CAPPED_HEAP ?? '--max-old-space-size=128';
export const redisUrl = process.env.HERALD_BENCH_REDIS ?? 'redis://127.0.0.1:6379';

/** The environment of a Herald that sends email to the HTTP sink at `url`, as an operator would set it. */
export function httpEnv(url: string): Record<string, string> {
  const threads = process.env.HERALD_SEND_THREADS;
  return {
    HERALD_SANDBOX: 'off',
    HERALD_EMAIL_TRANSPORT: 'http',
    EMAIL_HTTP_URL: url,
    EMAIL_HTTP_TOKEN: sinkToken,
    LOG_LEVEL: 'silent',
    // Send threads as the operator set them for this bench run (HERALD_SEND_THREADS=1 npm run bench …).
    ...(threads ? { HERALD_SEND_THREADS: threads } : {}),
  };
}

/**
 * Herald's HTTP sending shape, read where Herald reads it so the baselines follow any change:
 * messages per batch (HERALD_BATCH_SIZE, else the adapter's 500), send slots, and requests in
 * flight (each slot has one batch out; a batch of ≤ 500 is one request, and the adapter's own
 * limit of concurrent requests caps the total).
 */
export function heraldHttpShape() {
  const engine = loadConfig({ LOG_LEVEL: 'silent' }).engine;
  const http = sandboxHttpEmailConfig('http://127.0.0.1:1');
  const batchSize = engine.batchSize ?? http.batchSize;
  const requestsPerBatch = Math.ceil(batchSize / http.batchSize);
  return {
    batchSize,
    slots: engine.concurrency,
    inFlightRequests: Math.min(engine.concurrency * requestsPerBatch, http.concurrency),
    messageStream: http.messageStream,
  };
}

export interface HttpBenchHerald extends BenchHerald {
  readonly db: Db;
}

/**
 * A Herald whose email goes to the HTTP sink at `sinkUrl`, on a throw-away SQLite file (WAL,
 * as `herald serve` uses it) or on `databaseUrl`, with a workspace and API key of its own.
 * With `startEngine: false` it is the API alone (workers elsewhere do the sending).
 */
export async function startHttpHerald(opts: {
  sinkUrl: string;
  env?: Record<string, string>;
  databaseUrl?: string;
  startEngine?: boolean;
  onQuery?: (sql: string) => void;
}): Promise<HttpBenchHerald> {
  const dir = opts.databaseUrl ? null : mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const config = loadConfig({ DATABASE_URL: opts.databaseUrl ?? join(dir!, 'herald.db'), ...httpEnv(opts.sinkUrl), ...opts.env });
  const herald: Herald = await startHerald(config, {
    log: pino({ level: 'silent' }),
    startEngine: opts.startEngine ?? true,
    ...(opts.onQuery ? { onQuery: opts.onQuery } : {}),
  });
  const now = new Date();
  const workspace = await createWorkspace(herald.db, { name: 'Bench', now });
  const key = await createApiKey(herald.db, { workspaceId: workspace.id, name: 'bench', now });
  return {
    herald,
    db: herald.db,
    api: apiFor(herald, key),
    workspaceId: workspace.id,
    async close() {
      await herald.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * CPU time (user + system, µs) this process spent since `from`. On the shared 2-core machine a
 * neighbour's load stretches wall-clock time by up to a half; the CPU a sender spends per
 * message moves far less, so the figures give both.
 */
export function cpuSpent(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from);
  return d.user + d.system;
}

/** A process's peak RSS so far (VmHWM), in bytes; 0 when /proc cannot tell. */
export function peakRssOf(pid: number): number {
  try {
    const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. Linux /proc, USER_HZ 100. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

/** Logs progress every `everyMs` while `work` runs: `[k/n] rate`. */
export function progress(ctx: PhaseContext, n: number, count: () => Promise<number> | number, everyMs = 10_000): { stop(): void } {
  const t0 = performance.now();
  const timer = setInterval(() => {
    void Promise.resolve(count()).then((done) => {
      const s = (performance.now() - t0) / 1000;
      ctx.log(
        `${done.toLocaleString('en-US')}/${n.toLocaleString('en-US')} at the sink after ${s.toFixed(0)} s (${Math.round(done / s)} msg/s)`,
      );
    });
  }, everyMs);
  return { stop: () => clearInterval(timer) };
}

/**
 * The links of the baselines' emails, as Herald's engine sets them for the bench campaign:
 * its link base URL (no HERALD_PUBLIC_URL, not listening: the configured address), a tracking
 * key as runtime.ts derives it, and the template's defaults (opens and clicks tracked).
 */
export const benchLinks: EmailLinks = (() => {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...httpEnv('http://127.0.0.1:1') });
  return {
    baseUrl: emailLinkBaseUrl(config, null),
    key: trackingKey(config.secrets ? config.env.HERALD_SECRET_KEY : null),
    opens: true,
    clicks: true,
  };
})();

/**
 * The content the baselines send: the bench template and sender, as Herald loads them for a
 * run, with the same unsubscribe link, footer, List-Unsubscribe headers, open pixel and
 * tracked links every email of Herald's carries (like for like).
 */
export const baselineContent: EmailContent = {
  workspaceId: 'ws_bench',
  campaignId: 'cmp_bench',
  campaignName: 'Bench',
  templateKey: 'bench-baseline',
  subject: benchTemplate.subject,
  html: benchTemplate.html,
  text: null,
  from: { name: benchSender.fromName, address: benchSender.fromEmail },
  replyTo: null,
  links: benchLinks,
};

/** The same content without any of it (the template's Liquid only): what tracking costs, for a figure of its own. */
export const untrackedContent: EmailContent = { ...baselineContent, templateKey: 'bench-baseline-untracked', links: undefined };

/** Recipient i as seedAudience creates it and the claim reads it back (run 1, message i). */
export function renderRecipient(i: number, content: EmailContent = baselineContent): OutgoingEmail {
  const address = `reader${i}@example.test`;
  const contact = { email: address, phone: null, firstName: `Reader${i}`, lastName: 'Bench', attributes: { plan: 'pro' }, timeZone: null };
  return renderEmail(content, { id: i, runId: 1, contactId: i, address, attempts: 1, contact }, contact);
}

/** POSTs one batch as the adapter does (same headers, same wire shape and body bytes, an undici pool) and checks every answer. */
async function postBatch(pool: Pool, messages: readonly OutgoingEmail[], stream: string): Promise<void> {
  const response = await pool.request({
    method: 'POST',
    path: '/email/batch',
    headers: sinkHeaders,
    body: jsonArrayBytes(messages, (m) => toWireEmail(m, stream)),
  });
  const answers = JSON.parse(await response.body.text()) as WireAnswer[];
  if (response.statusCode !== 200 || answers.length !== messages.length || answers.some((a) => a.ErrorCode !== 0))
    throw new Error(`sink answered ${response.statusCode}: ${JSON.stringify(answers).slice(0, 300)}`);
}

/** The headers the adapter sends. */
export const sinkHeaders = { Accept: 'application/json', 'Content-Type': 'application/json', 'X-Postmark-Server-Token': sinkToken };

/**
 * Herald as it is deployed to send: a `herald worker` process (the compiled CLI, a child of
 * this one) on a SQLite file, beside this process's API with its engine off, which seeds the
 * audience, builds and launches the campaign and watches its status. The worker snapshots
 * the audience and sends; its CPU and peak RSS (VmHWM) are the figures, so neither the
 * bench's own set-up (a million contacts seeded, BullMQ and the baselines' code loaded) nor
 * the API's memory is counted against it. `nodeOptions` runs the worker with V8 flags, as an
 * operator's NODE_OPTIONS would.
 */
export async function sendThroughWorker(
  n: number,
  ctx: PhaseContext,
  opts: { env?: Record<string, string>; nodeOptions?: string; label?: string } = {},
) {
  const { nodeOptions } = opts;
  const sink = await startHttpSink();
  const dir = mkdtempSync(join(tmpdir(), 'herald-bench-'));
  const file = join(dir, 'herald.db');
  const bench = await startHttpHerald({ sinkUrl: sink.url, databaseUrl: file, startEngine: false, ...(opts.env ? { env: opts.env } : {}) });
  let worker: CliProcess | undefined;
  try {
    let t = performance.now();
    const listId = await seedAudience(bench.db, bench.workspaceId, n);
    ctx.log(`seeded ${n.toLocaleString('en-US')} contacts in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const campaignId = await createBenchCampaign(bench.api, listId);
    // The compiled CLI, as deployed (`npm run bench` builds it first).
    const env = { ...httpEnv(sink.url), ...opts.env, DATABASE_URL: file, ...(nodeOptions ? { NODE_OPTIONS: nodeOptions } : {}) };
    worker = startCli(['worker'], env, { built: true });
    await worker.waitForLine(/is sending/, 60_000);
    const rssAtLaunch = peakRssOf(worker.pid);
    const shown = progress(ctx, n, async () => (await sink.summary()).received);
    t = performance.now();
    const cpu = cpuSecondsOf(worker.pid);
    const apiCpu = process.cpuUsage();
    await launch(bench.api, campaignId);
    await waitForStatus(bench.db, campaignId, ['sending', 'completed', 'failed']);
    const snapshotS = (performance.now() - t) / 1000;
    const status = await waitForStatus(bench.db, campaignId, ['completed', 'failed', 'paused']);
    const seconds = (performance.now() - t) / 1000;
    const cpuUs = (cpuSecondsOf(worker.pid) - cpu) * 1e6;
    const apiCpuUs = cpuSpent(apiCpu);
    shown.stop();
    const peakRss = peakRssOf(worker.pid);
    const got = await sink.summary();
    if (status !== 'completed' || got.unique !== n || got.duplicates !== 0)
      throw new Error(`Herald ended ${status} with ${got.unique} of ${n} at the sink, ${got.duplicates} duplicates\n${worker.describe()}`);
    ctx.log(
      `Herald${nodeOptions ? ` (NODE_OPTIONS=${nodeOptions})` : ''}: ${n} messages${opts.label ?? ''} in ${seconds.toFixed(2)} s (snapshot ${snapshotS.toFixed(2)} s, ` +
        `${got.requests} requests); worker RSS ${mb(rssAtLaunch)} MB at launch, ${mb(peakRss)} MB peak; ` +
        `CPU ${(cpuUs / n) | 0} µs a message in the worker, ${(apiCpuUs / n) | 0} in the API process`,
    );
    return { n, seconds, snapshotS, peakRss, cpuUs, requests: got.requests };
  } finally {
    await worker?.kill('SIGTERM');
    await bench.close();
    sink.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The bare loop (a), the ceiling of a comparison: `lanes` loops, each taking the next `take`
 * recipients and posting them with `post` through an undici pool, no database; every
 * recipient must reach a fresh sink once.
 */
export async function bareLoop(
  n: number,
  ctx: PhaseContext,
  opts: { lanes: number; take: number; label: string; post: (pool: Pool, from: number, size: number) => Promise<void> },
): Promise<{ n: number; seconds: number; peakRss: number; cpuUs: number }> {
  const sink = await startHttpSink();
  const pool = new Pool(sink.url, { connections: opts.lanes });
  try {
    const rss = ctx.watchRss();
    const shown = progress(ctx, n, async () => (await sink.summary()).received);
    const t0 = performance.now();
    const cpu = process.cpuUsage();
    let next = 1;
    const lane = async () => {
      while (next <= n) {
        const from = next;
        const size = Math.min(opts.take, n - from + 1);
        next += size;
        await opts.post(pool, from, size);
      }
    };
    await Promise.all(Array.from({ length: opts.lanes }, lane));
    const seconds = (performance.now() - t0) / 1000;
    const cpuUs = cpuSpent(cpu);
    shown.stop();
    const peakRss = rss.stop();
    const got = await sink.summary();
    if (got.unique !== n || got.duplicates !== 0)
      throw new Error(`bare loop: ${got.unique} of ${n} at the sink, ${got.duplicates} duplicates`);
    ctx.log(`bare loop: ${n} messages${opts.label} in ${seconds.toFixed(2)} s, ${mb(peakRss)} MB peak`);
    return { n, seconds, peakRss, cpuUs };
  } finally {
    await pool.close();
    sink.close();
  }
}

function bare(n: number, ctx: PhaseContext, content: EmailContent) {
  const shape = heraldHttpShape();
  // One loop per request in flight, each rendering and posting one batch at a time, as Herald's slots do.
  return bareLoop(n, ctx, {
    lanes: shape.inFlightRequests,
    take: Math.min(shape.batchSize, maxHttpEmailBatch),
    label: content.links ? '' : ' without tracking',
    post: (pool, from, size) =>
      postBatch(
        pool,
        Array.from({ length: size }, (_, k) => renderRecipient(from + k, content)),
        shape.messageStream,
      ),
  });
}

async function bullmq(n: number, ctx: PhaseContext) {
  const shape = heraldHttpShape();
  const sink = await startHttpSink();
  // BullMQ's workers need maxRetriesPerRequest: null (blocking commands); each side gets its own client.
  const clients: Redis[] = [];
  const connect = () => {
    const client = new Redis(redisUrl, { maxRetriesPerRequest: null });
    clients.push(client);
    return client;
  };
  const name = `herald-bench-${process.pid}-${Date.now()}`;
  let completed = 0;
  let failed: Error | undefined;
  let allDone!: () => void;
  const done = new Promise<void>((resolve) => (allDone = resolve));
  const probe = connect();
  const reachable = await Promise.race([
    probe.ping().then(
      () => true,
      () => false,
    ),
    new Promise<boolean>((r) => setTimeout(() => r(false), 3000)),
  ]);
  if (!reachable) {
    for (const c of clients) c.disconnect();
    sink.close();
    throw new Error(`Redis is not reachable at ${redisUrl} (set HERALD_BENCH_REDIS, or start redis-server)`);
  }
  const queue = new Queue(name, { connection: probe });
  const pool = new Pool(sink.url, { connections: bullmqConcurrency() });
  let worker: Worker<{ i: number }> | undefined;
  try {
    const rss = ctx.watchRss();
    const shown = progress(ctx, n, async () => (await sink.summary()).received);
    const t0 = performance.now();
    const cpu = process.cpuUsage();
    // The conventional shape: one job per recipient carrying its data; the worker renders and posts it alone.
    worker = new Worker<{ i: number }>(name, async (job) => postBatch(pool, [renderRecipient(job.data.i)], shape.messageStream), {
      connection: connect(),
      concurrency: bullmqConcurrency(),
    });
    worker.on('completed', () => {
      if (++completed === n) allDone();
    });
    worker.on('failed', (_job, err) => {
      failed ??= err;
      allDone();
    });
    let enqueueS = 0;
    for (let from = 1; from <= n; from += 1000) {
      const jobs = Array.from({ length: Math.min(1000, n - from + 1) }, (_, k) => ({
        name: 'send',
        data: { i: from + k },
        opts: { removeOnComplete: true, removeOnFail: 1000 },
      }));
      await queue.addBulk(jobs);
    }
    enqueueS = (performance.now() - t0) / 1000;
    await done;
    const seconds = (performance.now() - t0) / 1000;
    const cpuUs = cpuSpent(cpu);
    shown.stop();
    const peakRss = rss.stop();
    if (failed) throw failed;
    const got = await sink.summary();
    if (got.unique !== n || got.duplicates !== 0)
      throw new Error(`BullMQ: ${got.unique} of ${n} at the sink, ${got.duplicates} duplicates`);
    ctx.log(`BullMQ: ${n} jobs in ${seconds.toFixed(2)} s (all enqueued after ${enqueueS.toFixed(1)} s), ${mb(peakRss)} MB peak`);
    return { n, seconds, enqueueS, peakRss, cpuUs };
  } finally {
    await worker?.close();
    await queue.obliterate({ force: true }).catch(() => undefined);
    await queue.close();
    // Clients passed in are not BullMQ's to close.
    for (const c of clients) c.disconnect();
    await pool.close();
    sink.close();
  }
}

export const dispatchHttp: Scenario = {
  name: 'dispatch-http',
  // `bare-untracked` is not a baseline of Herald's: it prices the unsubscribe link, footer,
  // headers, pixel and tracked links, against `bare` which carries them as Herald does.
  // `herald-capped` is the same worker with its old generation capped (cappedHeap): what the
  // 200 MB goal costs in speed.
  phases: ['herald', 'herald-capped', 'bare', 'bullmq', 'bare-untracked'],
  run(phase, ctx) {
    const n = Math.max(2000, Math.round(defaultMessages * ctx.scale));
    if (phase === 'herald') return sendThroughWorker(n, ctx);
    if (phase === 'herald-capped') return sendThroughWorker(n, ctx, { nodeOptions: cappedHeap });
    if (phase === 'bare') return bare(n, ctx, baselineContent);
    if (phase === 'bare-untracked') return bare(n, ctx, untrackedContent);
    return bullmq(Math.min(n, bullmqMax), ctx);
  },
  figures(results) {
    const h = results.herald as Awaited<ReturnType<typeof sendThroughWorker>>;
    const a = results.bare as Awaited<ReturnType<typeof bare>>;
    const b = results.bullmq as Awaited<ReturnType<typeof bullmq>>;
    const plain = results['bare-untracked'] as Awaited<ReturnType<typeof bare>>;
    const capped = results['herald-capped'] as Awaited<ReturnType<typeof sendThroughWorker>>;
    const s = heraldHttpShape();
    const bareName = `(a) bare render+POST loop, ${s.inFlightRequests}×${s.batchSize} in flight, no DB; goal ≥ 0.8×`;
    const bullName = `(b) BullMQ job per recipient, concurrency ${bullmqConcurrency()}, Redis (${b.n.toLocaleString('en-US')} jobs); goal ≥ 3×`;
    const rate = (m: { n: number; seconds: number }) => round(m.n / m.seconds, 0);
    const cpuPer = (m: { n: number; cpuUs: number }) => round(m.cpuUs / m.n, 1);
    return [
      { metric: 'throughput', value: rate(h), unit: 'msg/s', baseline: bareName, baseline_value: rate(a), better: 'higher' },
      { metric: 'throughput', value: rate(h), unit: 'msg/s', baseline: bullName, baseline_value: rate(b), better: 'higher' },
      // Herald's includes the snapshot of the audience; the sink's process is in neither.
      {
        metric: 'CPU a message (the sending process)',
        value: cpuPer(h),
        unit: 'µs',
        baseline: bareName.split(';')[0]!,
        baseline_value: cpuPer(a),
        better: 'lower',
      },
      {
        metric: 'seconds_per_million',
        value: round(1e6 / (h.n / h.seconds), 1),
        unit: 's',
        baseline: 'goal: 30 s for 1,000,000',
        baseline_value: 30,
        better: 'lower',
      },
      {
        metric: 'peak_rss',
        value: mb(h.peakRss),
        unit: 'MB',
        baseline: bareName.split(';')[0]!,
        baseline_value: mb(a.peakRss),
        better: 'lower',
      },
      {
        metric: 'peak_rss',
        value: mb(h.peakRss),
        unit: 'MB',
        baseline: `${bullName.split(';')[0]!} (Node process; Redis not counted)`,
        baseline_value: mb(b.peakRss),
        better: 'lower',
      },
      {
        metric: `throughput, worker with NODE_OPTIONS=${cappedHeap}`,
        value: rate(capped),
        unit: 'msg/s',
        baseline: bareName,
        baseline_value: rate(a),
        better: 'higher',
      },
      {
        metric: `peak_rss, worker with NODE_OPTIONS=${cappedHeap}`,
        value: mb(capped.peakRss),
        unit: 'MB',
        baseline: 'goal: 200 MB',
        baseline_value: 200,
        better: 'lower',
      },
      {
        metric: 'throughput of (a) itself, tracked',
        value: rate(a),
        unit: 'msg/s',
        baseline: '(a) without unsubscribe link, footer, List-Unsubscribe, pixel or tracked links: what they cost',
        baseline_value: rate(plain),
        better: 'higher',
      },
    ];
  },
};
