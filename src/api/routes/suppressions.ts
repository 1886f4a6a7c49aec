import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { HeraldError, unwrap } from '../../domain/errors.js';
import {
  Suppression,
  SuppressionBulk,
  SuppressionBulkResult,
  SuppressionInput,
  normaliseAddress,
  normaliseEntries,
  suppressionKinds,
  suppressionReasons,
} from '../../domain/suppression.js';
import { addSuppressions, getSuppression, listSuppressions, removeSuppression, suppressionOf } from '../../store/suppressions.js';
import type { AppDeps } from '../app.js';
import { Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';
import { StringEnum } from '../../domain/string-enum.js';

const ListQuery = Type.Object(
  {
    ...PageQuery,
    kind: Type.Optional(StringEnum(suppressionKinds)),
    reason: Type.Optional(StringEnum(suppressionReasons)),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 320, description: 'Part of the address' })),
  },
  { additionalProperties: false },
);

const AddressParams = Type.Object({
  address: Type.String({ minLength: 1, maxLength: 320, description: 'An email, an E.164 phone, telegram:<chat id> or viber:<user id>' }),
});

/** A path address that cannot be an email or an E.164 phone is a 400, not a 404. */
function pathAddress(raw: string): string {
  const n = normaliseAddress(raw);
  if (!n.ok) throw HeraldError.of('VALIDATION_FAILED', n.error.detail, { errors: [{ field: 'params/address', message: n.error.detail }] });
  return n.value.address;
}

/** The workspace's suppression list: addresses Herald will not message (DESIGN §5). */
export const suppressionRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['suppressions'];

    app.get(
      '/suppressions',
      {
        schema: {
          tags,
          summary: 'List suppressed addresses, newest first (filter by kind, reason, part of the address)',
          querystring: ListQuery,
          response: { 200: Page(Suppression) },
        },
      },
      async (request) => {
        const { limit = 50, cursor, kind, reason, q } = request.query;
        const page = await listSuppressions(deps.db, request.workspaceId, { limit, cursor, kind, reason, q });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(suppressionOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.post(
      '/suppressions',
      {
        schema: {
          tags,
          summary: 'Suppress one address, or many at once (`{"suppressions": [...]}`, up to 10,000, all or nothing)',
          description:
            'Emails are stored trimmed and lower-cased, phones in E.164. One address answers 201 with the suppression; ' +
            'many answer 200 with how many were new. An address already suppressed takes the new reason, source and note.',
          body: Type.Union([SuppressionInput, SuppressionBulk]),
          response: { 200: SuppressionBulkResult, 201: Suppression },
        },
      },
      async (request, reply) => {
        const now = deps.clock.now();
        const body = request.body;
        if ('suppressions' in body) {
          const entries = unwrap(normaliseEntries(body.suppressions, (i) => `body/suppressions/${i}/address`));
          return addSuppressions(deps.db, request.workspaceId, entries, now);
        }
        const [entry] = unwrap(normaliseEntries([body], () => 'body/address'));
        await addSuppressions(deps.db, request.workspaceId, [entry!], now);
        const row = await getSuppression(deps.db, request.workspaceId, entry!.address);
        return reply.code(201).send(suppressionOf(row!));
      },
    );

    app.get(
      '/suppressions/:address',
      { schema: { tags, summary: 'Whether an address is suppressed, and why', params: AddressParams, response: { 200: Suppression } } },
      async (request) => {
        const row = await getSuppression(deps.db, request.workspaceId, pathAddress(request.params.address));
        if (!row) throw notFound('suppression of', request.params.address);
        return suppressionOf(row);
      },
    );

    app.delete(
      '/suppressions/:address',
      {
        schema: {
          tags,
          summary: 'Lift the suppression of an address: later campaigns may message it again',
          params: AddressParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        if (!(await removeSuppression(deps.db, request.workspaceId, pathAddress(request.params.address))))
          throw notFound('suppression of', request.params.address);
        return reply.code(204).send(null);
      },
    );
  };
