import cliProgress from 'cli-progress';
import { pino } from 'pino';
import type { Campaign } from '../domain/campaign.js';
import { loadConfig } from '../config.js';
import { type Herald, sandboxWarning, startHerald } from '../runtime.js';
import { parseDatabaseUrl } from '../store/database.js';
import { createApiKey, createWorkspace } from '../store/workspaces.js';
import { assertUnreachable } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';

export interface DemoOptions {
  readonly contacts: number;
  readonly json: boolean;
  readonly database?: string | undefined;
  /** The channel to send on (default email). */
  readonly channel?: Channel;
}

/** What the demo creates for a channel: each contact's address, the template and the sender. */
interface ChannelSetUp {
  contact(i: number, stamp: string): Record<string, unknown>;
  readonly template: Record<string, unknown>;
  readonly sender: Record<string, unknown>;
}

function setUpFor(channel: Channel, mint: (() => string) | null): ChannelSetUp {
  const named = (i: number) => ({ firstName: `Reader ${i + 1}`, attributes: { plan: i % 3 === 0 ? 'pro' : 'free' } });
  // Distinct numbers per run and per contact under +1 555, which no carrier routes; all end in 1,
  // because the Twilio sandbox fails numbers ending 0429, 0503, 3003 and 3005 on purpose.
  const phone = (i: number, stamp: string) =>
    `+1555${(Number.parseInt(stamp.slice(-3), 36) % 1000).toString().padStart(3, '0')}${String(i * 10 + 1).padStart(7, '0')}`;
  switch (channel) {
    case 'email':
      return {
        contact: (i, stamp) => ({ email: `reader${i + 1}.${stamp}@demo.herald.test`, ...named(i) }),
        template: {
          subject: 'Hello {{ contact.firstName }}, your {{ contact.plan }} plan news',
          html: '<h1>Hi {{ contact.firstName }}!</h1><p>This is {{ campaign.name }}, sent by Herald to {{ contact.email }}.</p>',
        },
        sender: { fromEmail: 'news@demo.herald.test', fromName: 'Herald Demo' },
      };
    case 'sms':
      return {
        contact: (i, stamp) => ({ phone: phone(i, stamp), ...named(i) }),
        template: {
          content: { text: 'Hi {{ contact.firstName }}, your {{ contact.plan }} plan news from Herald. Reply STOP to opt out.' },
        },
        sender: { address: '+15005550006' },
      };
    case 'voice':
      return {
        contact: (i, stamp) => ({ phone: phone(i, stamp), ...named(i) }),
        template: {
          content: {
            say: 'Hello {{ contact.firstName }}. This is a reminder from Herald about your {{ contact.plan }} plan.',
            language: 'en-US',
          },
        },
        sender: { address: '+15005550006' },
      };
    case 'webpush':
      return {
        contact: (i) => ({ devices: [JSON.parse(mint!()) as unknown], ...named(i) }),
        template: {
          content: { title: 'Hi {{ contact.firstName }}', body: 'Your {{ contact.plan }} plan news', url: 'https://demo.herald.test/news' },
        },
        sender: {},
      };
    case 'push':
      return {
        contact: (i, stamp) => ({ devices: [{ token: `demo-${stamp}-${i}`, platform: i % 2 ? 'ios' : 'android' }], ...named(i) }),
        template: { content: { title: 'Hi {{ contact.firstName }}', body: 'Your {{ contact.plan }} plan news', data: { screen: 'news' } } },
        sender: {},
      };
    case 'telegram':
      return {
        contact: (i) => ({ telegramChatId: String(7_000_000_001 + i), ...named(i) }),
        template: {
          content: {
            text: 'Hi <b>{{ contact.firstName }}</b>, your {{ contact.plan }} plan news.',
            parseMode: 'HTML',
            buttons: [{ text: 'Read more', url: 'https://demo.herald.test/news' }],
          },
        },
        sender: { address: '@herald_demo_bot' },
      };
    case 'viber':
      return {
        contact: (i, stamp) => ({ viberId: `demo${stamp}${i}==`, ...named(i) }),
        template: {
          content: {
            text: 'Hi {{ contact.firstName }}, your {{ contact.plan }} plan news.',
            button: { text: 'Read more', url: 'https://demo.herald.test/news' },
          },
        },
        sender: { fromName: 'Herald Demo' },
      };
    case 'webhook':
      return {
        contact: (i, stamp) => ({ externalId: `demo-${stamp}-${i}`, ...named(i) }),
        template: { content: { event: 'newsletter', data: { greeting: 'Hi {{ contact.firstName }}', plan: '{{ contact.plan }}' } } },
        sender: {},
      };
    default:
      return assertUnreachable(channel);
  }
}

/** Calls the real HTTP API in-process (Fastify inject): the demo is a client like any other. */
function client(herald: Herald, key: string) {
  return async <T>(method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown): Promise<T> => {
    const res = await herald.app.inject({
      method,
      url,
      headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    if (res.statusCode >= 400) throw new Error(`${method} ${url} answered ${res.statusCode}: ${res.body}`);
    return res.json() as T;
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `herald demo`: a workspace, N contacts on a list, a personalised email template, a
 * sender and a campaign, launched through the API; it pauses the campaign midway, waits
 * for the in-flight batches to drain, resumes, waits for completion and reports, with
 * the sandbox SMTP server's own count of what it received.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const base = loadConfig({ ...process.env, HERALD_SANDBOX: 'on', HERALD_SANDBOX_SMTP: '' });
  const database = opts.database ?? (process.env.DATABASE_URL ? undefined : './data/demo.db');
  const config = { ...base, database: database ? parseDatabaseUrl(database) : base.database };
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const channel = opts.channel ?? 'email';
  // A third of what is delivered is later read, where the channel reports reads (Viber, push, webhook).
  const herald = await startHerald(config, { log: pino({ level: 'warn' }, process.stderr), sandboxFaults: { readRate: 0.3 } });
  try {
    // Listen on loopback so the sandbox providers can post their receipts back.
    await herald.app.listen({ port: 0, host: '127.0.0.1' });
    const sandbox = herald.providers.sandboxes().find((s) => s.channel === channel) ?? null;
    const setUp = setUpFor(channel, sandbox?.server.mintAddress ? () => sandbox.server.mintAddress!() : null);
    say(`*** ${sandboxWarning} ***`);
    const now = new Date();
    const ws = await createWorkspace(herald.db, { name: `Demo ${now.toISOString()}`, now });
    const key = await createApiKey(herald.db, { workspaceId: ws.id, name: 'demo', now });
    const api = client(herald, key);

    const list = await api<{ id: string }>('POST', '/v1/lists', { name: 'Demo subscribers', description: 'Made by herald demo' });
    const stamp = now.getTime().toString(36);
    for (let start = 0; start < opts.contacts; start += 5000) {
      const contacts = [];
      for (let i = start; i < Math.min(start + 5000, opts.contacts); i++) {
        contacts.push(setUp.contact(i, stamp));
      }
      await api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.id] });
    }
    say(`Created workspace ${ws.id} with ${opts.contacts} contacts on list ${list.id}.`);

    const template = await api<{ id: string }>('POST', '/v1/templates', { name: `Demo ${channel} newsletter`, channel, ...setUp.template });
    const sender = await api<{ id: string }>('POST', '/v1/senders', { name: `Demo ${channel} sender`, channel, ...setUp.sender });
    let campaign = await api<Campaign>('POST', '/v1/campaigns', {
      name: `Herald demo campaign (${channel})`,
      channel,
      templateId: template.id,
      senderId: sender.id,
      audience: { listIds: [list.id] },
      tags: ['demo'],
    });
    campaign = await api<Campaign>('POST', `/v1/campaigns/${campaign.id}/actions/launch`, {});
    say(`Launched campaign ${campaign.id}.`);

    const bar = new cliProgress.SingleBar(
      {
        format: 'Sending |{bar}| {value}/{total} {status} in flight: {inFlight}',
        stream: process.stderr,
        hideCursor: true,
        noTTYOutput: !process.stderr.isTTY,
        notTTYSchedule: 1000,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(opts.contacts, 0, { status: campaign.status, inFlight: 0 });
    let paused = false;
    const deadline = Date.now() + 30 * 60_000;
    while (Date.now() < deadline) {
      campaign = await api<Campaign>('GET', `/v1/campaigns/${campaign.id}`);
      bar.setTotal(Math.max(campaign.counts.total, 1));
      bar.update(campaign.counts.processed, { status: campaign.status, inFlight: campaign.counts.inFlight });
      if (!paused && campaign.status === 'sending' && campaign.counts.processed >= campaign.counts.total / 2) {
        paused = true;
        campaign = await api<Campaign>('POST', `/v1/campaigns/${campaign.id}/actions/pause`, { reason: 'demo: pause midway' });
        bar.stop();
        say(
          `Paused at ${campaign.counts.processed}/${campaign.counts.total}; ${campaign.counts.inFlight} message(s) still in flight, draining…`,
        );
        while (campaign.counts.inFlight > 0) {
          await sleep(50);
          campaign = await api<Campaign>('GET', `/v1/campaigns/${campaign.id}`);
        }
        say(`Drained: ${campaign.counts.processed} processed, nothing in flight. Resuming where it stopped.`);
        campaign = await api<Campaign>('POST', `/v1/campaigns/${campaign.id}/actions/resume`, {});
        bar.start(campaign.counts.total, campaign.counts.processed, { status: campaign.status, inFlight: campaign.counts.inFlight });
      }
      if (['completed', 'failed', 'stopped'].includes(campaign.status)) break;
      await sleep(100);
    }
    bar.update(campaign.counts.processed, { status: campaign.status, inFlight: campaign.counts.inFlight });
    bar.stop();

    // Receipts come after the sends: wait until every message handed over has its verdict, or 15 s of quiet.
    if (channel !== 'email') {
      let last = -1;
      const until = Date.now() + 60_000;
      for (let quietSince = Date.now(); Date.now() < until && Date.now() - quietSince < 15_000; await sleep(200)) {
        campaign = await api<Campaign>('GET', `/v1/campaigns/${campaign.id}`);
        const settled = campaign.counts.delivered + campaign.counts.failed + campaign.counts.bounced + campaign.counts.unsubscribed;
        if (settled !== last) [last, quietSince] = [settled, Date.now()];
        if (settled >= campaign.counts.total - campaign.counts.suppressed - campaign.counts.cancelled) break;
      }
      await sandbox?.server.drainReceipts();
      campaign = await api<Campaign>('GET', `/v1/campaigns/${campaign.id}`);
    }
    const sink =
      channel === 'email'
        ? herald.mailbox!.summary({ workspaceId: ws.id, campaignId: campaign.id })
        : {
            received: (sandbox?.server.accepted ?? 0) + (sandbox?.server.duplicates ?? 0),
            unique: sandbox?.server.accepted ?? 0,
            duplicates: sandbox?.server.duplicates ?? 0,
          };
    const events = await api<{ data: { action: string; from: string | null; to: string; at: string }[] }>(
      'GET',
      `/v1/campaigns/${campaign.id}/events`,
    );
    const c = campaign.counts;
    say('');
    say(`Campaign ${campaign.name} (${campaign.id})`);
    say(`  status     ${campaign.status}${campaign.outcome ? ` (${campaign.outcome})` : ''}`);
    say(`  channel    ${channel}`);
    say(`  recipients ${c.total}: sent ${c.sent}, failed ${c.failed}, cancelled ${c.cancelled}, pending ${c.pending}`);
    if (channel !== 'email')
      say(`  receipts   delivered ${c.delivered}, read ${c.read}, clicked ${c.clicked}, unsubscribed ${c.unsubscribed}`);
    say(`  sandbox    received ${sink.received} message(s), ${sink.unique} distinct, ${sink.duplicates} duplicate(s)`);
    say('  timeline');
    for (const e of events.data) say(`    ${e.at}  ${e.action.padEnd(16)} ${e.from ?? '-'} → ${e.to}`);

    const report = {
      campaignId: campaign.id,
      status: campaign.status,
      outcome: campaign.outcome,
      counts: {
        total: c.total,
        sent: c.sent,
        failed: c.failed,
        cancelled: c.cancelled,
        pending: c.pending,
        inFlight: c.inFlight,
        suppressed: c.suppressed,
        delivered: c.delivered,
        read: c.read,
      },
      channel,
      sink: { received: sink.received, unique: sink.unique, duplicates: sink.duplicates },
      pausedMidway: paused,
      workspaceId: ws.id,
    };
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    return campaign.status === 'completed' ? 0 : 1;
  } finally {
    await herald.close();
  }
}
