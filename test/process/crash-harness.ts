import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { type Herald, startHerald } from '../../src/runtime.js';
import { freshDatabase, type TestDialect } from '../dialects.js';
import { type CliProcess, freePort, startCli } from './spawn.js';

/**
 * The crash-safety harness (DESIGN §4 crash recovery, §7 "kill -9 a worker at random
 * points of a send"). Three parties, as in production:
 *
 * - the provider: `herald sandbox`, a separate process that survives every crash and
 *   counts raw deliveries (`received`) and distinct Message-IDs (`unique`, what a
 *   provider honouring the idempotency key delivers);
 * - the API: Herald in this process with its engine off (`startHerald({ startEngine:
 *   false })`, listening on a loopback port), through which the campaign is built and
 *   launched over HTTP, and whose database handle reads the dead worker's durable state;
 * - the worker: `herald worker`, a child process, the only engine, killed with SIGKILL
 *   `kills` times at random moments of the send and restarted on the same database and
 *   sandbox each time.
 *
 * Accounting. Every raw delivery by life k of the worker is either recorded `sent` by
 * life k or not; the ones it did not record are exactly the ones a later life sends again.
 * So at each kill, once the process is gone and the sandbox has settled:
 *
 *   acceptedNotRecorded_k = (received_k − received_{k−1}) − (sent_k − sent_{k−1})
 *
 * and the raw duplicates at the end must equal Σ acceptedNotRecorded_k exactly, each term
 * at most what the dead worker held leased (≤ batchSize × concurrency). (Counting
 * `unique − sent` at each kill instead would count a message twice when a kill comes
 * before the previous life's unrecorded batch was re-sent: its lease has not expired yet.)
 */

export interface CrashScenarioOptions {
  readonly dialect: TestDialect;
  readonly contacts: number;
  readonly kills: number;
  readonly batchSize: number;
  readonly concurrency: number;
  readonly leaseMs: number;
  /** PRNG seed for the kill moments; default HERALD_CRASH_SEED, else random. Always reported. */
  readonly seed?: number;
  /**
   * How the kill moments are drawn. `delay` (default): each life sends for a random
   * `killDelayMs` before the kill. `progress`: the kills fall at random points of the whole
   * send (each life runs until the sink holds its point's share of the audience), so they
   * cover the start, the middle and the end of a long send.
   */
  readonly moments?: 'delay' | 'progress';
  /** The random wait of `delay` moments (ms of sending), default 150–900. */
  readonly killDelayMs?: readonly [number, number];
  /** After the random wait, how long to look for a batch the sink accepted and the ledger has not recorded. */
  readonly catchWithinMs?: number;
  /** Bound on the send after the last restart. */
  readonly completionTimeoutMs?: number;
  /** Progress lines (the seed, each kill). */
  readonly log?: (line: string) => void;
}

export interface KillRecord {
  /** ms since the launch. */
  readonly at: number;
  /** How long this life sent before the search for a batch in flight began (ms). */
  readonly waitedMs: number;
  /** The sink's distinct messages this life waited for (`progress` moments), else null. */
  readonly point: number | null;
  /** Whether the kill came while the sink held deliveries of this life the ledger had not recorded. */
  readonly caughtInFlight: boolean;
  /** Messages recorded `sent` in the database when the process was dead. */
  readonly sentRecorded: number;
  /** Messages the dead worker still held leased (state `sending` under its name). */
  readonly leasedByDead: number;
  readonly received: number;
  readonly unique: number;
  /** Deliveries of this life that it did not record: the re-deliveries this kill causes. */
  readonly acceptedNotRecorded: number;
}

export interface CrashReport {
  readonly dialect: TestDialect;
  readonly contacts: number;
  readonly kills: number;
  readonly seed: number;
  readonly seconds: number;
  readonly status: string;
  readonly outcome: string | null;
  /** Messages the ledger recorded as sent. */
  readonly sent: number;
  /** Distinct Message-IDs at the sink: what a sink honouring the idempotency key delivered. */
  readonly unique: number;
  /** Raw deliveries at the sink. */
  readonly received: number;
  /** received − unique: what a sink that ignores the key delivered twice. */
  readonly duplicates: number;
  /** Σ acceptedNotRecorded over the kills. */
  readonly expectedDuplicates: number;
  readonly maxPerKill: number;
  /** batchSize × concurrency. */
  readonly window: number;
  /** contacts − unique. */
  readonly lost: number;
  /** Distinct Message-IDs beyond one per recipient (what an idempotent sink would deliver twice). */
  readonly duplicatesIdempotent: number;
  /** Distinct recipient addresses at the sink, when the sink can list them all (≤ 10,000 messages), else null. */
  readonly recipients: number | null;
  readonly perKill: readonly KillRecord[];
}

interface Summary {
  received: number;
  unique: number;
  duplicates: number;
}

const apiKey = 'hk_crash_harness_key_0123456789abcdef';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** mulberry32: a small seeded PRNG, so a run's kill moments can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function fetchJson<T>(url: string, init: RequestInit, context: () => string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(url, init);
  } catch (err) {
    throw new Error(`${init.method ?? 'GET'} ${url} failed: ${String((err as Error).cause ?? err)}\n${context()}`, { cause: err });
  }
  const body = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${body}\n${context()}`);
  return JSON.parse(body) as T;
}

/** Runs the scenario; every child process, the in-process API and the database are gone when it settles. */
export async function runCrashScenario(opts: CrashScenarioOptions): Promise<CrashReport> {
  const log = opts.log ?? (() => undefined);
  const seed = opts.seed ?? (process.env.HERALD_CRASH_SEED ? Number(process.env.HERALD_CRASH_SEED) : Math.floor(Math.random() * 2 ** 31));
  const random = prng(seed);
  const [minDelay, maxDelay] = opts.killDelayMs ?? [150, 900];
  const moments = opts.moments ?? 'delay';
  // `progress`: the kill points, drawn up front between 3% and 97% of the audience.
  const points = Array.from({ length: opts.kills }, () => Math.round(opts.contacts * (0.03 + 0.94 * random()))).sort((a, b) => a - b);
  const catchWithinMs = opts.catchWithinMs ?? 5_000;
  const completionTimeoutMs = opts.completionTimeoutMs ?? Math.max(60_000, opts.contacts * 10);
  const window = opts.batchSize * opts.concurrency;
  log(
    `crash ${opts.dialect}: seed ${seed} (HERALD_CRASH_SEED=${seed} draws the same kill moments again), ${opts.contacts} contacts, ` +
      `${opts.kills} kills (${moments === 'progress' ? `at sink counts ${points.join(' ')}` : `after ${minDelay}–${maxDelay} ms of sending`}), batch ${opts.batchSize} × concurrency ${opts.concurrency}, lease ${opts.leaseMs} ms`,
  );

  let sandbox: CliProcess | undefined;
  let worker: CliProcess | undefined;
  let api: Herald | undefined;
  let dropDatabase: () => Promise<void> = async () => undefined;
  try {
    // The provider, in a process of its own that outlives every worker.
    const [smtpPort, httpPort] = [await freePort(), await freePort()];
    sandbox = startCli(['sandbox', '--smtp-port', String(smtpPort), '--http-port', String(httpPort)]);
    await sandbox.waitForLine(/Herald sandbox: SMTP on/, 30_000);
    const sink = sandbox;
    const summary = () => fetchJson<Summary>(`http://127.0.0.1:${httpPort}/v1/sandbox/summary`, {}, () => sink.describe());

    // The database.
    let databaseUrl: string;
    if (opts.dialect === 'sqlite') {
      const dir = mkdtempSync(join(tmpdir(), 'herald-crash-'));
      databaseUrl = join(dir, 'herald.db');
      dropDatabase = async () => rmSync(dir, { recursive: true, force: true });
    } else {
      const fresh = await freshDatabase('postgres');
      if (fresh.location.dialect !== 'postgres') throw new Error('freshDatabase(postgres) gave no PostgreSQL URL');
      databaseUrl = fresh.location.url;
      dropDatabase = () => fresh.drop();
    }
    const env = {
      DATABASE_URL: databaseUrl,
      HERALD_SANDBOX: 'on',
      HERALD_SANDBOX_SMTP: `smtp://127.0.0.1:${smtpPort}`,
      HERALD_API_KEY: apiKey,
      HERALD_LEASE_MS: String(opts.leaseMs),
      HERALD_BATCH_SIZE: String(opts.batchSize),
      HERALD_CONCURRENCY: String(opts.concurrency),
      LOG_LEVEL: 'warn',
    };

    // The API, engine off: it never sends, and it never dies.
    api = await startHerald(loadConfig({ ...env, LOG_LEVEL: 'silent' }), { log: pino({ level: 'silent' }), startEngine: false });
    const db = api.db;
    const address = await api.app.listen({ port: 0, host: '127.0.0.1' });
    const call = <T>(method: 'GET' | 'POST', path: string, body?: unknown) =>
      fetchJson<T>(
        `${address}${path}`,
        {
          method,
          headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        },
        () => worker?.describe() ?? '',
      );

    const list = await call<{ id: string }>('POST', '/v1/lists', { name: 'Crash readers' });
    for (let from = 0; from < opts.contacts; from += 10_000) {
      const contacts = Array.from({ length: Math.min(10_000, opts.contacts - from) }, (_, k) => ({
        email: `reader${from + k + 1}@crash.herald.test`,
        firstName: `Reader ${from + k + 1}`,
      }));
      await call('POST', '/v1/contacts/bulk', { contacts, listIds: [list.id] });
    }
    const template = await call<{ id: string }>('POST', '/v1/templates', {
      name: 'Crash test',
      subject: 'Hello {{ contact.firstName }}',
      html: '<p>Hi {{ contact.firstName }}, this is {{ campaign.name }}.</p>',
    });
    const sender = await call<{ id: string }>('POST', '/v1/senders', {
      name: 'Crash sender',
      fromEmail: 'news@crash.herald.test',
      fromName: 'Herald',
    });
    const campaign = await call<{ id: string }>('POST', '/v1/campaigns', {
      name: 'Crash safety',
      templateId: template.id,
      senderId: sender.id,
      audience: { listIds: [list.id] },
    });

    const status = () =>
      db.selectFrom('campaigns').select(['status', 'current_run_id']).where('id', '=', campaign.id).executeTakeFirstOrThrow();
    const count = async (runId: number, state: string, owner?: string) => {
      let q = db
        .selectFrom('messages')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('run_id', '=', runId)
        .where('state', '=', state);
      if (owner !== undefined) q = q.where('lease_owner', 'like', `${owner}-s%`);
      return Number((await q.executeTakeFirstOrThrow()).n);
    };
    /** The sink's counts once the deliveries of a dead connection have all been processed. */
    const settledSummary = async () => {
      let last = await summary();
      for (;;) {
        await sleep(50);
        const next = await summary();
        if (next.received === last.received) return next;
        last = next;
      }
    };
    const startWorker = async () => {
      const w = startCli(['worker'], env);
      worker = w;
      const ready = await w.waitForLine(/Herald worker \S+ is sending/, 60_000);
      return { process: w, owner: /Herald worker (\S+) is sending/.exec(ready)![1]! };
    };

    const t0 = Date.now();
    await call('POST', `/v1/campaigns/${campaign.id}/actions/launch`, {});
    const perKill: KillRecord[] = [];
    let previous = { received: 0, sent: 0 };
    let runId: number | null = null;

    for (let life = 0; life < opts.kills; life++) {
      const { process: w, owner } = await startWorker();
      // The random moment counts from when this life is sending (the first life snapshots first).
      for (;;) {
        const s = await status();
        runId = s.current_run_id;
        if (s.status !== 'queued') break;
        if (w.exit()) throw new Error(`the worker died on its own: ${w.describe()}`);
        await sleep(10);
      }
      if ((await status()).status !== 'sending') break;
      const sendingSince = Date.now();
      const point = moments === 'progress' ? points[life]! : null;
      if (point === null) await sleep(Math.round(minDelay + random() * (maxDelay - minDelay)));
      else {
        while ((await summary()).unique < point) {
          if (w.exit()) throw new Error(`the worker died on its own: ${w.describe()}`);
          if ((await status()).status !== 'sending') break;
          await sleep(10);
        }
      }
      const waitedMs = Date.now() - sendingSince;
      // Then kill as soon as the sink holds a delivery of this life the ledger has not recorded:
      // a batch in flight. The ledger is read first, so the sink's count is the later one.
      let caughtInFlight = false;
      let finished = false;
      const deadline = Date.now() + catchWithinMs;
      while (Date.now() < deadline) {
        const sent = await count(runId!, 'sent');
        const got = await summary();
        if (got.received - previous.received > sent - previous.sent) {
          caughtInFlight = true;
          break;
        }
        if ((await status()).status !== 'sending') {
          finished = true;
          break;
        }
        await sleep(2);
      }
      if (finished) break;
      await w.kill('SIGKILL');
      const at = Date.now() - t0;
      const got = await settledSummary();
      const sentRecorded = await count(runId!, 'sent');
      const leasedByDead = await count(runId!, 'sending', owner);
      const acceptedNotRecorded = got.received - previous.received - (sentRecorded - previous.sent);
      perKill.push({
        at,
        waitedMs,
        point,
        caughtInFlight,
        sentRecorded,
        leasedByDead,
        received: got.received,
        unique: got.unique,
        acceptedNotRecorded,
      });
      log(
        `  kill ${perKill.length}/${opts.kills} at ${(at / 1000).toFixed(1)} s (${point === null ? '' : `point ${point}, `}after ${waitedMs} ms): sent recorded ${sentRecorded}, ` +
          `sink received ${got.received} unique ${got.unique}, accepted-not-recorded ${acceptedNotRecorded}, ` +
          `leased by the dead worker ${leasedByDead}${caughtInFlight ? '' : ' (no batch caught in flight)'}`,
      );
      previous = { received: got.received, sent: sentRecorded };
    }

    // The last life sends the rest, including every batch the dead ones left leased.
    const last = await startWorker();
    const doneBy = Date.now() + completionTimeoutMs;
    let final = await status();
    while (['queued', 'sending'].includes(final.status)) {
      if (Date.now() > doneBy)
        throw new Error(`campaign still ${final.status} ${completionTimeoutMs} ms after the last restart\n${last.process.describe()}`);
      if (last.process.exit()) throw new Error(`the worker died on its own: ${last.process.describe()}`);
      await sleep(50);
      final = await status();
    }
    const seconds = (Date.now() - t0) / 1000;
    void last.process.kill('SIGTERM');
    await last.process.exitWithin(15_000).catch(() => last.process.kill('SIGKILL'));

    const view = await call<{ status: string; outcome: string | null; counts: { sent: number } }>('GET', `/v1/campaigns/${campaign.id}`);
    const got = await settledSummary();
    let recipients: number | null = null;
    if (got.unique <= 10_000) {
      const mailbox = await fetchJson<{ data: { to: string[] }[] }>(
        `http://127.0.0.1:${httpPort}/v1/sandbox/messages?limit=10000`,
        {},
        () => sink.describe(),
      );
      recipients = new Set(mailbox.data.flatMap((m) => m.to)).size;
    }
    const expectedDuplicates = perKill.reduce((n, k) => n + k.acceptedNotRecorded, 0);
    const report: CrashReport = {
      dialect: opts.dialect,
      contacts: opts.contacts,
      kills: perKill.length,
      seed,
      seconds: Math.round(seconds * 10) / 10,
      status: view.status,
      outcome: view.outcome,
      sent: view.counts.sent,
      unique: got.unique,
      received: got.received,
      duplicates: got.duplicates,
      expectedDuplicates,
      maxPerKill: perKill.reduce((n, k) => Math.max(n, k.acceptedNotRecorded), 0),
      window,
      lost: opts.contacts - got.unique,
      duplicatesIdempotent: Math.max(0, got.unique - opts.contacts),
      recipients,
      perKill,
    };
    log(
      `crash ${report.dialect}: ${report.status}/${report.outcome} in ${report.seconds} s, seed ${seed}; ${report.kills} kills; ` +
        `sent ${report.sent}, sink unique ${report.unique} received ${report.received}; lost ${report.lost}; ` +
        `duplicates ${report.duplicates} (expected ${expectedDuplicates}, max ${report.maxPerKill} per kill, window ${window})`,
    );
    return report;
  } finally {
    await worker?.kill('SIGKILL');
    await sandbox?.kill('SIGKILL');
    await api?.close().catch(() => undefined);
    await dropDatabase();
  }
}
