import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { PolicyOverrides } from '../domain/lifecycle.js';
import { newId } from './ids.js';
import type { Database, WorkspaceRow } from './schema.js';

export interface WorkspaceSettings {
  readonly policies?: PolicyOverrides;
  /** How late a schedule missed while Herald was down may still start (minutes; default 60). */
  readonly scheduleGraceMinutes?: number;
}

/** API keys are stored as their SHA-256; the key itself is shown once, at creation. */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export async function createWorkspace(
  db: Kysely<Database>,
  args: { name: string; timeZone?: string; settings?: WorkspaceSettings; now: Date },
): Promise<WorkspaceRow> {
  const row = {
    id: newId('ws', args.now.getTime()),
    name: args.name,
    time_zone: args.timeZone ?? 'UTC',
    settings: JSON.stringify(args.settings ?? {}),
    created_at: args.now.toISOString(),
  };
  await db.insertInto('workspaces').values(row).execute();
  // A new workspace has no money and no prices: nothing is metered until prices are set.
  return { ...row, balance: 0, currency: 'USD', prices: '{}' };
}

export async function getWorkspace(db: Kysely<Database>, id: string): Promise<WorkspaceRow | undefined> {
  return db.selectFrom('workspaces').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function firstWorkspace(db: Kysely<Database>): Promise<WorkspaceRow | undefined> {
  return db.selectFrom('workspaces').selectAll().orderBy('created_at').orderBy('id').limit(1).executeTakeFirst();
}

export function workspaceSettings(row: Pick<WorkspaceRow, 'settings'>): WorkspaceSettings {
  return JSON.parse(row.settings) as WorkspaceSettings;
}

export async function updateWorkspaceSettings(db: Kysely<Database>, id: string, settings: WorkspaceSettings): Promise<void> {
  await db
    .updateTable('workspaces')
    .set({ settings: JSON.stringify(settings) })
    .where('id', '=', id)
    .execute();
}

/** Creates an API key for a workspace and returns it in clear, the only time it exists so. */
export async function createApiKey(
  db: Kysely<Database>,
  args: { workspaceId: string; name: string; role?: string; key?: string; now: Date },
): Promise<string> {
  const key = args.key ?? `hk_${randomBytes(24).toString('base64url')}`;
  await db
    .insertInto('api_keys')
    .values({
      id: newId('key', args.now.getTime()),
      workspace_id: args.workspaceId,
      name: args.name,
      key_hash: hashApiKey(key),
      prefix: key.slice(0, 7),
      role: args.role ?? 'owner',
      created_at: args.now.toISOString(),
      last_used_at: null,
    })
    .onConflict((oc) => oc.column('key_hash').doNothing())
    .execute();
  return key;
}

/** The workspace an API key belongs to, or undefined for an unknown key. */
export async function workspaceForKey(db: Kysely<Database>, key: string): Promise<{ workspaceId: string; role: string } | undefined> {
  const row = await db.selectFrom('api_keys').select(['workspace_id', 'role']).where('key_hash', '=', hashApiKey(key)).executeTakeFirst();
  return row ? { workspaceId: row.workspace_id, role: row.role } : undefined;
}
