import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../../domain/errors.js';
import type { AppDeps } from '../app.js';

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
          summary: 'Messages the sandbox SMTP server received',
          querystring: Type.Object(
            {
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
