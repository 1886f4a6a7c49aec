import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { channels } from '../../domain/lifecycle.js';
import { HeraldError } from '../../domain/errors.js';
import { getWorkspace, workspaceSettings } from '../../store/workspaces.js';
import type { AppDeps } from '../app.js';

const Policies = Type.Object(
  Object.fromEntries(
    channels.map((c) => [
      c,
      Type.Optional(
        Type.Object(
          {
            restartAfterStop: Type.Optional(Type.Boolean({ description: 'false: a stopped campaign can only be cloned (seeds 001, 002)' })),
          },
          { additionalProperties: false },
        ),
      ),
    ]),
  ),
  { additionalProperties: false },
);

const WorkspacePatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Paris' })),
    policies: Type.Optional(Policies),
  },
  { additionalProperties: false },
);

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/** The caller's workspace: its name, time zone and channel policy overrides. */
export const workspaceRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const view = async (id: string) => {
      const ws = await getWorkspace(deps.db, id);
      if (!ws) throw HeraldError.of('NOT_FOUND', 'The workspace no longer exists.');
      return {
        id: ws.id,
        name: ws.name,
        timeZone: ws.time_zone,
        policies: workspaceSettings(ws).policies ?? {},
        sandbox: deps.sandbox !== null,
        createdAt: ws.created_at,
      };
    };

    app.get('/workspace', { schema: { tags: ['workspace'], summary: 'The workspace of the API key' } }, async (request) =>
      view(request.workspaceId),
    );

    app.patch(
      '/workspace',
      { schema: { tags: ['workspace'], summary: 'Rename, set the time zone, override channel policies', body: WorkspacePatch } },
      async (request) => {
        const { name, timeZone, policies } = request.body;
        if (timeZone !== undefined && !isTimeZone(timeZone)) {
          throw HeraldError.of('VALIDATION_FAILED', `body/timeZone "${timeZone}" is not an IANA time zone`, {
            errors: [{ field: 'body/timeZone', message: 'is not an IANA time zone' }],
          });
        }
        await deps.db.transaction().execute(async (trx) => {
          const ws = await getWorkspace(trx, request.workspaceId);
          if (!ws) throw HeraldError.of('NOT_FOUND', 'The workspace no longer exists.');
          const settings = workspaceSettings(ws);
          await trx
            .updateTable('workspaces')
            .set({
              ...(name !== undefined ? { name } : {}),
              ...(timeZone !== undefined ? { time_zone: timeZone } : {}),
              ...(policies !== undefined ? { settings: JSON.stringify({ ...settings, policies }) } : {}),
            })
            .where('id', '=', request.workspaceId)
            .execute();
        });
        return view(request.workspaceId);
      },
    );
  };
