import { buildApp } from '../../src/api/app.js';
import { ManualClock } from '../../src/engine/clock.js';
import type { Db } from '../../src/store/database.js';
import type { SecretBox } from '../../src/store/secrets.js';
import { createApiKey, createWorkspace } from '../../src/store/workspaces.js';
import { type TestDialect, migratedDatabase } from '../dialects.js';

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface TwoWorkspaces {
  readonly app: Awaited<ReturnType<typeof buildApp>>;
  readonly db: Db;
  readonly clock: ManualClock;
  readonly workspaceA: string;
  readonly keyA: string;
  readonly keyB: string;
  /** Calls the API as workspace A (or with another key) and returns status, content type and parsed body. */
  call(method: Method, url: string, payload?: unknown, key?: string): Promise<{ status: number; type: unknown; body: any }>;
  close(): Promise<void>;
}

/**
 * The API over a fresh database with two workspaces, A and B, for tests of the resource
 * routes (which do not use the campaign service) and of isolation between workspaces.
 */
export async function twoWorkspaces(dialect: TestDialect, at: string, opts: { secrets?: SecretBox } = {}): Promise<TwoWorkspaces> {
  const database = await migratedDatabase(dialect);
  const db = database.db;
  const clock = new ManualClock(at);
  const now = clock.now();
  const a = await createWorkspace(db, { name: 'A', now });
  const b = await createWorkspace(db, { name: 'B', now });
  const keyA = await createApiKey(db, { workspaceId: a.id, name: 'a', now });
  const keyB = await createApiKey(db, { workspaceId: b.id, name: 'b', now });
  const app = await buildApp({ db, clock, campaigns: {} as never, sandbox: null, secrets: opts.secrets ?? null });
  return {
    app,
    db,
    clock,
    workspaceA: a.id,
    keyA,
    keyB,
    async call(method, url, payload, key = keyA) {
      const res = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${key}` },
        ...(payload === undefined ? {} : { payload: payload as object }),
      });
      return { status: res.statusCode, type: res.headers['content-type'], body: res.body === '' ? undefined : (res.json() as any) };
    },
    async close() {
      await app.close();
      await database.close();
    },
  };
}
