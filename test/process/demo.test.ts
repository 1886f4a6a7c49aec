import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { killAll, startCli } from './spawn.js';

const database = join(tmpdir(), `herald-demo-${process.pid}-${Date.now()}.db`);

afterAll(async () => {
  await killAll();
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${database}${suffix}`, { force: true });
});

it('herald demo sends 500 messages through the sandbox with a pause midway and reports them as JSON', async () => {
  const demo = startCli(['demo', '--contacts', '500', '--json', '--database', database], { LOG_LEVEL: 'warn' });
  const exit = await demo.exitWithin(90_000);
  expect(exit, demo.describe()).toEqual({ code: 0, signal: null });

  const lines = demo.stdout().trim().split('\n');
  const report = JSON.parse(lines[lines.length - 1]!) as Record<string, unknown>;
  expect(report).toMatchObject({
    status: 'completed',
    outcome: 'fully_sent',
    counts: { total: 500, sent: 500 },
    sink: { received: 500 },
    pausedMidway: true,
  });
}, 120_000);
