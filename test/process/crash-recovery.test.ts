import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { type CliProcess, freePort, killAll, startCli } from './spawn.js';

/**
 * DESIGN §4, crash recovery, with real processes: a `herald serve` killed with SIGKILL
 * mid-campaign, a new one on the same SQLite file and the same external sandbox. Every
 * recipient must end up with the message exactly once by Message-ID, and the raw
 * re-deliveries must fit in the one batch that was in flight (batch 50 × concurrency 1).
 */

const total = 3000;
const batchSize = 50;
const concurrency = 1;
const apiKey = 'hk_crash_recovery_test_key_0123456789';
const database = join(tmpdir(), `herald-crash-${process.pid}-${Date.now()}.db`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Counts {
  total: number;
  processed: number;
  sent: number;
  failed: number;
  cancelled: number;
  pending: number;
  inFlight: number;
}
interface Campaign {
  id: string;
  status: string;
  outcome: string | null;
  counts: Counts;
}
interface Summary {
  received: number;
  unique: number;
  duplicates: number;
}
interface SandboxEntry {
  messageId: string;
  to: string[];
  deliveries: number;
}

afterAll(async () => {
  await killAll();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${database}${suffix}`, { force: true });
});

async function getJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(url, init).catch((err: unknown) => {
    throw new Error(`${init.method ?? 'GET'} ${url} failed: ${(err as Error).cause ?? err}`);
  });
  const body = await res.text();
  if (!res.ok) throw new Error(`${init.method ?? 'GET'} ${url} answered ${res.status}: ${body}`);
  return JSON.parse(body) as T;
}

/** A Herald API client on one base URL, failing with the server's stderr if the server is gone. */
function heraldApi(base: string, server: CliProcess) {
  return async <T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> => {
    try {
      return await getJson<T>(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${server.describe()}`, { cause: err });
    }
  };
}

async function startServe(smtpPort: number): Promise<{ server: CliProcess; base: string }> {
  const port = await freePort();
  const server = startCli(['serve'], {
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: database,
    HERALD_SANDBOX: 'on',
    HERALD_SANDBOX_SMTP: `smtp://127.0.0.1:${smtpPort}`,
    HERALD_API_KEY: apiKey,
    HERALD_LEASE_MS: '2000',
    HERALD_BATCH_SIZE: String(batchSize),
    HERALD_CONCURRENCY: String(concurrency),
    LOG_LEVEL: 'warn',
  });
  await server.waitForLine(/Herald is serving on/, 30_000);
  return { server, base: `http://127.0.0.1:${port}` };
}

it('a serve process killed with SIGKILL mid-campaign is resumed by the next one: every recipient gets the message once by Message-ID', async () => {
  const started = Date.now();
  const [smtpPort, httpPort] = [await freePort(), await freePort()];
  const sandbox = startCli(['sandbox', '--smtp-port', String(smtpPort), '--http-port', String(httpPort)]);
  await sandbox.waitForLine(/Herald sandbox: SMTP on/, 30_000);
  const sandboxGet = async <T>(path: string): Promise<T> => {
    try {
      return await getJson<T>(`http://127.0.0.1:${httpPort}${path}`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${sandbox.describe()}`, { cause: err });
    }
  };

  // First life: build the campaign through the HTTP API and launch it.
  const first = await startServe(smtpPort);
  let api = heraldApi(first.base, first.server);
  const list = await api<{ id: string }>('POST', '/v1/lists', { name: 'Crash test readers' });
  const contacts = Array.from({ length: total }, (_, i) => ({ email: `reader${i + 1}@crash.herald.test`, firstName: `Reader ${i + 1}` }));
  await api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.id] });
  const template = await api<{ id: string }>('POST', '/v1/templates', {
    name: 'Crash test',
    subject: 'Hello {{ contact.firstName }}',
    html: '<p>Hi {{ contact.firstName }}, this is {{ campaign.name }}.</p>',
  });
  const sender = await api<{ id: string }>('POST', '/v1/senders', {
    name: 'Crash sender',
    fromEmail: 'news@crash.herald.test',
    fromName: 'Herald',
  });
  const created = await api<Campaign>('POST', '/v1/campaigns', {
    name: 'Crash recovery',
    templateId: template.id,
    senderId: sender.id,
    audience: { listIds: [list.id] },
  });
  await api('POST', `/v1/campaigns/${created.id}/actions/launch`, {});

  // Kill it hard once a fifth has gone out and the sandbox holds messages the ledger has not
  // recorded yet: a batch the provider accepted whose outcome the process never wrote.
  let beforeCrash: Campaign | undefined;
  const sendDeadline = Date.now() + 60_000;
  while (Date.now() < sendDeadline) {
    const c = await api<Campaign>('GET', `/v1/campaigns/${created.id}`);
    const inSandbox = await sandboxGet<Summary>('/v1/sandbox/summary');
    if (c.counts.sent >= total * 0.2 && inSandbox.unique > c.counts.sent) {
      beforeCrash = c;
      break;
    }
    expect(['queued', 'sending'], `campaign left sending before the crash: ${JSON.stringify(c)}`).toContain(c.status);
    await sleep(5);
  }
  await first.server.kill('SIGKILL');
  expect(beforeCrash, `never caught a batch in flight within 60 s\n${first.server.describe()}`).toBeDefined();
  expect(beforeCrash!.counts.sent, 'the crash should come midway, not near the end').toBeLessThanOrEqual(total * 0.6);
  const atCrash = await sandboxGet<Summary>('/v1/sandbox/summary');
  // What the dead process had durably recorded as sent, read from its database file.
  const ledger = new SqliteDatabase(database, { readonly: true });
  const recorded = (ledger.prepare("select count(*) as n from messages where state = 'sent'").get() as { n: number }).n;
  const leased = (ledger.prepare("select count(*) as n from messages where state = 'sending'").get() as { n: number }).n;
  ledger.close();
  const acceptedNotRecorded = atCrash.unique - recorded;

  // Second life: same database, same sandbox. The expired lease returns the batch to pending.
  const second = await startServe(smtpPort);
  api = heraldApi(second.base, second.server);
  let after: Campaign | undefined;
  const doneDeadline = Date.now() + 60_000;
  while (Date.now() < doneDeadline) {
    after = await api<Campaign>('GET', `/v1/campaigns/${created.id}`);
    if (after.status !== 'sending') break;
    await sleep(100);
  }

  const summary = await sandboxGet<Summary>('/v1/sandbox/summary');
  const mailbox = await sandboxGet<Summary & { data: SandboxEntry[] }>('/v1/sandbox/messages?limit=10000');
  console.log(
    `crash recovery: killed at sent=${beforeCrash!.counts.sent} inFlight=${beforeCrash!.counts.inFlight} (sandbox had ${atCrash.received}); ` +
      `after restart: status=${after?.status} sent=${after?.counts.sent}; sandbox received=${summary.received} unique=${summary.unique} ` +
      `re-deliveries=${summary.duplicates} (accepted by the sandbox but unrecorded at the crash: ${acceptedNotRecorded}, leased: ${leased}); ` +
      `${Math.round((Date.now() - started) / 100) / 10} s`,
  );

  expect(after?.status, `campaign did not complete within 60 s of the restart: ${JSON.stringify(after)}\n${second.server.describe()}`).toBe(
    'completed',
  );
  expect(after!.outcome).toBe('fully_sent');
  expect(after!.counts).toMatchObject({ total, sent: total, failed: 0, pending: 0, inFlight: 0 });

  expect(summary.unique).toBe(total);
  // Exactly the messages the provider accepted but the ledger had not recorded went out again,
  // and they are at most the one batch that was in flight.
  expect(acceptedNotRecorded).toBeGreaterThan(0);
  expect(summary.duplicates).toBe(acceptedNotRecorded);
  expect(summary.duplicates).toBeLessThanOrEqual(leased);
  expect(summary.duplicates).toBeLessThanOrEqual(batchSize * concurrency);

  // One message per recipient: the distinct Message-IDs go to distinct addresses, all of ours.
  expect(mailbox.data).toHaveLength(total);
  const addresses = mailbox.data.flatMap((m) => m.to);
  expect(addresses).toHaveLength(total);
  expect(new Set(addresses).size).toBe(total);
  expect(new Set(addresses)).toEqual(new Set(contacts.map((c) => c.email.toLowerCase())));
  expect(mailbox.data.reduce((n, m) => n + m.deliveries, 0)).toBe(summary.received);
}, 120_000);
