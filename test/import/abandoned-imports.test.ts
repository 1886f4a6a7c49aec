import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { ManualClock } from '../../src/engine/clock.js';
import { abandonedAfterMs, createImport, finishImport, getImport } from '../../src/import/imports-store.js';
import { type Herald, startHerald } from '../../src/runtime.js';
import { type DatabaseLocation, migrate, openDatabase } from '../../src/store/database.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects, freshDatabase } from '../dialects.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A database that outlives one connection (in-memory SQLite would not): a file, or a PostgreSQL database. */
async function persistentDatabase(dialect: 'sqlite' | 'postgres'): Promise<DatabaseLocation> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'herald-abandoned-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return { dialect: 'sqlite', path: join(dir, 'herald.db') };
  }
  const fresh = await freshDatabase('postgres');
  cleanups.push(() => fresh.drop());
  return fresh.location;
}

describe.each(dialects)('imports left running by a stopped process (%s)', (dialect) => {
  it('are marked failed when Herald starts, unless they showed progress within the last minute', async () => {
    const location = await persistentDatabase(dialect);
    const start = new Date('2026-03-01T10:00:00Z');
    const db = openDatabase(location);
    await migrate(db);
    const ws = await createWorkspace(db, { name: 'W', now: start });
    const args = { workspaceId: ws.id, listId: null, filename: 'contacts.csv' };
    const killed = await createImport(db, { ...args, now: start });
    const recent = await createImport(db, { ...args, now: new Date(start.getTime() + 30 * 60_000) });
    const done = await createImport(db, { ...args, now: start });
    await finishImport(db, done.id, null, start);
    await db.destroy();

    // Started a minute and a second after `recent` last showed progress: only `killed` is abandoned.
    const clock = new ManualClock(start.getTime() + 30 * 60_000 + abandonedAfterMs - 1000);
    const config = loadConfig({ HERALD_SANDBOX: 'on', LOG_LEVEL: 'silent' });
    const herald: Herald = await startHerald(
      { ...config, database: location },
      { clock, log: pino({ level: 'silent' }), startEngine: false },
    );
    cleanups.push(() => herald.close());

    const after = await getImport(herald.db, ws.id, killed.id);
    expect(after).toMatchObject({ status: 'failed', finishedAt: clock.now().toISOString() });
    expect(after?.error).toMatch(/process running this import stopped/);
    expect(await getImport(herald.db, ws.id, recent.id)).toMatchObject({ status: 'running', error: null });
    expect(await getImport(herald.db, ws.id, done.id)).toMatchObject({ status: 'completed', error: null });
  });
});
