import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Sender, SenderInput, SenderPatch } from '../../domain/resources.js';
import { createSender, getSender, listSenders, senderOf, softDeleteSender, updateSender } from '../../store/senders.js';
import { HeraldError, unwrap } from '../../domain/errors.js';
import type { Channel } from '../../domain/lifecycle.js';
import { type SenderFields, checkSender } from '../../domain/sender.js';
import { validateRateRule } from '../../domain/pacing.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Refuses a sender that cannot send on its channel, naming each missing or malformed field. */
function assertSender(channel: Channel, fields: SenderFields): void {
  const errors = checkSender(channel, fields);
  if (errors.length > 0) throw HeraldError.of('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), { errors });
}

/** Credentials are only accepted when they can be stored encrypted. */
function assertCanSeal(deps: AppDeps, credentials: unknown): void {
  if (credentials && !deps.secrets)
    throw HeraldError.of(
      'SECRETS_UNAVAILABLE',
      'Set HERALD_SECRET_KEY (32 bytes, e.g. `openssl rand -hex 32`) so credentials can be stored encrypted.',
    );
}

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
        const b = request.body;
        assertSender(b.channel ?? 'email', { fromEmail: b.fromEmail ?? null, fromName: b.fromName ?? null, address: b.address ?? null });
        assertCanSeal(deps, b.credentials);
        const row = await createSender(deps.db, request.workspaceId, b, deps.clock.now(), deps.secrets ?? null);
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
        const b = request.body;
        const current = await getSender(deps.db, request.workspaceId, request.params.id);
        if (!current) throw notFound('sender', request.params.id);
        assertSender(current.channel as Channel, {
          fromEmail: b.fromEmail === undefined ? current.from_email : b.fromEmail,
          fromName: b.fromName === undefined ? current.from_name : b.fromName,
          address: b.address === undefined ? current.address : b.address,
        });
        assertCanSeal(deps, b.credentials);
        const row = await updateSender(deps.db, request.workspaceId, request.params.id, b, deps.clock.now(), deps.secrets ?? null);
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
