import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { channels } from '../../domain/lifecycle.js';
import { HeraldError } from '../../domain/errors.js';
import { defaultGraceMinutes, isTimeZone } from '../../domain/schedule.js';
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
    scheduleGraceMinutes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_080,
        description:
          'How late a schedule missed while Herald was not running may still start; past it a one-time send fails with SCHEDULE_PASSED and a recurring one skips to its next occurrence (default 60)',
      }),
    ),
  },
  { additionalProperties: false },
);

const Workspace = Type.Object({
  id: Type.String(),
  name: Type.String(),
  timeZone: Type.String({ description: 'IANA zone in which send times without an offset are read and shown' }),
  policies: Policies,
  scheduleGraceMinutes: Type.Integer(),
  sandbox: Type.Boolean(),
  createdAt: Type.String(),
});

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
        scheduleGraceMinutes: workspaceSettings(ws).scheduleGraceMinutes ?? defaultGraceMinutes,
        sandbox: deps.sandbox !== null,
        createdAt: ws.created_at,
      };
    };

    app.get(
      '/workspace',
      { schema: { tags: ['workspace'], summary: 'The workspace of the API key', response: { 200: Workspace } } },
      async (request) => view(request.workspaceId),
    );

    app.patch(
      '/workspace',
      {
        schema: {
          tags: ['workspace'],
          summary: 'Rename, set the time zone and the schedule grace window, override channel policies',
          body: WorkspacePatch,
          response: { 200: Workspace },
        },
      },
      async (request) => {
        const { name, timeZone, policies, scheduleGraceMinutes } = request.body;
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
              ...(policies !== undefined || scheduleGraceMinutes !== undefined
                ? {
                    settings: JSON.stringify({
                      ...settings,
                      ...(policies !== undefined ? { policies } : {}),
                      ...(scheduleGraceMinutes !== undefined ? { scheduleGraceMinutes } : {}),
                    }),
                  }
                : {}),
            })
            .where('id', '=', request.workspaceId)
            .execute();
        });
        return view(request.workspaceId);
      },
    );
  };
