import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

it('herald import prints the first --show-errors bad lines and how many more; a missing file or workspace is an error, exit 1', async () => {
  const file = join(dir, 'few.csv');
  writeFileSync(file, csv);
  const few = await herald(['import', file, '--map', 'Mail=email', '--show-errors', '1']);
  expect(few).toMatch(/4 rows read, 2 imported .*, 2 invalid/);
  expect(few).toContain('line 3: email is not a valid email address');
  expect(few).not.toContain('line 4:');
  expect(few).toMatch(/… and 1 more: --show-errors N, or GET \/v1\/imports\/imp_\w+\/errors/);

  const missing = startCli(['import', join(dir, 'nope.csv')], env);
  expect(await missing.exitWithin(60_000)).toEqual({ code: 1, signal: null });
  expect(missing.stderr()).toMatch(/^herald: ENOENT: no such file or directory/);

  const empty = startCli(['import', file], { ...env, DATABASE_URL: join(dir, 'empty.db') });
  expect(await empty.exitWithin(60_000)).toEqual({ code: 1, signal: null });
  expect(empty.stderr()).toContain('herald: No workspace yet: run `herald serve` once');
  expect(empty.stdout()).toBe('');
}, 120_000);

it('herald import draws its progress bar on a terminal, up to 100% and every row read', async () => {
  const file = join(dir, 'terminal.csv');
  writeFileSync(file, csv);
  // cli-progress draws only on a TTY: `script` (util-linux, in every Debian) runs the command on one.
  const command = [process.execPath, '--import', 'tsx', 'src/cli/main.ts', 'import', file, '--map', 'Mail=email'];
  const child = spawn('script', ['-qec', command.map((a) => `'${a}'`).join(' '), '/dev/null'], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let terminal = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (terminal += chunk));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  expect(code, terminal).toBe(0);
  expect(terminal).toMatch(/importing \[█+\] 100% \| 4 rows \| [\d,]+ rows\/s \| 2 invalid/);
  expect(terminal).toMatch(/4 rows read, 2 imported/);
}, 120_000);
