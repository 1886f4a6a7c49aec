import { type Kysely, sql } from 'kysely';
import type { Device } from '../domain/contact.js';
import type { ContactDeviceTable, Database } from './schema.js';
import type { Selectable } from 'kysely';

/**
 * A contact's push devices: web push subscriptions (the endpoint URL is the token) and
 * mobile push tokens. A token is unique per workspace and kind, so registering it again,
 * for this contact or another (a shared phone changing hands), moves it and makes it
 * active again. The engine marks one `gone` or `invalid` when the push service says so.
 */

export type DeviceRow = Selectable<ContactDeviceTable>;

/** The API shape of a stored device. */
export function deviceOf(row: DeviceRow) {
  const keys = row.keys ? (JSON.parse(row.keys) as { p256dh: string; auth: string }) : null;
  return {
    id: row.id,
    kind: row.kind,
    ...(row.kind === 'webpush' ? { endpoint: row.token, keys } : { token: row.token }),
    platform: row.platform,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Registers devices for contacts in one statement: `devices[i]` goes to `contactIds[i]`. */
export async function saveDevices(
  db: Kysely<Database>,
  workspaceId: string,
  entries: readonly { readonly contactId: number; readonly device: Device }[],
  now: Date,
): Promise<DeviceRow[]> {
  if (entries.length === 0) return [];
  const at = now.toISOString();
  // One row per token: the last registration of a token in the batch wins.
  const byToken = new Map<string, (typeof entries)[number]>();
  for (const e of entries) byToken.set(`${'endpoint' in e.device ? 'webpush' : 'mobilepush'} ${tokenOf(e.device)}`, e);
  return db
    .insertInto('contact_devices')
    .values(
      [...byToken.values()].map(({ contactId, device }) => ({
        workspace_id: workspaceId,
        contact_id: contactId,
        kind: 'endpoint' in device ? ('webpush' as const) : ('mobilepush' as const),
        token: tokenOf(device),
        keys: 'endpoint' in device ? JSON.stringify(device.keys) : null,
        platform: 'endpoint' in device ? 'web' : device.platform,
        status: 'active' as const,
        created_at: at,
        updated_at: at,
      })),
    )
    .onConflict((oc) =>
      oc.columns(['workspace_id', 'kind', 'token']).doUpdateSet({
        contact_id: sql.ref('excluded.contact_id'),
        keys: sql.ref('excluded.keys'),
        platform: sql.ref('excluded.platform'),
        status: 'active',
        updated_at: sql.ref('excluded.updated_at'),
      }),
    )
    .returningAll()
    .execute();
}

const tokenOf = (device: Device) => ('endpoint' in device ? device.endpoint : device.token);

/** A contact's devices, oldest first. */
export async function listDevices(db: Kysely<Database>, workspaceId: string, contactId: number): Promise<DeviceRow[]> {
  return db
    .selectFrom('contact_devices')
    .selectAll()
    .where('workspace_id', '=', workspaceId)
    .where('contact_id', '=', contactId)
    .orderBy('id')
    .execute();
}

/** Forgets one device of a contact; false when the contact has no such device. */
export async function deleteDevice(db: Kysely<Database>, workspaceId: string, contactId: number, deviceId: number): Promise<boolean> {
  const result = await db
    .deleteFrom('contact_devices')
    .where('workspace_id', '=', workspaceId)
    .where('contact_id', '=', contactId)
    .where('id', '=', deviceId)
    .executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}
