import { type Kysely, sql } from 'kysely';
import type { Sender, SenderInput, SenderPatch, SenderStatus } from '../domain/resources.js';
import type { RateRule } from '../domain/pacing.js';
import { newId } from './ids.js';
import type { SecretBox } from './secrets.js';
import { type Page, pageByCreation, softDelete } from './pagination.js';
import type { Database, SenderRow } from './schema.js';

/** The API shape of a stored sender. */
export function senderOf(row: SenderRow): Sender {
  return {
    id: row.id,
    name: row.name,
    channel: row.channel,
    fromEmail: row.from_email,
    fromName: row.from_name,
    replyTo: row.reply_to,
    address: row.address,
    avatarUrl: row.avatar_url,
    hasCredentials: row.credentials !== null,
    status: row.status as SenderStatus,
    rateLimit: row.rate_limit ? (JSON.parse(row.rate_limit) as RateRule) : null,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Creates an active sender; its credentials are sealed with `secrets` (the route refuses them when there is no key). */
export async function createSender(
  db: Kysely<Database>,
  workspaceId: string,
  input: SenderInput,
  now: Date,
  secrets: SecretBox | null = null,
): Promise<SenderRow> {
  const at = now.toISOString();
  const row: SenderRow = {
    id: newId('snd', now.getTime()),
    workspace_id: workspaceId,
    channel: input.channel ?? 'email',
    name: input.name,
    from_email: input.fromEmail ?? null,
    from_name: input.fromName ?? null,
    reply_to: input.replyTo ?? null,
    address: input.address ?? null,
    avatar_url: input.avatarUrl ?? null,
    credentials: sealed(input.credentials, secrets),
    status: 'active' satisfies SenderStatus,
    rate_limit: input.rateLimit ? JSON.stringify(input.rateLimit) : null,
    deleted_at: null,
    created_at: at,
    updated_at: at,
  };
  await db.insertInto('senders').values(row).execute();
  return row;
}

/** A sender of the workspace; soft-deleted ones only when asked (preflight reports SENDER_DELETED). */
export async function getSender(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  opts: { includeDeleted?: boolean } = {},
): Promise<SenderRow | undefined> {
  let query = db.selectFrom('senders').selectAll().where('workspace_id', '=', workspaceId).where('id', '=', id);
  if (!opts.includeDeleted) query = query.where('deleted_at', 'is', null);
  return query.executeTakeFirst();
}

/** One page of a workspace's live senders, oldest first. */
export async function listSenders(
  db: Kysely<Database>,
  workspaceId: string,
  args: { limit: number; cursor?: string | undefined },
): Promise<Page<SenderRow> | 'bad_cursor'> {
  const query = db.selectFrom('senders').selectAll().where('workspace_id', '=', workspaceId).where('deleted_at', 'is', null);
  return pageByCreation(query, args);
}

/** Edits a live sender, including pausing and resuming it; undefined when there is none. */
export async function updateSender(
  db: Kysely<Database>,
  workspaceId: string,
  id: string,
  patch: SenderPatch,
  now: Date,
  secrets: SecretBox | null = null,
): Promise<SenderRow | undefined> {
  return db
    .updateTable('senders')
    .set({
      name: patch.name,
      from_email: patch.fromEmail,
      from_name: patch.fromName,
      reply_to: patch.replyTo,
      address: patch.address,
      avatar_url: patch.avatarUrl,
      credentials: patch.credentials === undefined ? undefined : sealed(patch.credentials, secrets),
      // New credentials lift a block the provider put on the old ones (a revoked bot token).
      status: patch.status ?? (patch.credentials ? sql<string>`case when status = 'blocked' then 'active' else status end` : undefined),
      rate_limit: patch.rateLimit === undefined ? undefined : patch.rateLimit === null ? null : JSON.stringify(patch.rateLimit),
      updated_at: now.toISOString(),
    })
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

function sealed(credentials: Readonly<Record<string, string>> | null | undefined, secrets: SecretBox | null): string | null {
  if (!credentials) return null;
  if (!secrets) throw new Error('No secret key to seal sender credentials with');
  return secrets.seal(credentials);
}

/** A sender's credentials, decrypted; empty when it has none. */
export function openCredentials(row: Pick<SenderRow, 'credentials'>, secrets: SecretBox | null): Record<string, string> {
  if (!row.credentials) return {};
  if (!secrets) throw new Error('Sender credentials are stored but HERALD_SECRET_KEY is not set');
  return secrets.open(row.credentials);
}

/** Marks a sender deleted; false when there was no live one. */
export async function softDeleteSender(db: Kysely<Database>, workspaceId: string, id: string, now: Date): Promise<boolean> {
  return softDelete(db, 'senders', workspaceId, id, now);
}
