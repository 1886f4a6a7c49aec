import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../../domain/errors.js';
import type { AppDeps } from '../app.js';
import { parseLedgerKey } from '../../channels/receipts.js';
import { type Channel, channels } from '../../domain/lifecycle.js';
import { StringEnum } from '../../domain/string-enum.js';

/**
 * The latest messages a channel's sandbox provider accepted, this workspace's only: each
 * carries its ledger key, whose run says whose it is.
 */
async function channelSandboxMessages(
  deps: AppDeps,
  workspaceId: string,
  q: { channel: Exclude<Channel, 'email'>; campaignId?: string | undefined; to?: string | undefined; limit?: number | undefined },
) {
  const sandbox = deps.providers?.sandboxes().find((s) => s.channel === q.channel);
  if (!sandbox) throw HeraldError.of('NOT_FOUND', `No ${q.channel} sandbox runs in this process.`);
  const all = sandbox.server.messages();
  const runIdOf = (key: string | null) => parseLedgerKey(key)?.runId ?? null;
  const runIds = [...new Set(all.map((m) => runIdOf(m.ledgerKey)).filter((id): id is number => id !== null))];
  let query = deps.db.selectFrom('runs').select('id').where('workspace_id', '=', workspaceId);
  if (q.campaignId) query = query.where('campaign_id', '=', q.campaignId);
  const mine = new Set(runIds.length > 0 ? (await query.where('id', 'in', runIds).execute()).map((r) => Number(r.id)) : []);
  // Protocols that carry no ledger key (Telegram): the provider's id, which the ledger keeps.
  const unkeyed = all.filter((m) => m.ledgerKey === null).map((m) => m.providerId);
  let known = new Set<string>();
  if (unkeyed.length > 0) {
    let byProvider = deps.db
      .selectFrom('messages')
      .innerJoin('runs', 'runs.id', 'messages.run_id')
      .select('messages.provider_id')
      .where('messages.workspace_id', '=', workspaceId)
      .where('messages.receipt_key', 'in', unkeyed);
    if (q.campaignId) byProvider = byProvider.where('runs.campaign_id', '=', q.campaignId);
    known = new Set((await byProvider.execute()).map((r) => r.provider_id ?? ''));
  }
  const data = all
    .filter((m) => (m.ledgerKey === null ? known.has(m.providerId) : mine.has(runIdOf(m.ledgerKey) ?? -1)) && (!q.to || m.to === q.to))
    .slice(-(q.limit ?? 50))
    .reverse();
  return {
    channel: q.channel,
    provider: sandbox.provider,
    accepted: sandbox.server.accepted,
    duplicates: sandbox.server.duplicates,
    data,
    meta: { sandbox: true },
  };
}

/**
 * What the sandbox SMTP server received, for the demo, the tests and a curious user.
 * Only this workspace's messages are shown (each carries its workspace in a header).
 */
export const sandboxRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/sandbox/messages',
      {
        schema: {
          tags: ['sandbox'],
          summary: 'Messages a sandbox provider received (the SMTP server, or `channel`’s)',
          querystring: Type.Object(
            {
              channel: Type.Optional(StringEnum(channels, 'The channel whose sandbox to read (default email)')),
              campaignId: Type.Optional(Type.String()),
              to: Type.Optional(Type.String()),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        if (!deps.sandbox) throw HeraldError.of('NOT_FOUND', 'Sandbox mode is off (HERALD_SANDBOX=off): there is no sandbox mailbox.');
        const q = request.query;
        if (q.channel && q.channel !== 'email') return channelSandboxMessages(deps, request.workspaceId, { ...q, channel: q.channel });
        const mailbox = deps.sandbox.mailbox;
        if (!mailbox) {
          const at = deps.sandbox.external ? `${deps.sandbox.external.host}:${deps.sandbox.external.port}` : 'another process';
          throw HeraldError.of(
            'NOT_FOUND',
            `The sandbox SMTP server runs as its own process (${at}); ask its HTTP API for what it received.`,
          );
        }
        const summary = mailbox.summary({ workspaceId: request.workspaceId, campaignId: q.campaignId });
        const data = mailbox.latest({ workspaceId: request.workspaceId, campaignId: q.campaignId, to: q.to, limit: q.limit ?? 50 });
        return { ...summary, data, meta: { sandbox: true } };
      },
    );
  };
