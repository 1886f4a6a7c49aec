import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../src/store/database.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { killAll, startCli } from './spawn.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-import-cli-'));
const database = join(dir, 'herald.db');
const env = { DATABASE_URL: database, LOG_LEVEL: 'warn' };

beforeAll(async () => {
  const db = openDatabase({ dialect: 'sqlite', path: database });
  await migrate(db);
  await createWorkspace(db, { name: 'CLI', now: new Date() });
  await db.destroy();
});

afterAll(async () => {
  await killAll();
  rmSync(dir, { recursive: true, force: true });
});

const csv = [
  'Mail,phone,first_name,Plan,tags',
  'ann@example.test,+14155550101,Ann,pro,vip|news',
  'bob@example,+14155550102,Bob,free,',
  'cy@example.test,0101,Cy,free,',
  'di@example.test,,Di,pro,vip',
].join('\n');

async function herald(args: string[]): Promise<string> {
  const cli = startCli(args, env);
  const exit = await cli.exitWithin(60_000);
  expect(exit, cli.describe()).toEqual({ code: 0, signal: null });
  return cli.stdout();
}

it('herald import creates the list, imports the good rows, prints every bad line; a re-run changes nothing; export reads them back', async () => {
  const file = join(dir, 'people.csv');
  writeFileSync(file, csv);

  const first = await herald(['import', file, '--list', 'Newsletter', '--map', 'Mail=email']);
  expect(first).toContain('Created the list "Newsletter"');
  expect(first).toMatch(/completed .*4 rows read, 2 imported \(2 created, 0 updated, 0 unchanged\), 2 invalid/);
  expect(first).toContain('line 3: email is not a valid email address');
  expect(first).toMatch(/line 4: phone must start with \+/);

  const again = await herald(['import', file, '--list', 'Newsletter', '--map', 'Mail=email']);
  expect(again).not.toContain('Created the list');
  expect(again).toMatch(/4 rows read, 2 imported \(0 created, 0 updated, 2 unchanged\), 2 invalid/);

  const out = join(dir, 'export.csv');
  await herald(['export', 'contacts', '--list', 'Newsletter', '--out', out]);
  const rows = parse(readFileSync(out, 'utf8'), { columns: true }) as Record<string, string>[];
  expect(rows.map((r) => [r.email, r.phone, r.first_name, r.Plan, r.tags])).toEqual([
    ['ann@example.test', '+14155550101', 'Ann', 'pro', 'news;vip'],
    ['di@example.test', '', 'Di', 'pro', 'vip'],
  ]);
  const stdout = await herald(['export', 'contacts']);
  expect(stdout.trim().split('\n')).toHaveLength(3);
}, 120_000);
