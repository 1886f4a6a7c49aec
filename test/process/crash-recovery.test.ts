import { afterAll, describe, expect, it } from 'vitest';
import { dialects } from '../dialects.js';
import { runCrashScenario } from './crash-harness.js';
import { killAll } from './spawn.js';

/**
 * DESIGN §4 crash recovery with real processes, reduced (the full run is `npm run bench
 * crash`: 20,000 messages × 20 kills). A `herald worker` sending to a separate `herald
 * sandbox` is killed with SIGKILL three times at random moments, each time while a batch
 * is in flight, and restarted on the same database. Every recipient must get the message
 * (nothing lost, once per Message-ID), and the raw re-deliveries must be exactly the
 * deliveries each dead worker had not recorded, each time at most the in-flight window.
 * The seed printed with the report draws the same kill moments again (HERALD_CRASH_SEED).
 */

const contacts = 3000;
const kills = 3;
const batchSize = 50;
const concurrency = 1;

afterAll(async () => {
  await killAll();
});

describe.each(dialects)('crash safety on %s', (dialect) => {
  it(`${kills} SIGKILLs of the worker mid-send lose nothing and re-deliver only what each dead worker had not recorded`, async () => {
    const lines: string[] = [];
    const report = await runCrashScenario({ dialect, contacts, kills, batchSize, concurrency, leaseMs: 1500, log: (l) => lines.push(l) });
    const { perKill, ...totals } = report;
    console.log(`${lines.join('\n')}\n${JSON.stringify(totals)}`);
    const context = JSON.stringify(report);

    expect(report.kills, context).toBe(kills);
    expect(report.status, context).toBe('completed');
    expect(report.outcome, context).toBe('fully_sent');
    expect(report.sent, context).toBe(contacts);
    expect(report.lost, context).toBe(0);
    expect(report.unique, context).toBe(contacts);
    expect(report.duplicatesIdempotent, context).toBe(0);
    // One Message-ID per recipient, and every recipient reached.
    expect(report.recipients, context).toBe(contacts);

    // Every raw re-delivery is a message a dead worker handed to the sink and had not recorded,
    // and each dead worker had at most its in-flight window of those, all still leased by it.
    expect(report.duplicates, context).toBe(report.expectedDuplicates);
    for (const k of perKill) {
      expect(k.acceptedNotRecorded, context).toBeGreaterThanOrEqual(0);
      expect(k.acceptedNotRecorded, context).toBeLessThanOrEqual(k.leasedByDead);
      expect(k.acceptedNotRecorded, context).toBeLessThanOrEqual(report.window);
    }
    // The kills wait for a batch in flight, so the crashes did cost re-deliveries.
    expect(perKill.some((k) => k.caughtInFlight)).toBe(true);
    expect(report.expectedDuplicates, context).toBeGreaterThan(0);
  }, 180_000);
});
