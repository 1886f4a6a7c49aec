import { afterAll, beforeAll, beforeEach } from 'vitest';
import type { Db } from '../src/store/database.js';
import { createWorkspace } from '../src/store/workspaces.js';
import { type TestDialect, migratedDatabase } from './dialects.js';

/**
 * For a describe block: one migrated database of `dialect` for the block (closed after it)
 * and a fresh workspace before each test, handed to `use`, so tests never see each other's
 * contacts.
 *
 * @example
 * let db: Db; let ws: string;
 * workspacePerTest(dialect, now, (d, w) => ((db = d), (ws = w)));
 */
export function workspacePerTest(dialect: TestDialect, now: Date, use: (db: Db, workspaceId: string) => void): void {
  let database: Awaited<ReturnType<typeof migratedDatabase>> | undefined;
  let n = 0;
  beforeAll(async () => {
    database = await migratedDatabase(dialect);
  });
  afterAll(async () => {
    await database?.close();
  });
  beforeEach(async () => {
    const db = database!.db;
    use(db, (await createWorkspace(db, { name: `W${n++}`, now })).id);
  });
}
