import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Template, TemplateInput, TemplatePatch } from '../../domain/resources.js';
import { createTemplate, getTemplate, listTemplates, softDeleteTemplate, templateOf, updateTemplate } from '../../store/templates.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Templates: CRUD; delete is soft, so campaigns that used one keep their history. */
export const templateRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['templates'];

    app.post(
      '/templates',
      { schema: { tags, summary: 'Create a template', body: TemplateInput, response: { 201: Template } } },
      async (request, reply) => {
        const row = await createTemplate(deps.db, request.workspaceId, request.body, deps.clock.now());
        return reply.code(201).send(templateOf(row));
      },
    );

    app.get(
      '/templates',
      {
        schema: {
          tags,
          summary: 'List templates, oldest first',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(Template) },
        },
      },
      async (request) => {
        const { limit = 50, cursor } = request.query;
        const page = await listTemplates(deps.db, request.workspaceId, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(templateOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get(
      '/templates/:id',
      { schema: { tags, summary: 'Get a template', params: IdParams, response: { 200: Template } } },
      async (request) => {
        const row = await getTemplate(deps.db, request.workspaceId, request.params.id);
        if (!row) throw notFound('template', request.params.id);
        return templateOf(row);
      },
    );

    app.patch(
      '/templates/:id',
      { schema: { tags, summary: 'Change a template', params: IdParams, body: TemplatePatch, response: { 200: Template } } },
      async (request) => {
        const row = await updateTemplate(deps.db, request.workspaceId, request.params.id, request.body, deps.clock.now());
        if (!row) throw notFound('template', request.params.id);
        return templateOf(row);
      },
    );

    app.delete(
      '/templates/:id',
      {
        schema: {
          tags,
          summary: 'Delete a template (campaigns using it then fail preflight with TEMPLATE_MISSING)',
          params: IdParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        if (!(await softDeleteTemplate(deps.db, request.workspaceId, request.params.id, deps.clock.now()))) {
          throw notFound('template', request.params.id);
        }
        return reply.code(204).send(null);
      },
    );
  };
