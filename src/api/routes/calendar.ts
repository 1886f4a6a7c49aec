import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { CalendarEntry, CalendarQuery, calendarMaxDays } from '../../domain/calendar.js';
import { HeraldError } from '../../domain/errors.js';
import { calendar } from '../../engine/calendar.js';
import type { AppDeps } from '../app.js';

/** The launch calendar (seed 003): what goes out when, drafts without a time excluded. */
export const calendarRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/calendar',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Launches in a time range: runs, scheduled sends, recurring occurrences, automations’ expected sends',
          description:
            'Each entry carries the campaign’s name, description, channel, status, launch type and the time, in UTC and on ' +
            'the workspace’s wall clock. Drafts without a send time and archived campaigns are left out. At most ' +
            `${calendarMaxDays} days per request.`,
          querystring: CalendarQuery,
          response: { 200: Type.Object({ data: Type.Array(CalendarEntry), timeZone: Type.String() }) },
        },
      },
      async (request) => {
        const from = new Date(request.query.from);
        const to = new Date(request.query.to);
        if (!(from < to) || to.getTime() - from.getTime() > calendarMaxDays * 86_400_000) {
          throw HeraldError.of('VALIDATION_FAILED', `querystring/to must be after from, by at most ${calendarMaxDays} days`, {
            errors: [{ field: 'querystring/to', message: `must be after from, by at most ${calendarMaxDays} days` }],
          });
        }
        const automationEntries = deps.automations
          ? (zone: string) => deps.automations!.calendar(request.workspaceId, from, to, zone)
          : undefined;
        const data = await calendar(deps.db, {
          workspaceId: request.workspaceId,
          from,
          to,
          ...(automationEntries ? { automationEntries } : {}),
        });
        const ws = await deps.db.selectFrom('workspaces').select('time_zone').where('id', '=', request.workspaceId).executeTakeFirst();
        return { data, timeZone: ws?.time_zone ?? 'UTC' };
      },
    );
  };
