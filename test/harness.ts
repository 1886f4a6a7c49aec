import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import type { Campaign } from '../src/domain/campaign.js';
import type { SandboxFaults } from '../src/channels/provider.js';
import type { Clock } from '../src/engine/clock.js';
import { type Herald, startHerald } from '../src/runtime.js';
import { createApiKey, createWorkspace } from '../src/store/workspaces.js';
import { type TestDialect, freshDatabase } from './dialects.js';

export interface TestHerald {
  readonly herald: Herald;
  readonly key: string;
  readonly workspaceId: string;
  readonly api: Api;
  /** SQL statements run since the last reset, for tests about what a request reads. */
  readonly queries: string[];
  close(): Promise<void>;
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Record<string, unknown>;
}
export type Api = <T = any>(method: string, url: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiResponse<T>>;

/** Calls the app through Fastify inject with a workspace's key. */
export function apiFor(herald: Herald, key: string): Api {
  return async (method, url, body, headers = {}) => {
    const res = await herald.app.inject({
      method: method as 'GET',
      url,
      headers: {
        authorization: `Bearer ${key}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { payload: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
    });
    return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : null, headers: res.headers };
  };
}

/**
 * A whole Herald on a fresh database (in-memory SQLite by default, or a PostgreSQL database
 * of its own) with the sandbox SMTP server on a free
 * loopback port, and a fresh workspace; engine timings shortened for tests.
 */
export async function startTestHerald(
  opts: { env?: Record<string, string>; clock?: Clock; startEngine?: boolean; dialect?: TestDialect; sandboxFaults?: SandboxFaults } = {},
): Promise<TestHerald> {
  const fresh = await freshDatabase(opts.dialect ?? 'sqlite');
  const config = loadConfig({
    HERALD_SANDBOX: 'on',
    HERALD_LEASE_MS: '2000',
    HERALD_RETRY_BASE_MS: '20',
    LOG_LEVEL: 'silent',
    ...opts.env,
  });
  const queries: string[] = [];
  const herald = await startHerald(
    { ...config, database: fresh.location, engine: { ...config.engine } },
    {
      log: pino({ level: 'silent' }),
      onQuery: (sql) => queries.push(sql),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.startEngine === false ? { startEngine: false } : {}),
      ...(opts.sandboxFaults ? { sandboxFaults: opts.sandboxFaults } : {}),
    },
  );
  const now = new Date();
  const ws = await createWorkspace(herald.db, { name: 'Test', now });
  const key = await createApiKey(herald.db, { workspaceId: ws.id, name: 'test', now });
  return {
    herald,
    key,
    workspaceId: ws.id,
    api: apiFor(herald, key),
    queries,
    async close() {
      await herald.close();
      await fresh.drop();
    },
  };
}

/** Creates a list of N contacts (emails from `emailOf`), a template, a sender, and a campaign draft. */
export async function seedCampaign(
  api: Api,
  opts: { contacts: number; emailOf?: (i: number) => string; campaign?: Record<string, unknown> } = { contacts: 10 },
): Promise<{ campaign: Campaign; listId: string; templateId: string; senderId: string }> {
  const list = await api('POST', '/v1/lists', { name: 'Readers' });
  const emailOf = opts.emailOf ?? ((i: number) => `reader${i}@example.test`);
  for (let start = 0; start < opts.contacts; start += 5000) {
    const contacts = Array.from({ length: Math.min(5000, opts.contacts - start) }, (_, k) => ({
      email: emailOf(start + k),
      firstName: `R${start + k}`,
    }));
    const r = await api('POST', '/v1/contacts/bulk', { contacts, listIds: [list.body.id] });
    if (r.status !== 200) throw new Error(`bulk contacts: ${r.status} ${JSON.stringify(r.body)}`);
  }
  const template = await api('POST', '/v1/templates', {
    name: 'T',
    subject: 'Hi {{ contact.firstName }}',
    html: '<p>Hello {{ contact.firstName }}</p>',
  });
  const sender = await api('POST', '/v1/senders', { name: 'S', fromEmail: 'news@example.test', fromName: 'News' });
  const campaign = await api('POST', '/v1/campaigns', {
    name: 'Campaign',
    templateId: template.body.id,
    senderId: sender.body.id,
    audience: { listIds: [list.body.id] },
    ...opts.campaign,
  });
  if (campaign.status !== 201) throw new Error(`create campaign: ${campaign.status} ${JSON.stringify(campaign.body)}`);
  return { campaign: campaign.body, listId: list.body.id, templateId: template.body.id, senderId: sender.body.id };
}

/** Polls the campaign until `done` holds (bounded), returning its last state. */
export async function waitFor(api: Api, id: string, done: (c: Campaign) => boolean, timeoutMs = 20_000): Promise<Campaign> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const c = (await api<Campaign>('GET', `/v1/campaigns/${id}`)).body;
    if (done(c)) return c;
    if (Date.now() > deadline) throw new Error(`timed out waiting; campaign is ${c.status} ${JSON.stringify(c.counts)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const act = (api: Api, id: string, action: string, body: Record<string, unknown> = {}) =>
  api('POST', `/v1/campaigns/${id}/actions/${action}`, body);
