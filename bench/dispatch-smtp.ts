/**
 * dispatch-smtp: N emails end to end through Herald (launch → snapshot → claim → render →
 * SMTP → record → complete) to the loopback sandbox SMTP server, beside a bare nodemailer
 * pool sending the same N rendered messages to the same kind of server with no database.
 * The baseline copies Herald's sending shape (pool size, batch size, batches in flight)
 * so the ratio is the price of the ledger, not of a different SMTP strategy.
 *
 * The sandbox server runs in its own process, as a provider would: in the sender's
 * process it takes about half of the one core Node uses, and both sides then measure
 * mostly the server (about 480 msg/s each at 20,000 messages on the 2-core machine).
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import nodemailer from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { sandboxSmtpConfig } from '../src/channels/email-smtp/config.js';
import { type MailboxSummary, startSandboxSmtp } from '../src/channels/email-smtp/sandbox.js';
import { loadConfig } from '../src/config.js';
import { type EmailContent, renderEmail } from '../src/engine/render.js';
import type { Db } from '../src/store/database.js';
import { benchSender, benchTemplate, createBenchCampaign, launch, mb, round, seedAudience, startBenchHerald } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 20_000;

/** Herald's defaults, read where Herald reads them so the baseline follows any change. */
function heraldShape() {
  const engine = loadConfig({ LOG_LEVEL: 'silent' }).engine;
  const poolSize = sandboxSmtpConfig('127.0.0.1', 0).poolSize;
  // Without HERALD_BATCH_SIZE the engine takes the SMTP adapter's batch of 50.
  return { batchSize: engine.batchSize ?? 50, concurrency: engine.concurrency, poolSize };
}

interface SandboxProcess {
  readonly port: number;
  summary(): Promise<MailboxSummary>;
  close(): void;
}

/** Starts the sandbox SMTP server in a child process (this file run with --sandbox-server), asked for its summary over IPC. */
function startSandboxProcess(): Promise<SandboxProcess> {
  const child = fork(fileURLToPath(import.meta.url), ['--sandbox-server'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting: ((m: MailboxSummary) => void)[] = [];
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.on('message', (m: { port?: number; summary?: MailboxSummary }) => {
      if (m.summary) waiting.shift()?.(m.summary);
      else if (m.port)
        resolve({
          port: m.port,
          summary: () => new Promise((r) => (waiting.push(r), child.send('summary'))),
          close: () => child.kill(),
        });
    });
  });
}

if (process.argv[2] === '--sandbox-server') {
  const server = await startSandboxSmtp();
  process.on('message', () => process.send!({ summary: server.mailbox.summary() }));
  process.on('disconnect', () => process.exit(0));
  process.send!({ port: server.port });
}

/** Polls the campaign row until it reaches one of `statuses`; returns when it did. */
export async function waitForStatus(db: Db, id: string, statuses: readonly string[], timeoutMs = 3_600_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await db.selectFrom('campaigns').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    if (statuses.includes(status)) return status;
    if (Date.now() > deadline) throw new Error(`campaign still ${status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function herald(n: number, ctx: PhaseContext) {
  const sandbox = await startSandboxProcess();
  const bench = await startBenchHerald({ env: { HERALD_SANDBOX_SMTP: `smtp://127.0.0.1:${sandbox.port}` } });
  try {
    const listId = await seedAudience(bench.herald.db, bench.workspaceId, n);
    const campaignId = await createBenchCampaign(bench.api, listId);
    const rssAtLaunch = process.memoryUsage.rss();
    const rss = ctx.watchRss();
    const t0 = performance.now();
    await launch(bench.api, campaignId);
    await waitForStatus(bench.herald.db, campaignId, ['sending', 'completed', 'failed']);
    const snapshotS = (performance.now() - t0) / 1000;
    const status = await waitForStatus(bench.herald.db, campaignId, ['completed', 'failed', 'paused']);
    const seconds = (performance.now() - t0) / 1000;
    const peakRss = rss.stop();
    const got = await sandbox.summary();
    if (status !== 'completed' || got.unique !== n)
      throw new Error(`Herald ended ${status} with ${got.unique} of ${n} messages at the sandbox`);
    ctx.log(
      `Herald: ${n} messages in ${seconds.toFixed(2)} s (snapshot ${snapshotS.toFixed(2)} s), ${got.duplicates} duplicates, RSS ${mb(rssAtLaunch)} MB at launch`,
    );
    return { n, seconds, snapshotS, peakRss };
  } finally {
    await bench.close();
    sandbox.close();
  }
}

async function bare(n: number, ctx: PhaseContext) {
  const shape = heraldShape();
  const server = await startSandboxProcess();
  const transport = nodemailer.createTransport({
    pool: true,
    host: '127.0.0.1',
    port: server.port,
    secure: false,
    ignoreTLS: true,
    maxConnections: shape.poolSize,
    maxMessages: Infinity,
  } as SMTPPool.Options);
  const content: EmailContent = {
    workspaceId: 'ws_bench',
    campaignId: 'cmp_bench',
    campaignName: 'Bench',
    templateKey: 'bench',
    subject: benchTemplate.subject,
    html: benchTemplate.html,
    text: null,
    from: { name: benchSender.fromName, address: benchSender.fromEmail },
    replyTo: null,
  };
  try {
    const rssAtStart = process.memoryUsage.rss();
    const rss = ctx.watchRss();
    const t0 = performance.now();
    let next = 1;
    // `concurrency` loops, each rendering and sending one batch at a time, as Herald's send slots do.
    const slot = async () => {
      while (next <= n) {
        const ids = Array.from({ length: Math.min(shape.batchSize, n - next + 1) }, (_, k) => next + k);
        next += ids.length;
        await Promise.all(
          ids.map((i) => {
            const address = `reader${i}@example.test`;
            const contact = {
              email: address,
              phone: null,
              firstName: `Reader${i}`,
              lastName: 'Bench',
              attributes: { plan: 'pro' },
              timeZone: null,
            };
            const m = renderEmail(content, { id: i, runId: 1, contactId: i, address, attempts: 1, contact }, contact);
            // The same fields, in the same shape, as SmtpEmailAdapter.send.
            return transport.sendMail({
              messageId: m.headerMessageId,
              from: m.from.name ? { name: m.from.name, address: m.from.address } : m.from.address,
              to: m.to,
              subject: m.subject,
              html: m.html ?? undefined,
              text: m.text,
              headers: { ...m.headers },
            });
          }),
        );
      }
    };
    await Promise.all(Array.from({ length: shape.concurrency }, slot));
    const seconds = (performance.now() - t0) / 1000;
    const peakRss = rss.stop();
    const got = await server.summary();
    if (got.unique !== n) throw new Error(`bare sender: ${got.unique} of ${n} messages at the sandbox`);
    ctx.log(`bare nodemailer: ${n} messages in ${seconds.toFixed(2)} s, RSS ${mb(rssAtStart)} MB at start`);
    return { n, seconds, peakRss };
  } finally {
    transport.close();
    server.close();
  }
}

export const dispatchSmtp: Scenario = {
  name: 'dispatch-smtp',
  phases: ['herald', 'bare'],
  run(phase, ctx) {
    const n = Math.max(500, Math.round(defaultMessages * ctx.scale));
    return phase === 'herald' ? herald(n, ctx) : bare(n, ctx);
  },
  figures(results) {
    const h = results.herald as Awaited<ReturnType<typeof herald>>;
    const b = results.bare as Awaited<ReturnType<typeof bare>>;
    const s = heraldShape();
    const baseline = `bare nodemailer pool (${s.poolSize} conns, ${s.concurrency}×${s.batchSize} in flight), no DB`;
    return [
      {
        metric: 'throughput',
        value: round(h.n / h.seconds, 0),
        unit: 'msg/s',
        baseline,
        baseline_value: round(b.n / b.seconds, 0),
        better: 'higher',
      },
      { metric: 'peak_rss', value: mb(h.peakRss), unit: 'MB', baseline, baseline_value: mb(b.peakRss), better: 'lower' },
    ];
  },
};
