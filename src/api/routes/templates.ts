import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  Template,
  TemplateInput,
  TemplatePatch,
  TemplatePreview,
  TemplatePreviewInput,
  TemplateTestInput,
  TemplateTestResult,
} from '../../domain/resources.js';
import { createTemplate, getTemplate, listTemplates, softDeleteTemplate, templateOf, updateTemplate } from '../../store/templates.js';
import { getContact } from '../../store/contacts.js';
import { getSender } from '../../store/senders.js';
import { HeraldError } from '../../domain/errors.js';
import { checkTemplate } from '../../engine/render.js';
import { compileMjml } from '../../engine/mjml.js';
import { type PreviewContact, previewTemplate, testSend } from '../../engine/template-preview.js';
import type { Channel } from '../../domain/lifecycle.js';
import { checkContent, liquidParts } from '../../domain/template-content.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Refuses a template whose Liquid does not parse, naming each broken part and line. */
function assertParses(parts: Record<string, string | null | undefined>): void {
  const errors = checkTemplate(parts);
  if (errors.length > 0) throw HeraldError.of('TEMPLATE_INVALID', errors.map((e) => `${e.field}: ${e.message}`).join('; '), { errors });
}

interface Fields {
  subject?: string | null | undefined;
  html?: string | null | undefined;
  text?: string | null | undefined;
  mjml?: string | null | undefined;
  content?: unknown;
}

/**
 * Holds a template to its channel: email has a subject and html (or MJML) or text and no
 * content; every other channel has the content its schema describes
 * (domain/template-content.ts) and none of email's fields. Then its Liquid must parse.
 * `given` is what the request itself sends, for the rules about one request.
 */
function assertFitsChannel(channel: Channel, t: Fields, given: Fields = t): void {
  const errors: { field: string; message: string }[] = [];
  if (channel === 'email') {
    if (!t.subject) errors.push({ field: 'body/subject', message: 'an email template needs a subject' });
    if (t.content !== undefined && t.content !== null)
      errors.push({ field: 'body/content', message: 'email uses subject, html and text, not content' });
    if (typeof given.html === 'string' && typeof given.mjml === 'string')
      errors.push({ field: 'body/mjml', message: 'send the email as html or as mjml, not both (html is compiled from mjml)' });
    else if (typeof given.html === 'string' && /^\s*<mjml[\s>]/i.test(given.html))
      errors.push({ field: 'body/html', message: 'this is MJML: send it as mjml, and it is compiled to html' });
  } else {
    for (const f of ['subject', 'html', 'text', 'mjml'] as const)
      if (t[f] !== undefined && t[f] !== null) errors.push({ field: `body/${f}`, message: `a ${channel} template has content, not ${f}` });
    errors.push(...checkContent(channel, t.content));
  }
  if (errors.length > 0) throw HeraldError.of('VALIDATION_FAILED', errors.map((e) => `${e.field} ${e.message}`).join('; '), { errors });
  if (channel !== 'email') return assertParses(liquidParts(t.content));
  // MJML: its Liquid is checked in the source, so a line number is the line the author wrote.
  assertParses(
    typeof given.mjml === 'string'
      ? { subject: t.subject, mjml: given.mjml, text: t.text }
      : { subject: t.subject, html: t.html, text: t.text },
  );
}

/** The HTML an MJML source compiles to (engine/mjml.ts), or TEMPLATE_INVALID naming each line. */
async function compiled(mjml: string): Promise<string> {
  const result = await compileMjml(mjml);
  if (!result.ok)
    throw HeraldError.of('TEMPLATE_INVALID', result.problems.map((e) => `${e.field}: ${e.message}`).join('; '), {
      errors: result.problems,
    });
  // The compiled HTML is what the engine parses; MJML keeps Liquid as written, so this holds when the source parsed.
  const errors = checkTemplate({ mjml: result.html });
  if (errors.length > 0)
    throw HeraldError.of('TEMPLATE_INVALID', errors.map((e) => `${e.field} (compiled): ${e.message}`).join('; '), { errors });
  return result.html;
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
        const body = request.body;
        assertFitsChannel(body.channel ?? 'email', body);
        const input = typeof body.mjml === 'string' ? { ...body, html: await compiled(body.mjml) } : body;
        const row = await createTemplate(deps.db, request.workspaceId, input, deps.clock.now());
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
        assertFitsChannel(
          current.channel as Channel,
          {
            subject: b.subject === undefined ? current.subject : b.subject,
            html: b.html === undefined ? current.html : b.html,
            text: b.text === undefined ? current.text : b.text,
            mjml: b.mjml === undefined ? current.mjml : b.mjml,
            content: b.content === undefined ? (current.content ? (JSON.parse(current.content) as unknown) : undefined) : b.content,
          },
          b,
        );
        // New MJML is compiled now; new HTML makes an MJML template a plain HTML one.
        const patch =
          typeof b.mjml === 'string'
            ? { ...b, html: await compiled(b.mjml) }
            : b.html !== undefined && b.mjml === undefined && current.mjml !== null
              ? { ...b, mjml: null }
              : b;
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
        const row = await updateTemplate(deps.db, request.workspaceId, request.params.id, patch, deps.clock.now());
        if (!row) throw notFound('template', request.params.id);
        return templateOf(row);
      },
    );

    /** Whom a preview or test is for: a stored contact, the fields given, or nobody in particular. */
    const contactFor = async (workspaceId: string, body: TemplatePreviewInput): Promise<PreviewContact> => {
      if (body.contactId !== undefined && body.contact !== undefined)
        throw HeraldError.of('VALIDATION_FAILED', 'Give contactId or contact, not both.', {
          errors: [{ field: 'body/contact', message: 'give contactId or contact, not both' }],
        });
      if (body.contactId !== undefined) {
        const row = await getContact(deps.db, workspaceId, body.contactId);
        if (!row) throw notFound('contact', body.contactId);
        return {
          email: row.email,
          phone: row.phone,
          firstName: row.first_name,
          lastName: row.last_name,
          attributes: JSON.parse(row.attributes) as Record<string, unknown>,
          timeZone: row.time_zone,
        };
      }
      const c = body.contact ?? {};
      return {
        email: c.email ?? null,
        phone: c.phone ?? null,
        firstName: c.firstName ?? null,
        lastName: c.lastName ?? null,
        attributes: c.attributes ?? {},
        timeZone: null,
      };
    };
    const links = () => (deps.tracking ? { baseUrl: deps.tracking.baseUrl(), key: deps.tracking.key } : null);

    app.post(
      '/templates/:id/preview',
      {
        schema: {
          tags,
          summary: 'Render a template for one contact, as the engine would (without open and click tracking)',
          description:
            'Email: subject, HTML (with the unsubscribe footer when the template has no `{{ unsubscribe_url }}`), text part and headers. ' +
            'Other channels: the message as the provider gets it; SMS with its segments and encoding. A Liquid error is TEMPLATE_INVALID naming its line.',
          params: IdParams,
          body: TemplatePreviewInput,
          response: { 200: TemplatePreview },
        },
      },
      async (request) => {
        const template = await getTemplate(deps.db, request.workspaceId, request.params.id);
        if (!template) throw notFound('template', request.params.id);
        const contact = await contactFor(request.workspaceId, request.body);
        return previewTemplate({ template, workspaceId: request.workspaceId, contact, links: links() });
      },
    );

    app.post(
      '/templates/:id/test',
      {
        schema: {
          tags,
          summary:
            'Send the template once to an address, through the channel’s provider (in sandbox mode, the sandbox); recorded in no run',
          params: IdParams,
          body: TemplateTestInput,
          response: { 200: TemplateTestResult },
        },
      },
      async (request) => {
        const { workspaceId } = request;
        const template = await getTemplate(deps.db, workspaceId, request.params.id);
        if (!template) throw notFound('template', request.params.id);
        const sender = await getSender(deps.db, workspaceId, request.body.senderId);
        if (!sender) throw notFound('sender', request.body.senderId);
        const channel = template.channel as Channel;
        if (sender.channel !== channel)
          throw HeraldError.of('VALIDATION_FAILED', `Sender ${sender.id} sends ${sender.channel}, not ${channel}.`, {
            errors: [{ field: 'body/senderId', message: `a ${channel} sender is needed` }],
          });
        if (channel === 'email' && !sender.from_email)
          throw HeraldError.of('VALIDATION_FAILED', `Sender ${sender.id} has no fromEmail.`, {
            errors: [{ field: 'body/senderId', message: 'the sender has no fromEmail' }],
          });
        const adapter = channel === 'email' ? (deps.email ?? null) : (deps.providers?.adapterFor(channel, sender) ?? null);
        if (!adapter) throw HeraldError.of('CONFLICT', `No ${channel} provider is configured, so nothing can be sent.`);
        const contact = await contactFor(workspaceId, request.body);
        const { to } = request.body;
        const result = await testSend({ template, workspaceId, contact, to, sender, adapter, links: links() });
        return result.ok
          ? { sent: true, channel, to, providerId: result.providerId, error: null }
          : { sent: false, channel, to, providerId: null, error: { code: result.code, detail: result.detail } };
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
