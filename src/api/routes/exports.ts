import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unwrap } from '../../domain/errors.js';
import { exportContacts, exportRecipients } from '../../export/csv.js';
import { getWorkspace } from '../../store/workspaces.js';
import type { AppDeps } from '../app.js';
import { IdParams } from '../envelope.js';

/** CSV exports (RFC 4180 with a header line, streamed): the workspace's contacts (or a list's, or a segment's) and a campaign's recipients. */
export const exportRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/contacts/export.csv',
      {
        schema: {
          tags: ['contacts'],
          summary: 'Export contacts as CSV (columns the import maps back; one column per attribute)',
          querystring: Type.Object(
            {
              listId: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Only members of this list' })),
              segmentId: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Only contacts the segment selects now' })),
            },
            { additionalProperties: false },
          ),
          produces: ['text/csv'],
        },
      },
      async (request, reply) => {
        const workspace = await getWorkspace(deps.db, request.workspaceId);
        const stream = unwrap(
          await exportContacts(deps.db, {
            workspaceId: request.workspaceId,
            filter: request.query,
            now: deps.clock.now(),
            timeZone: workspace?.time_zone ?? 'UTC',
          }),
        );
        return reply.type('text/csv; charset=utf-8').header('content-disposition', 'attachment; filename="contacts.csv"').send(stream);
      },
    );

    app.get(
      '/campaigns/:id/recipients.csv',
      {
        schema: {
          tags: ['campaigns'],
          summary: "Export the current run's ledger as CSV: contact, address, state, attempts, error, sent time",
          params: IdParams,
          produces: ['text/csv'],
        },
      },
      async (request, reply) => {
        const stream = unwrap(await exportRecipients(deps.db, { workspaceId: request.workspaceId, campaignId: request.params.id }));
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${request.params.id.replace(/[^A-Za-z0-9_-]/g, '')}-recipients.csv"`)
          .send(stream);
      },
    );
  };
