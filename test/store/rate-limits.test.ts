import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import { RateLimiter } from '../../src/engine/rate-limiter.js';
import { type Db, type DatabaseLocation, migrate, openDatabase } from '../../src/store/database.js';
import { blockUntil, readRateLimit, settleTokens, takeTokens, takeTokensAcross } from '../../src/store/rate-limits.js';
import { type TestDialect, dialects, freshDatabase, migratedDatabase, pgAvailable } from '../dialects.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const ws = 'ws_1';

/** The rate_limits table comes with the registered migrations (0003). */
async function withRateLimits(db: Db): Promise<Db> {
  return db;
}

describe.each(dialects)('rate limits on %s', (dialect) => {
  let db: Db;
  let database: Awaited<ReturnType<typeof migratedDatabase>>;

  beforeEach(async () => {
    database = await migratedDatabase(dialect);
    db = await withRateLimits(database.db);
  });
  afterEach(async () => {
    await database.close();
  });

  describe('takeTokens', () => {
    it('grants up to the limit, then nothing until the oldest grant leaves the window', async () => {
      const rule = { perSecond: 5 };
      expect(await takeTokens(db, { workspaceId: ws, key: 'sender:a', rule, want: 3, now: T0 })).toEqual({ granted: 3, retryAt: null });
      expect(await takeTokens(db, { workspaceId: ws, key: 'sender:a', rule, want: 3, now: at(300) })).toEqual({
        granted: 2,
        retryAt: at(1000),
      });
      expect(await takeTokens(db, { workspaceId: ws, key: 'sender:a', rule, want: 3, now: at(999) })).toEqual({
        granted: 0,
        retryAt: at(1000),
      });
      expect(await takeTokens(db, { workspaceId: ws, key: 'sender:a', rule, want: 4, now: at(1000) })).toEqual({
        granted: 3,
        retryAt: at(1300),
      });
    });

    it('keeps keys and workspaces apart', async () => {
      const rule = { perMinute: 2 };
      for (const [workspaceId, key] of [
        [ws, 'sender:a'],
        [ws, 'sender:b'],
        ['ws_2', 'sender:a'],
      ] as const)
        expect((await takeTokens(db, { workspaceId, key, rule, want: 5, now: T0 })).granted).toBe(2);
    });
  });

  describe('takeTokensAcross', () => {
    it('grants the smallest allowance of the keys and charges each only that', async () => {
      const limits = [
        { workspaceId: ws, key: 'sender:a', rule: { perMinute: 100 } },
        { workspaceId: ws, key: 'provider:smtp', rule: { perSecond: 4 } },
      ];
      expect(await takeTokensAcross(db, { limits, want: 10, now: T0 })).toEqual({ granted: 4, retryAt: at(1000) });
      // The sender gave 4 of its 100, not the 10 asked for. (Both grants share a 600 ms slot
      // of the minute's log, so they leave the window together, with the later one.)
      expect(await takeTokens(db, { workspaceId: ws, key: 'sender:a', rule: { perMinute: 100 }, want: 1000, now: at(10) })).toEqual({
        granted: 96,
        retryAt: at(60_010),
      });
    });
  });

  describe('blockUntil', () => {
    it("holds every message of the key until the provider's pause ends, with or without a rule", async () => {
      await blockUntil(db, { workspaceId: ws, key: 'provider:smtp', until: at(30_000), now: T0 });
      await blockUntil(db, { workspaceId: ws, key: 'provider:smtp', until: at(5_000), now: T0 });
      for (const rule of [null, { perSecond: 100 }]) {
        expect(await takeTokens(db, { workspaceId: ws, key: 'provider:smtp', rule, want: 10, now: at(29_999) })).toEqual({
          granted: 0,
          retryAt: at(30_000),
        });
      }
      expect(await takeTokens(db, { workspaceId: ws, key: 'provider:smtp', rule: null, want: 10, now: at(30_000) })).toEqual({
        granted: 10,
        retryAt: null,
      });
    });
  });

  describe('settleTokens', () => {
    it('gives back the unsent part of a grant', async () => {
      const rule = { perSecond: 10 };
      const key = { workspaceId: ws, key: 'sender:a' };
      await takeTokens(db, { ...key, rule, want: 10, now: T0 });
      await settleTokens(db, { keys: [key], grantedAt: T0, granted: 10, sent: 4, answeredAt: at(20), now: at(20) });
      expect((await takeTokens(db, { ...key, rule, want: 10, now: at(30) })).granted).toBe(6);
      expect((await readRateLimit(db, ws, 'sender:a'))?.second.reduce((n, [, c]) => n + c, 0)).toBe(10);
    });
  });

  describe('RateLimiter', () => {
    it('takes across the sender and the provider, gives back what went unsent, and pauses on a 429', async () => {
      const clock = new ManualClock(T0);
      const limiter = new RateLimiter({ db, clock });
      const ask = { workspaceId: ws, keys: ['sender:a', 'provider:smtp'], rules: { 'sender:a': { perSecond: 20 } }, want: 50 };

      const grant = await limiter.take(ask);
      expect(grant).toMatchObject({ granted: 20, retryAt: at(1000), at: T0 });
      clock.advance(10);
      // 15 of the 20 went out, answered now: the other 5 come back.
      await limiter.settle(grant, 15, at(10));
      expect((await limiter.take(ask)).granted).toBe(5);

      clock.set(at(2000));
      expect(await limiter.pause({ workspaceId: ws, key: 'provider:smtp', retryAfter: '30' })).toEqual(at(32_000));
      expect(await limiter.take(ask)).toMatchObject({ granted: 0, retryAt: at(32_000) });
      clock.set(at(40_000));
      expect(await limiter.pause({ workspaceId: ws, key: 'provider:smtp', retryAfter: at(100_000).toUTCString() })).toEqual(at(100_000));
      expect(await limiter.pause({ workspaceId: ws, key: 'provider:smtp' })).toEqual(at(100_000));
      clock.set(at(100_000));
      expect((await limiter.take(ask)).granted).toBe(20);
    });

    it('settles a grant at the provider’s answer: the unsent part comes back, the sent part counts from the answer', async () => {
      const clock = new ManualClock(T0);
      const limiter = new RateLimiter({ db, clock });
      const ask = { workspaceId: ws, keys: ['sender:b'], rules: { 'sender:b': { perSecond: 10 } }, want: 10 };
      const grant = await limiter.take(ask);
      clock.set(at(400));
      // 8 of the 10 went out, answered 300 ms after the grant.
      await limiter.settle(grant, 8, at(300));
      expect((await limiter.take(ask)).granted).toBe(2);
      // A second after the grant the 8 are still in the window: they may have landed as late as the answer.
      clock.set(at(1100));
      expect((await limiter.take(ask)).granted).toBe(0);
      clock.set(at(1301));
      expect((await limiter.take(ask)).granted).toBe(8);
    });

    it('limits shared keys across workspaces and workspace keys within each', async () => {
      const clock = new ManualClock(T0);
      const limiter = new RateLimiter({ db, clock });
      const rules = { 'sender:a': { perSecond: 4 }, 'provider:smtp': { perSecond: 6 } };
      const ask = (workspaceId: string) => limiter.take({ workspaceId, keys: ['sender:a'], shared: ['provider:smtp'], rules, want: 10 });
      expect((await ask('ws_1')).granted).toBe(4);
      expect((await ask('ws_2')).granted).toBe(2);
      await limiter.pause({ workspaceId: 'ws_3', key: 'provider:smtp', shared: true, retryAfter: 5 });
      clock.set(at(1000));
      expect(await ask('ws_1')).toMatchObject({ granted: 0, retryAt: at(5000) });
    });
  });
});

/** A database that outlives its connections: a temp file for SQLite, a new database on PostgreSQL. */
async function durableDatabase(dialect: TestDialect): Promise<{ location: DatabaseLocation; drop(): Promise<void> }> {
  if (dialect === 'postgres') return freshDatabase('postgres');
  const dir = mkdtempSync(join(tmpdir(), 'herald-rate-'));
  return { location: { dialect: 'sqlite', path: join(dir, 'herald.db') }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

describe.each(dialects)('rate limits across restarts on %s', (dialect) => {
  it('the limit still holds after the database is closed and reopened', async () => {
    const durable = await durableDatabase(dialect);
    try {
      const rule = { perMinute: 10, perHour: 15 };
      const first = openDatabase(durable.location);
      await migrate(first);
      await withRateLimits(first);
      expect((await takeTokens(first, { workspaceId: ws, key: 'sender:a', rule, want: 8, now: T0 })).granted).toBe(8);
      await blockUntil(first, { workspaceId: ws, key: 'provider:smtp', until: at(120_000), now: T0 });
      await first.destroy();

      const second = openDatabase(durable.location);
      try {
        expect(await takeTokens(second, { workspaceId: ws, key: 'sender:a', rule, want: 8, now: at(30_000) })).toEqual({
          granted: 2,
          retryAt: at(60_000),
        });
        // The hour's log keeps the first two grants in one 36 s slot, stamped with the later.
        expect(await takeTokens(second, { workspaceId: ws, key: 'sender:a', rule, want: 8, now: at(60_000) })).toEqual({
          granted: 5,
          retryAt: at(3_630_000),
        });
        expect(await takeTokens(second, { workspaceId: ws, key: 'provider:smtp', rule: null, want: 1, now: at(60_000) })).toEqual({
          granted: 0,
          retryAt: at(120_000),
        });
      } finally {
        await second.destroy();
      }
    } finally {
      await durable.drop();
    }
  });
});

describe.runIf(pgAvailable)('rate limits under concurrent workers on postgres', () => {
  it('callers on separate connections pools never grant more than the limit in any window', async () => {
    const fresh = await freshDatabase('postgres');
    // Four workers, each with its own pool, as four `herald worker` processes would have.
    const workers = Array.from({ length: 4 }, () => openDatabase(fresh.location, { poolSize: 4 }));
    try {
      await migrate(workers[0]!);
      await withRateLimits(workers[0]!);
      const rule = { perSecond: 25, perMinute: 120 };
      const grants: { t: number; n: number }[] = [];
      // Rounds 200 ms apart; in each, 24 callers ask at the same moment.
      for (let round = 0; round < 15; round++) {
        const now = at(round * 200);
        const results = await Promise.all(
          Array.from({ length: 24 }, (_, i) =>
            takeTokensAcross(workers[i % workers.length]!, {
              limits: [
                { workspaceId: ws, key: 'provider:smtp', rule },
                { workspaceId: ws, key: `sender:${i % 2}`, rule: { perSecond: 1000 } },
              ],
              want: 1 + (i % 4),
              now,
            }),
          ),
        );
        const n = results.reduce((sum, r) => sum + r.granted, 0);
        if (n > 0) grants.push({ t: now.getTime(), n });
      }
      const inWindow = (length: number) =>
        Math.max(...grants.map((g) => grants.filter((h) => h.t >= g.t && h.t < g.t + length).reduce((sum, h) => sum + h.n, 0)));
      expect(inWindow(1000)).toBe(25);
      expect(inWindow(60_000)).toBe(75);
      expect(grants.reduce((sum, g) => sum + g.n, 0)).toBe(75);
    } finally {
      for (const w of workers) await w.destroy();
      await fresh.drop();
    }
  });
});
