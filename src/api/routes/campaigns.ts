import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { Campaign, CampaignCreate, CampaignPatch, Run, SendTime } from '../../domain/campaign.js';
import { HeraldError } from '../../domain/errors.js';
import { campaignStatuses, channels, isUserAction, userActions } from '../../domain/lifecycle.js';
import { messageStates } from '../../domain/messages.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, pageOf } from '../envelope.js';
import { StringEnum } from '../../domain/string-enum.js';

const ListQuery = Type.Object(
  {
    ...PageQuery,
    status: Type.Optional(StringEnum(campaignStatuses)),
    channel: Type.Optional(StringEnum(channels)),
    tag: Type.Optional(Type.String({ maxLength: 50 })),
    archived: Type.Optional(Type.Boolean({ default: false, description: 'true lists the archived campaigns instead' })),
    q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Search by name, or an exact id' })),
    sort: Type.Optional(StringEnum(['created', 'name', 'launch_type', 'send_at'] as const)),
    order: Type.Optional(StringEnum(['asc', 'desc'] as const)),
  },
  { additionalProperties: false },
);

const ActionParams = Type.Object({ id: IdParams.properties.id, action: Type.String({ maxLength: 50 }) });

const ActionBody = Type.Union([
  Type.Object(
    {
      version: Type.Optional(Type.Integer({ minimum: 1, description: 'If given, the action applies only at this version' })),
      sendAt: Type.Optional(
        Type.Union([SendTime.anyOf[0]!, SendTime.anyOf[1]!], {
          description: 'schedule, reschedule, restart: the new send time (a wall time without offset is read in the workspace’s zone)',
        }),
      ),
      sendNow: Type.Optional(Type.Boolean({ description: 'restart: answer SCHEDULE_PASSED by sending now' })),
      reason: Type.Optional(Type.String({ maxLength: 500, description: 'Written to the campaign timeline' })),
    },
    { additionalProperties: false },
  ),
  Type.Null(),
]);

const ProblemRef = Type.Object(
  { type: Type.String(), title: Type.String(), status: Type.Integer(), detail: Type.String(), code: Type.String() },
  { additionalProperties: true },
);

/** Campaign CRUD, lifecycle actions, stats, timeline and per-recipient outcomes. */
export const campaignRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const service = deps.campaigns;
    const actor = (key: string) => `api:${key}`;
    const sandbox = deps.sandbox !== null;
    // Live streams end when the server closes, or a graceful shutdown would wait for every viewer.
    const streams = new Set<() => void>();
    app.addHook('preClose', async () => {
      for (const end of streams) end();
    });

    app.get(
      '/campaigns',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'List campaigns (filter, sort, search, cursor pages)',
          querystring: ListQuery,
          response: { 200: Page(Campaign) },
        },
      },
      async (request) => {
        const q = request.query;
        const page = await service.list(request.workspaceId, {
          archived: q.archived ?? false,
          sort: q.sort ?? 'created',
          order: q.order ?? 'desc',
          limit: q.limit ?? 50,
          ...(q.status ? { status: q.status } : {}),
          ...(q.channel ? { channel: q.channel } : {}),
          ...(q.tag ? { tag: q.tag } : {}),
          ...(q.q ? { q: q.q } : {}),
          ...(q.cursor ? { cursor: q.cursor } : {}),
        });
        return pageOf(page.data, page.nextCursor, sandbox);
      },
    );

    app.post(
      '/campaigns',
      { schema: { tags: ['campaigns'], summary: 'Create a campaign (as a draft)', body: CampaignCreate, response: { 201: Campaign } } },
      async (request, reply) => {
        const campaign = await service.create(request.workspaceId, request.body, actor(request.workspaceId));
        return reply.code(201).header('location', `/v1/campaigns/${campaign.id}`).send(campaign);
      },
    );

    app.get(
      '/campaigns/:id',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'A campaign, with allowedActions and live counts',
          params: IdParams,
          response: { 200: Campaign },
        },
      },
      async (request) => service.get(request.workspaceId, request.params.id),
    );

    app.patch(
      '/campaigns/:id',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Edit fields the current status allows (send the version you read)',
          params: IdParams,
          body: CampaignPatch,
          response: { 200: Campaign },
        },
      },
      async (request) => service.update(request.workspaceId, request.params.id, request.body, actor(request.workspaceId)),
    );

    app.delete(
      '/campaigns/:id',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Delete a campaign that never sent (otherwise archive it)',
          params: IdParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        await service.act(request.workspaceId, request.params.id, 'delete', {}, actor(request.workspaceId));
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/campaigns/:id/actions/:action',
      {
        schema: {
          tags: ['campaigns'],
          summary: `Apply a lifecycle action: ${userActions.join(', ')}`,
          description:
            'Answers 409 ACTION_NOT_ALLOWED with the campaign’s allowedActions when the status forbids the action, ' +
            '409 SCHEDULE_PASSED when the send time has gone by (answer with sendNow or a new sendAt), ' +
            '422 PREFLIGHT_FAILED with every reason at once. `clone` answers 201 with the copy.',
          params: ActionParams,
          body: Type.Optional(ActionBody),
          response: { 200: Campaign, 201: Campaign, 204: Type.Null(), 409: ProblemRef, 422: ProblemRef },
        },
      },
      async (request, reply) => {
        const { id, action } = request.params;
        if (!isUserAction(action)) {
          throw HeraldError.of('UNKNOWN_ACTION', `There is no campaign action "${action}".`, { actions: userActions });
        }
        if (action === 'edit') {
          throw HeraldError.of('VALIDATION_FAILED', `Edit a campaign with PATCH /v1/campaigns/${id} and the fields to change.`, {
            errors: [{ field: 'path/action', message: 'edit is done with PATCH' }],
          });
        }
        const body = request.body ?? {};
        const result = await service.act(request.workspaceId, id, action, body, actor(request.workspaceId));
        if (action === 'delete') return reply.code(204).send(null);
        if (result.created) return reply.code(201).header('location', `/v1/campaigns/${result.created.id}`).send(result.created);
        return result.campaign;
      },
    );

    app.get(
      '/campaigns/:id/live',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Live status and counts as Server-Sent Events',
          description:
            'An `event: campaign` with {status, outcome, archived, version, counts, allowedActions} whenever it changes ' +
            '(checked every `intervalMs`), until the client disconnects. Reads the counters only.',
          params: IdParams,
          querystring: Type.Object(
            { intervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 10_000, default: 500 })) },
            { additionalProperties: false },
          ),
        },
      },
      async (request, reply) => {
        const { workspaceId } = request;
        const first = await service.get(workspaceId, request.params.id);
        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          connection: 'keep-alive',
          ...(sandbox ? { 'x-herald-sandbox': 'on' } : {}),
        });
        let last = '';
        let closed = false;
        let wake: () => void = () => undefined;
        const end = () => {
          closed = true;
          wake();
        };
        streams.add(end);
        request.raw.on('close', end);
        const push = (c: typeof first) => {
          const data = JSON.stringify({
            id: c.id,
            status: c.status,
            outcome: c.outcome,
            archived: c.archived,
            version: c.version,
            counts: c.counts,
            allowedActions: c.allowedActions,
          });
          if (data !== last) res.write(`event: campaign\ndata: ${data}\n\n`);
          last = data;
        };
        push(first);
        const interval = request.query.intervalMs ?? 500;
        while (!closed) {
          await new Promise<void>((r) => {
            const timer = setTimeout(r, interval);
            wake = () => {
              clearTimeout(timer);
              r();
            };
          });
          if (closed) break;
          try {
            push(await service.get(workspaceId, first.id));
          } catch {
            res.write('event: gone\ndata: {}\n\n'); // deleted meanwhile
            break;
          }
        }
        streams.delete(end);
        res.end();
      },
    );

    app.get(
      '/campaigns/:id/stats',
      { schema: { tags: ['campaigns'], summary: 'Live counts from the run counters, runs and a per-minute series', params: IdParams } },
      async (request) => service.stats(request.workspaceId, request.params.id),
    );

    app.get(
      '/campaigns/:id/runs',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'The run history: one run per launch or recurring occurrence, newest first, each with its own counts',
          params: IdParams,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
              cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$', description: 'nextCursor of the previous page' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Page(Run) },
        },
      },
      async (request) => {
        const q = request.query;
        const page = await service.runs(request.workspaceId, request.params.id, {
          limit: q.limit ?? 50,
          ...(q.cursor ? { before: Number(q.cursor) } : {}),
        });
        return pageOf(page.data, page.nextCursor, sandbox);
      },
    );

    app.get(
      '/campaigns/:id/events',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'The campaign timeline: every status change with who, when and why',
          params: IdParams,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
              after: Type.Optional(Type.Integer({ minimum: 0 })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const limit = request.query.limit ?? 100;
        const data = await service.events(request.workspaceId, request.params.id, limit, request.query.after);
        return pageOf(data, data.length === limit ? String(data.at(-1)!.id) : null, sandbox);
      },
    );

    app.get(
      '/campaigns/:id/messages',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'Per-recipient outcomes of the current run: who failed and why',
          params: IdParams,
          querystring: Type.Object(
            {
              state: Type.Optional(StringEnum(messageStates)),
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
              cursor: Type.Optional(Type.String({ pattern: '^[0-9]+$' })),
            },
            { additionalProperties: false },
          ),
        },
      },
      async (request) => {
        const q = request.query;
        const page = await service.messages(request.workspaceId, request.params.id, {
          limit: q.limit ?? 50,
          ...(q.state ? { state: q.state } : {}),
          ...(q.cursor ? { after: Number(q.cursor) } : {}),
        });
        return pageOf(page.data, page.nextCursor, sandbox);
      },
    );
  };
