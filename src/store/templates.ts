import type { Kysely } from 'kysely';
import type { Template, TemplateInput, TemplatePatch } from '../domain/resources.js';
import { newId } from './ids.js';
import { type Page, pageByCreation, softDelete } from './pagination.js';
import type { Database, TemplateRow } from './schema.js';

/** The API shape of a stored template. */
export function templateOf(row: TemplateRow): Template {
  return {
    id: row.id,
    name: row.name,
    channel: row.channel,
    subject: row.subject,
    html: row.html,
    text: row.text,
    mjml: row.mjml,
    tracking: { opens: row.track_opens !== 0, clicks: row.track_clicks !== 0 },
    content: row.content ? (JSON.parse(row.content) as Template['content']) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/**
 * Stores a template as given: for MJML, the route compiled it and passes the source as
 * `mjml` and the compiled HTML as `html` (engine/mjml.ts).
 */
export async function createTemplate(db: Kysely<Database>, workspaceId: string, input: TemplateInput, now: Date): Promise<TemplateRow> {
  const at = now.toISOString();
  const row: TemplateRow = {
    id: newId('tpl', now.getTime()),
    workspace_id: workspaceId,
    name: input.name,
    channel: input.channel ?? 'email',
    subject: input.subject ?? null,
    html: input.html ?? null,
    text: input.text ?? null,
    content: input.content ? JSON.stringify(input.content) : null,
    mjml: input.mjml ?? null,
    track_opens: input.tracking?.opens === false ? 0 : 1,
    track_clicks: input.tracking?.clicks === false ? 0 : 1,
    deleted_at: null,
    created_at: at,
    updated_at: at,
  };
  await db.insertInto('templates').values(row).execute();
  return row;
}

/** A template of the workspace; soft-deleted ones only when asked (campaign history, preflight). */
export async function getTemplate(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  opts: { includeDeleted?: boolean } = {},
): Promise<TemplateRow | undefined> {
  let query = db.selectFrom('templates').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id);
  if (!opts.includeDeleted) query = query.where('deleted_at', 'is', null);
  return query.executeTakeFirst();
}

/** One page of a workspace's live templates, oldest first. */
export async function listTemplates(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<TemplateRow> | 'bad_cursor'> {
  const query = db.selectFrom('templates').selectAll().where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null);
  return pageByCreation(query, args);
}

/** Edits a live template; undefined when there is none. */
export async function updateTemplate(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  patch: TemplatePatch,
  now: Date,
): Promise<TemplateRow | undefined> {
  return db
    .updateTable('templates')
    .set({
      name: patch.name,
      subject: patch.subject,
      html: patch.html,
      text: patch.text,
      mjml: patch.mjml,
      track_opens: patch.tracking === undefined ? undefined : patch.tracking.opens ? 1 : 0,
      track_clicks: patch.tracking === undefined ? undefined : patch.tracking.clicks ? 1 : 0,
      content: patch.content === undefined ? undefined : JSON.stringify(patch.content),
      updated_at: now.toISOString(),
    })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Marks a template deleted; false when there was no live one. Campaigns using it fail preflight (TEMPLATE_MISSING). */
export async function softDeleteTemplate(db: Kysely<Database>, workspaceId: string, id: string, now: Date): Promise<boolean> {
  return softDelete(db, 'templates', workspaceId, id, now);
}
