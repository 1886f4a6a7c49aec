import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { unwrap } from '../../domain/errors.js';
import { type Segment, validateSegment } from '../../domain/segment.js';
import {
  createSegment,
  estimateSegment,
  getSegment,
  listSegments,
  segmentOf,
  softDeleteSegment,
  updateSegment,
} from '../../store/segments.js';
import { getWorkspace } from '../../store/workspaces.js';
import type { AppDeps } from '../app.js';
import { IdParams, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

// The rule is checked by validateSegment, which names the path of the bad node
// (`body/rule/and/2/value`); JSON Schema would list every alternative of the union instead.
const Rule = Type.Unknown({ description: 'A segment rule tree: and / or / not over attribute, date, list, tag and campaign conditions' });

const SegmentInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
    rule: Rule,
  },
  { additionalProperties: false },
);
const SegmentPatch = Type.Partial(SegmentInput, { additionalProperties: false });
const EstimateQuery = Type.Object(
  { sample: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, default: 10 })) },
  { additionalProperties: false },
);

/** Saved segments, and audience estimates for a saved or an inline rule. */
export const segmentRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['segments'];
    const estimate = async (workspaceId: string, rule: Segment, sample: number) => {
      const ws = await getWorkspace(deps.db, workspaceId);
      return estimateSegment(deps.db, { workspaceId, rule, now: deps.clock.now(), timeZone: ws?.time_zone ?? 'UTC', sample });
    };

    app.post('/segments', { schema: { tags, summary: 'Save a segment', body: SegmentInput } }, async (request, reply) => {
      const rule = unwrap(validateSegment(request.body.rule));
      const row = await createSegment(deps.db, request.workspaceId, { ...request.body, rule }, deps.clock.now());
      return reply.code(201).send(segmentOf(row));
    });

    app.get(
      '/segments',
      { schema: { tags, summary: 'List segments, oldest first', querystring: Type.Object(PageQuery, { additionalProperties: false }) } },
      async (request) => {
        const page = await listSegments(deps.db, request.workspaceId, { limit: request.query.limit ?? 50, cursor: request.query.cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(segmentOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get('/segments/:id', { schema: { tags, summary: 'Get a segment', params: IdParams } }, async (request) => {
      const row = await getSegment(deps.db, request.workspaceId, request.params.id);
      if (!row) throw notFound('segment', request.params.id);
      return segmentOf(row);
    });

    app.patch(
      '/segments/:id',
      { schema: { tags, summary: 'Rename a segment or change its rule', params: IdParams, body: SegmentPatch } },
      async (request) => {
        const rule = request.body.rule === undefined ? undefined : unwrap(validateSegment(request.body.rule));
        const row = await updateSegment(
          deps.db,
          request.workspaceId,
          request.params.id,
          { ...request.body, ...(rule ? { rule } : {}) } as { name?: string; description?: string | null; rule?: Segment },
          deps.clock.now(),
        );
        if (!row) throw notFound('segment', request.params.id);
        return segmentOf(row);
      },
    );

    app.delete('/segments/:id', { schema: { tags, summary: 'Delete a segment', params: IdParams } }, async (request, reply) => {
      if (!(await softDeleteSegment(deps.db, request.workspaceId, request.params.id, deps.clock.now())))
        throw notFound('segment', request.params.id);
      return reply.code(204).send();
    });

    app.get(
      '/segments/:id/estimate',
      {
        schema: { tags, summary: 'How many contacts the segment selects now, with a sample', params: IdParams, querystring: EstimateQuery },
      },
      async (request) => {
        const row = await getSegment(deps.db, request.workspaceId, request.params.id);
        if (!row) throw notFound('segment', request.params.id);
        return estimate(request.workspaceId, segmentOf(row).rule, request.query.sample ?? 10);
      },
    );

    app.post(
      '/segments/estimate',
      {
        schema: {
          tags,
          summary: 'Estimate an inline rule (a one-time segment) without saving it',
          body: Type.Object({ rule: Rule }, { additionalProperties: false }),
          querystring: EstimateQuery,
        },
      },
      async (request) => estimate(request.workspaceId, unwrap(validateSegment(request.body.rule)), request.query.sample ?? 10),
    );
  };
