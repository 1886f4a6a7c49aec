import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Sender, SenderInput, SenderPatch } from '../../domain/resources.js';
import { createSender, getSender, listSenders, senderOf, softDeleteSender, updateSender } from '../../store/senders.js';
import { unwrap } from '../../domain/errors.js';
import { validateRateRule } from '../../domain/pacing.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Senders: CRUD; PATCH {status: 'paused' | 'active'} pauses or resumes one; delete is soft. */
export const senderRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['senders'];

    app.post(
      '/senders',
      { schema: { tags, summary: 'Create a sender (active)', body: SenderInput, response: { 201: Sender } } },
      async (request, reply) => {
        if (request.body.rateLimit) unwrap(validateRateRule(request.body.rateLimit));
        const row = await createSender(deps.db, request.workspaceId, request.body, deps.clock.now());
        return reply.code(201).send(senderOf(row));
      },
    );

    app.get(
      '/senders',
      {
        schema: {
          tags,
          summary: 'List senders, oldest first',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(Sender) },
        },
      },
      async (request) => {
        const { limit = 50, cursor } = request.query;
        const page = await listSenders(deps.db, request.workspaceId, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(senderOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get('/senders/:id', { schema: { tags, summary: 'Get a sender', params: IdParams, response: { 200: Sender } } }, async (request) => {
      const row = await getSender(deps.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('sender', request.params.id);
      return senderOf(row);
    });

    app.patch(
      '/senders/:id',
      {
        schema: {
          tags,
          summary: 'Change a sender; status "paused" pauses it, "active" resumes it',
          params: IdParams,
          body: SenderPatch,
          response: { 200: Sender },
        },
      },
      async (request) => {
        if (request.body.rateLimit) unwrap(validateRateRule(request.body.rateLimit));
        const row = await updateSender(deps.db, request.workspaceId, request.params.id, request.body, deps.clock.now());
        if (!row) throw notFound('sender', request.params.id);
        return senderOf(row);
      },
    );

    app.delete(
      '/senders/:id',
      {
        schema: {
          tags,
          summary: 'Delete a sender (campaigns using it then fail preflight with SENDER_DELETED)',
          params: IdParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        if (!(await softDeleteSender(deps.db, request.workspaceId, request.params.id, deps.clock.now()))) {
          throw notFound('sender', request.params.id);
        }
        return reply.code(204).send(null);
      },
    );
  };
