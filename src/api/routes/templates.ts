import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Template, TemplateInput, TemplatePatch } from '../../domain/resources.js';
import { createTemplate, getTemplate, listTemplates, softDeleteTemplate, templateOf, updateTemplate } from '../../store/templates.js';
import { HeraldError } from '../../domain/errors.js';
import { checkTemplate } from '../../engine/render.js';
import type { Channel } from '../../domain/lifecycle.js';
import { checkContent, liquidParts } from '../../domain/template-content.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Refuses a template whose Liquid does not parse, naming each broken part and line. */
function assertParses(parts: Record<string, string | null | undefined>): void {
  const errors = checkTemplate(parts);
  if (errors.length > 0) throw HeraldError.of('TEMPLATE_INVALID', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

/**
 * Holds a template to its channel: email has a subject and html or text and no content;
 * every other channel has the content its schema describes (domain/template-content.ts)
 * and none of email's fields. Then its Liquid must parse.
 */
function assertFitsChannel(
  channel: Channel,
  t: { subject?: string | null | undefined; html?: string | null | undefined; text?: string | null | undefined; content?: unknown },
): void {
  const errors: { field: string; message: string }[] = [];
  if (channel === 'email') {
    if (!t.subject) errors.push({ field: 'body/subject', message: 'an email template needs a subject' });
    if (t.content !== undefined && t.content !== null)
      errors.push({ field: 'body/content', message: 'email uses subject, html and text, not content' });
  } else {
    for (const f of ['subject', 'html', 'text'] as const)
      if (t[f] !== undefined && t[f] !== null) errors.push({ field: `body/${f}`, message: `a ${channel} template has content, not ${f}` });
    errors.push(...checkContent(channel, t.content));
  }
  if (errors.length > 0) throw HeraldError.of('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), { errors });
  assertParses(channel === 'email' ? { subject: t.subject, html: t.html, text: t.text } : liquidParts(t.content));
}

/** Templates: CRUD; delete is soft, so campaigns that used one keep their history. */
export const templateRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['templates'];

    app.post(
      '/templates',
      { schema: { tags, summary: 'Create a template', body: TemplateInput, response: { 201: Template } } },
      async (request, reply) => {
        assertFitsChannel(request.body.channel ?? 'email', request.body);
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
        const current = await getTemplate(deps.db, request.workspaceId, request.params.id);
        if (!current) throw notFound('template', request.params.id);
        const b = request.body;
        assertFitsChannel(current.channel as Channel, {
          subject: b.subject === undefined ? current.subject : b.subject,
          html: b.html === undefined ? current.html : b.html,
          text: b.text === undefined ? current.text : b.text,
          content: b.content === undefined ? (current.content ? (JSON.parse(current.content) as unknown) : undefined) : b.content,
        });
        // One run sends one version of its content: a template in use by a campaign that is
        // waiting or under way is locked (DESIGN §2); clone it to change it.
        const busy = await deps.db
          .selectFrom('campaigns')
          .select('id')
          .where('workspace_id', '=', request.workspaceId)
          .where('template_id', '=', request.params.id)
          .where('status', 'in', ['scheduled', 'queued', 'sending', 'paused'])
          .execute();
        if (busy.length > 0) {
          throw HeraldError.of(
            'IN_USE',
            `Template ${request.params.id} is used by campaigns that are scheduled or sending; create a new template instead.`,
            {
              campaignIds: busy.map((c) => c.id),
            },
          );
        }
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
