import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

/** How long a key is remembered (Stripe keeps 24 hours too). */
export const idempotencyTtlMs = 24 * 3_600_000;

/**
 * A placeholder not touched for this long belongs to a request whose process died. A live
 * request touches its placeholder every third of this (the API's heartbeat), so one that
 * runs longer (a large bulk upload) is never taken over and run twice.
 */
export const abandonedAfterMs = 60_000;

export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly statusCode: number; readonly contentType: string | null; readonly response: string }
  | { readonly kind: 'in_progress' }
  | { readonly kind: 'mismatch' };

/**
 * Claims an idempotency key for a request: the first request with a key inserts a
 * placeholder and goes on; a repeat gets the stored response, or learns that the first
 * is still running, or that the key was used for a different request.
 */
export async function claimIdempotencyKey(
  db: Kysely<Database>,
  args: { workspaceId: string; key: string; requestHash: string; now: Date },
): Promise<Claim> {
  return db.transaction().execute(async (trx) => {
    await trx
      .deleteFrom('idempotency_keys')
      .where('created_at', '<', new Date(args.now.getTime() - idempotencyTtlMs).toISOString())
      .execute();
    const inserted = await trx
      .insertInto('idempotency_keys')
      .values({
        workspace_id: args.workspaceId,
        key: args.key,
        request_hash: args.requestHash,
        status_code: null,
        content_type: null,
        response: null,
        created_at: args.now.toISOString(),
      })
      .onConflict((oc) => oc.columns(['workspace_id', 'key']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return { kind: 'new' };
    const row = await trx
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('workspace_id', '=', args.workspaceId)
      .where('key', '=', args.key)
      .executeTakeFirstOrThrow();
    if (row.request_hash !== args.requestHash) return { kind: 'mismatch' };
    if (row.status_code === null || row.response === null) {
      // A placeholder untouched this long belongs to a request whose process died: the retry takes over.
      if (Date.parse(row.created_at) < args.now.getTime() - abandonedAfterMs) {
        await trx
          .updateTable('idempotency_keys')
          .set({ created_at: args.now.toISOString() })
          .where('workspace_id', '=', args.workspaceId)
          .where('key', '=', args.key)
          .execute();
        return { kind: 'new' };
      }
      return { kind: 'in_progress' };
    }
    return { kind: 'replay', statusCode: row.status_code, contentType: row.content_type, response: row.response };
  });
}

/** The heartbeat of a request still running: its placeholder is not abandoned. */
export async function touchIdempotencyKey(db: Kysely<Database>, args: { workspaceId: string; key: string; now: Date }): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ created_at: args.now.toISOString() })
    .where('workspace_id', '=', args.workspaceId)
    .where('key', '=', args.key)
    .where('status_code', 'is', null)
    .execute();
}

/** Stores the response of the request that claimed the key. */
export async function completeIdempotencyKey(
  db: Kysely<Database>,
  args: { workspaceId: string; key: string; statusCode: number; contentType: string | null; response: string },
): Promise<void> {
  await db
    .updateTable('idempotency_keys')
    .set({ status_code: args.statusCode, content_type: args.contentType, response: args.response })
    .where('workspace_id', '=', args.workspaceId)
    .where('key', '=', args.key)
    .execute();
}

/** Forgets a key whose request failed on our side, so the client's retry runs again. */
export async function releaseIdempotencyKey(db: Kysely<Database>, workspaceId: string, key: string): Promise<void> {
  await db.deleteFrom('idempotency_keys').where('workspace_id', '=', workspaceId).where('key', '=', key).execute();
}
