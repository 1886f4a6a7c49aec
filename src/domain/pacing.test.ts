import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type PacingState,
  type RateRule,
  type WindowName,
  allowance,
  applyRetryAfter,
  blockUntil,
  emptyPacingState,
  limitsAt,
  maxRetryAfterMs,
  parsePacingState,
  parseRetryAfter,
  refund,
  settle,
  take,
  takeAcross,
  validateRateRule,
  warmupPerHour,
  windowMs,
  windows,
} from './pacing.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');
const HOUR = 3_600_000;

interface Sent {
  readonly t: number;
  readonly n: number;
}

/** The largest number sent in any window [x, x + length): the worst window starts at a send. */
function worstWindow(sent: readonly Sent[], length: number): number {
  let worst = 0;
  let inWindow = 0;
  let first = 0;
  for (const s of sent) {
    inWindow += s.n;
    while (sent[first]!.t <= s.t - length) inWindow -= sent[first++]!.n;
    worst = Math.max(worst, inWindow);
  }
  return worst;
}

const limitOf = (rule: RateRule, window: WindowName): number | undefined =>
  window === 'second' ? rule.perSecond : window === 'minute' ? rule.perMinute : rule.perHour;

const ruleArb: fc.Arbitrary<RateRule> = fc
  .record(
    {
      perSecond: fc.integer({ min: 1, max: 30 }),
      perMinute: fc.integer({ min: 1, max: 300 }),
      perHour: fc.integer({ min: 1, max: 3000 }),
    },
    { requiredKeys: [] },
  )
  .filter((r) => Object.keys(r).length > 0);

/**
 * Gaps between calls on every scale the windows have, landing often right on, just before
 * or just after a window's or a slot's edge, where an off-by-one would show.
 */
const gapArb = fc.oneof(
  fc.integer({ min: 0, max: 20 }),
  fc.integer({ min: 0, max: 1500 }),
  fc.integer({ min: 0, max: 90_000 }),
  fc.integer({ min: 0, max: 2 * HOUR }),
  fc
    .tuple(
      fc.constantFrom(10, 250, 1000, 600, 15_000, 60_000, 36_000, 900_000, HOUR),
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: -1, max: 1 }),
    )
    .map(([unit, k, edge]) => Math.max(0, unit * k + edge)),
);

const stepArb = fc.record({
  gap: gapArb,
  want: fc.integer({ min: 0, max: 60 }),
  /** Share of one of the last grants given back now (its batch came up short). */
  giveBack: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
  /** Which of the last three grants: concurrent slots give back out of order. */
  whose: fc.integer({ min: 1, max: 3 }),
});

describe('validateRateRule', () => {
  it('accepts rules with at least one positive integer limit or a ramp', () => {
    for (const rule of [
      { perSecond: 100 },
      { perMinute: 1, perHour: 10 },
      { warmup: { startPerHour: 500, growth: 2, periodHours: 24, since: '2026-03-01' } },
      { perHour: 5000, warmup: { startPerHour: 500, growth: 1.5, periodHours: 12, since: '2026-03-01T08:00:00Z' } },
    ])
      expect(validateRateRule(rule)).toEqual({ ok: true, value: rule });
  });

  it('refuses no limit, non-positive or fractional limits, unknown fields, a shrinking ramp and a date that is none', () => {
    for (const rule of [
      {},
      { perSecond: 0 },
      { perMinute: -5 },
      { perHour: 1.5 },
      { perSecond: '10' },
      { perDay: 10 },
      { warmup: { startPerHour: 500, growth: 0.5, periodHours: 24, since: '2026-03-01' } },
      { warmup: { startPerHour: 500, growth: 2, periodHours: 0, since: '2026-03-01' } },
      { warmup: { startPerHour: 500, growth: 2, periodHours: 24, since: '2026-13-45' } },
      { warmup: { startPerHour: 500, growth: 2, periodHours: 24, since: 'yesterday' } },
      null,
    ]) {
      const r = validateRateRule(rule);
      expect(r.ok, JSON.stringify(rule)).toBe(false);
      if (!r.ok) expect(r.error.code).toBe('VALIDATION_FAILED');
    }
  });
});

describe('take', () => {
  it('grants up to the limit at once, then nothing until the oldest grant slides out of the window', () => {
    const rule = { perSecond: 10 };
    const first = take(rule, emptyPacingState, T0, 8);
    expect(first).toMatchObject({ granted: 8, retryAt: null });
    const second = take(rule, first.state, T0 + 400, 8);
    expect(second).toMatchObject({ granted: 2, retryAt: T0 + 1000 });
    expect(take(rule, second.state, T0 + 999, 1)).toMatchObject({ granted: 0, retryAt: T0 + 1000 });
    expect(take(rule, second.state, T0 + 1000, 10)).toMatchObject({ granted: 8, retryAt: T0 + 1400 });
  });

  it('expires grants that share a slot with the latest of them, not the first', () => {
    const rule = { perSecond: 2 };
    const a = take(rule, emptyPacingState, T0, 1);
    const b = take(rule, a.state, T0 + 5, 1);
    // Freeing both at T0 + 1000 would put three sends in [T0 + 5, T0 + 1005).
    expect(take(rule, b.state, T0 + 1000, 2)).toMatchObject({ granted: 0, retryAt: T0 + 1005 });
    expect(take(rule, b.state, T0 + 1005, 2)).toMatchObject({ granted: 2, retryAt: null });
  });

  it('never grants more than the limit in any sliding window of each length, whatever the arrivals', () => {
    fc.assert(
      fc.property(ruleArb, fc.array(stepArb, { maxLength: 250 }), (rule, steps) => {
        let state: PacingState = emptyPacingState;
        let now = T0;
        const sent: { t: number; n: number }[] = [];
        for (const step of steps) {
          now += step.gap;
          const short = sent[sent.length - step.whose];
          if (short && step.giveBack > 0) {
            const back = Math.floor(short.n * step.giveBack);
            state = refund(state, short.t, back);
            short.n -= back;
          }
          const r = take(rule, state, now, step.want);
          expect(r.granted).toBeGreaterThanOrEqual(0);
          expect(r.granted).toBeLessThanOrEqual(step.want);
          if (r.granted < step.want) expect(r.retryAt).toBeGreaterThan(now);
          else expect(r.retryAt).toBeNull();
          // Through JSON and back, as the store keeps it across restarts.
          state = parsePacingState(JSON.stringify(r.state));
          for (const w of windows) expect(state[w].length).toBeLessThanOrEqual(101);
          if (r.granted > 0) sent.push({ t: now, n: r.granted });
        }
        for (const w of windows) {
          const limit = limitOf(rule, w);
          if (limit !== undefined) expect(worstWindow(sent, windowMs[w]), w).toBeLessThanOrEqual(limit);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('under constant demand runs within 2% of the limit, and no window holds more', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<WindowName>(...windows),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.nat({ max: 1000 }),
        fc.nat({ max: 1_000_000 }),
        (window, limit, batch, busy, jitterPerMille, seed) => {
          const rule: RateRule =
            window === 'second' ? { perSecond: limit } : window === 'minute' ? { perMinute: limit } : { perHour: limit };
          const length = windowMs[window];
          const horizon = 40 * length;
          // Handing a batch over takes up to 2% of a window (never so long that the caller,
          // not the limiter, sets the pace); the caller sleeps until retryAt and wakes up to
          // 0.1% of a window late.
          const handOver = Math.floor(busy * Math.min(length / 50, (batch * length) / (2 * limit)));
          let rand = seed;
          const jitter = () => {
            rand = (rand * 1103515245 + 12345) % 2 ** 31;
            return Math.floor(((rand / 2 ** 31) * jitterPerMille * length) / 1_000_000);
          };
          let state: PacingState = emptyPacingState;
          let now = T0;
          const sent: Sent[] = [];
          while (now < T0 + horizon) {
            const r = take(rule, state, now, batch);
            state = r.state;
            if (r.granted) sent.push({ t: now, n: r.granted });
            now = r.retryAt === null ? now + handOver : r.retryAt + jitter();
          }
          const total = sent.filter((s) => s.t < T0 + horizon).reduce((sum, s) => sum + s.n, 0);
          expect(worstWindow(sent, length)).toBeLessThanOrEqual(limit);
          expect(total).toBeGreaterThanOrEqual(Math.floor(0.98 * 40 * limit));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('sends 100 msg/s for 30 s in batches of 50 with no 1-s window above 100 and within 2% overall', () => {
    let state: PacingState = emptyPacingState;
    let now = T0;
    const sent: Sent[] = [];
    while (now < T0 + 30_000) {
      const r = take({ perSecond: 100 }, state, now, 50);
      state = r.state;
      if (r.granted) sent.push({ t: now, n: r.granted });
      // A batch takes 7 ms to hand to the provider.
      now = r.retryAt ?? now + 7;
    }
    const total = sent.reduce((s, x) => s + x.n, 0);
    expect(worstWindow(sent, 1000)).toBeLessThanOrEqual(100);
    expect(Math.abs(total - 3000) / 3000).toBeLessThanOrEqual(0.02);
  });
});

describe('takeAcross', () => {
  it('grants the smallest allowance and charges every key only that', () => {
    fc.assert(
      fc.property(fc.array(ruleArb, { minLength: 1, maxLength: 4 }), fc.array(stepArb, { maxLength: 60 }), (rules, steps) => {
        let states: readonly PacingState[] = rules.map(() => emptyPacingState);
        let now = T0;
        for (const step of steps) {
          now += step.gap;
          const before = rules.map((rule, i) => allowance(rule, states[i]!, now).available);
          const r = takeAcross(
            rules.map((rule, i) => ({ rule, state: states[i]! })),
            now,
            step.want,
          );
          expect(r.granted).toBe(Math.min(step.want, ...before));
          rules.forEach((rule, i) => expect(allowance(rule, r.states[i]!, now).available).toBe(before[i]! - r.granted));
          states = r.states;
        }
      }),
    );
  });

  it('with no rule only a pause limits', () => {
    expect(takeAcross([{ rule: null, state: emptyPacingState }], T0, 1e6)).toMatchObject({ granted: 1e6, retryAt: null });
    const paused = blockUntil(emptyPacingState, T0 + 5000);
    expect(takeAcross([{ rule: null, state: paused }], T0, 10)).toMatchObject({ granted: 0, retryAt: T0 + 5000 });
  });
});

describe('warm-up', () => {
  const ramp = { startPerHour: 500, growth: 2, periodHours: 24, since: '2026-03-01T00:00:00Z' };

  it('starts at startPerHour and grows by `growth` every period, capped by perHour', () => {
    expect(warmupPerHour(ramp, T0 - HOUR)).toBe(500);
    expect(warmupPerHour(ramp, T0)).toBe(500);
    expect(warmupPerHour(ramp, T0 + 24 * HOUR - 1)).toBe(500);
    expect(warmupPerHour(ramp, T0 + 24 * HOUR)).toBe(1000);
    expect(warmupPerHour(ramp, T0 + 72 * HOUR + 5)).toBe(4000);
    expect(limitsAt({ perHour: 1500, warmup: ramp }, T0 + 48 * HOUR)).toEqual([{ window: 'hour', limit: 1500 }]);
    expect(limitsAt({ perSecond: 5, warmup: ramp }, T0 + 30 * HOUR)).toEqual([
      { window: 'second', limit: 5 },
      { window: 'hour', limit: 1000 },
    ]);
  });

  it('never falls as time passes and is startPerHour × growth^periods', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.constantFrom(1, 1.25, 1.5, 2, 3),
        fc.integer({ min: 1, max: 72 }),
        fc.array(fc.integer({ min: -10 * HOUR, max: 2000 * HOUR }), { minLength: 2, maxLength: 20 }),
        (startPerHour, growth, periodHours, offsets) => {
          const w = { startPerHour, growth, periodHours, since: new Date(T0).toISOString() };
          const sorted = [...offsets].sort((a, b) => a - b);
          for (let i = 1; i < sorted.length; i++)
            expect(warmupPerHour(w, T0 + sorted[i]!)).toBeGreaterThanOrEqual(warmupPerHour(w, T0 + sorted[i - 1]!));
          for (const off of sorted) {
            const periods = Math.max(0, Math.floor(off / (periodHours * HOUR)));
            expect(warmupPerHour(w, T0 + off)).toBe(Math.min(Number.MAX_SAFE_INTEGER, Math.floor(startPerHour * growth ** periods)));
          }
        },
      ),
    );
  });

  it('under constant demand sends what the ramp allows in each period, and no hour holds more', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 20, max: 400 }),
        fc.constantFrom(1, 1.5, 2, 3),
        fc.integer({ min: 2, max: 6 }),
        fc.integer({ min: 1, max: 80 }),
        (startPerHour, growth, periodHours, batch) => {
          const w = { startPerHour, growth, periodHours, since: new Date(T0).toISOString() };
          const rule: RateRule = { warmup: w };
          const period = periodHours * HOUR;
          let state: PacingState = emptyPacingState;
          let now = T0;
          const sent: Sent[] = [];
          while (now < T0 + 4 * period) {
            const r = take(rule, state, now, batch);
            state = r.state;
            if (r.granted) sent.push({ t: now, n: r.granted });
            if (r.retryAt !== null) now = r.retryAt;
          }
          // The ramp only rises, so no hour may hold more than the limit at its last send.
          let first = 0;
          let inHour = 0;
          for (const s of sent) {
            inHour += s.n;
            while (sent[first]!.t <= s.t - HOUR) inHour -= sent[first++]!.n;
            expect(inHour).toBeLessThanOrEqual(warmupPerHour(w, s.t));
          }
          for (let k = 0; k < 4; k++) {
            // The last hour of each period is full at that period's limit.
            const end = T0 + (k + 1) * period;
            const count = sent.filter((s) => s.t >= end - HOUR && s.t < end).reduce((sum, s) => sum + s.n, 0);
            const limit = warmupPerHour(w, end - 1);
            expect(count).toBeLessThanOrEqual(limit);
            expect(count).toBeGreaterThanOrEqual(Math.floor(0.98 * limit) - 1);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('blockedUntil', () => {
  it('blocks every take until it passes, uses no allowance meanwhile, and then changes nothing', () => {
    fc.assert(
      fc.property(
        ruleArb,
        fc.array(stepArb, { maxLength: 40 }),
        fc.integer({ min: 1, max: 3 * HOUR }),
        fc.array(fc.record({ at: fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }), want: fc.integer({ min: 1, max: 50 }) }), {
          maxLength: 10,
        }),
        fc.integer({ min: 0, max: 2 * HOUR }),
        (rule, steps, pause, tries, after) => {
          let state: PacingState = emptyPacingState;
          let now = T0;
          for (const step of steps) {
            now += step.gap;
            state = take(rule, state, now, step.want).state;
          }
          const until = now + pause;
          const blocked = blockUntil(state, until);
          for (const t of tries) {
            const at = now + Math.floor(t.at * pause);
            const r = take(rule, blocked, at, t.want);
            expect(r.granted).toBe(0);
            expect(r.retryAt).toBeGreaterThanOrEqual(until);
            expect(r.state).toEqual(blocked);
          }
          const later = until + after;
          const { state: s1, ...withBlock } = take(rule, blocked, later, 50);
          const { state: s2, ...withoutBlock } = take(rule, state, later, 50);
          expect(withBlock).toEqual({ ...withoutBlock, states: [{ ...s2, blockedUntil: until }] });
          expect(s1).toEqual({ ...s2, blockedUntil: until });
        },
      ),
    );
  });

  it('reads Retry-After as seconds or an HTTP date, keeps a longer pause, and falls back when it cannot read it', () => {
    expect(parseRetryAfter('120', T0)).toBe(T0 + 120_000);
    expect(parseRetryAfter(30, T0)).toBe(T0 + 30_000);
    expect(parseRetryAfter(new Date(T0 + 90_000).toUTCString(), T0)).toBe(T0 + 90_000);
    expect(parseRetryAfter('Sun, 01 Mar 2026 00:00:00 GMT', T0 + 5000)).toBe(T0 + 5000);
    expect(parseRetryAfter('9999999', T0)).toBe(T0 + maxRetryAfterMs);
    expect(parseRetryAfter('soon', T0)).toBeNull();
    expect(applyRetryAfter(emptyPacingState, '10', T0).blockedUntil).toBe(T0 + 10_000);
    expect(applyRetryAfter(emptyPacingState, 'soon', T0, 5000).blockedUntil).toBe(T0 + 5000);
    expect(applyRetryAfter(emptyPacingState, undefined, T0).blockedUntil).toBe(T0 + 60_000);
    expect(applyRetryAfter(blockUntil(emptyPacingState, T0 + 600_000), '10', T0).blockedUntil).toBe(T0 + 600_000);
  });
});

describe('settle', () => {
  /**
   * Slots that each take a slice, hand it to a provider that answers after a latency, and
   * settle it at the answer; each message arrives at some moment between its grant and the
   * answer. Returns the arrivals. With `stampAtGrant` the grants are never settled (the
   * limiter as it was), for the counter-example.
   */
  function simulate(
    perSecond: number,
    slots: readonly { latency: number; arriveAt: number }[][],
    opts: { stampAtGrant?: boolean } = {},
  ): Sent[] {
    let state: PacingState = emptyPacingState;
    const arrivals: Sent[] = [];
    const free = slots.map(() => T0);
    const next = slots.map(() => 0);
    const inFlight: { at: number; slot: number; grantedAt: number; n: number }[] = [];
    for (;;) {
      // The next event: a slot free to ask, or an answer.
      const slot = free.reduce((best, t, i) => (next[i]! < slots[i]!.length && (best < 0 || t < free[best]!) ? i : best), -1);
      inFlight.sort((a, b) => a.at - b.at);
      const answer = inFlight[0];
      if (answer && (slot < 0 || answer.at <= free[slot]!)) {
        inFlight.shift();
        if (!opts.stampAtGrant) state = settle(state, answer.grantedAt, answer.n, answer.n, answer.at);
        free[answer.slot] = answer.at;
        continue;
      }
      if (slot < 0) break;
      const now = free[slot]!;
      const r = take({ perSecond }, state, now, Math.ceil(perSecond / 10));
      state = r.state;
      if (r.granted === 0) {
        free[slot] = r.retryAt!;
        continue;
      }
      const { latency, arriveAt } = slots[slot]![next[slot]!++]!;
      arrivals.push({ t: now + Math.floor(latency * arriveAt), n: r.granted });
      inFlight.push({ at: now + latency, slot, grantedAt: now, n: r.granted });
      free[slot] = Infinity;
    }
    return arrivals.sort((a, b) => a.t - b.t);
  }

  const requestArb = fc.record({
    latency: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 400 })),
    arriveAt: fc.double({ min: 0, max: 1, noNaN: true }),
  });

  it('keeps every 1-s window of arrivals at the limit, whatever each request’s latency and when in it the messages land', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 200 }),
        fc.array(fc.array(requestArb, { maxLength: 60 }), { minLength: 1, maxLength: 3 }),
        (perSecond, slots) => {
          expect(worstWindow(simulate(perSecond, slots), 1000)).toBeLessThanOrEqual(perSecond);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is needed: stamped at the grant, a slow first request and the next second’s grants land in one second', () => {
    // A 100/s limit in slices of 10: the first request takes 80 ms and lands at its answer, the rest 2 ms.
    const slots = [[{ latency: 80, arriveAt: 1 }, ...Array.from({ length: 30 }, () => ({ latency: 2, arriveAt: 1 }))]];
    expect(worstWindow(simulate(100, slots, { stampAtGrant: true }), 1000)).toBeGreaterThan(100);
    const settled = simulate(100, slots);
    expect(worstWindow(settled, 1000)).toBeLessThanOrEqual(100);
    // The price is the latency once a window: 31 slices still take about 3 s.
    expect(settled[settled.length - 1]!.t - T0).toBeLessThan(3300);
  });

  it('gives back what was not sent, as refund does', () => {
    const first = take({ perSecond: 10 }, emptyPacingState, T0, 10);
    const settled = settle(first.state, T0, 10, 6, T0 + 30);
    expect(allowance({ perSecond: 10 }, settled, T0 + 30).available).toBe(4);
    // The six count from the answer: they free their places a second after it, not after the grant.
    expect(allowance({ perSecond: 10 }, settled, T0 + 1010).available).toBe(4);
    expect(allowance({ perSecond: 10 }, settled, T0 + 1031).available).toBe(10);
  });
});

describe('refund', () => {
  it('gives back a short batch so the window can use it, and never more than was granted', () => {
    const rule = { perSecond: 10 };
    const first = take(rule, emptyPacingState, T0, 10);
    const back = refund(first.state, T0, 4);
    expect(take(rule, back, T0 + 5, 10)).toMatchObject({ granted: 4 });
    expect(allowance(rule, refund(first.state, T0, 50), T0).available).toBe(10);
    // A grant that already slid out of the window has nothing left to give back.
    const later = take(rule, first.state, T0 + 1500, 3).state;
    expect(refund(later, T0, 10)).toEqual(later);
  });

  it('rejects a stored state that is not one', () => {
    expect(() => parsePacingState('{"blockedUntil":0}')).toThrow(/corrupt/);
    expect(parsePacingState(JSON.stringify(emptyPacingState))).toEqual(emptyPacingState);
  });
});
