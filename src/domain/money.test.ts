import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  affordablePrefix,
  costOf,
  costUnitOf,
  estimateCost,
  formatMoney,
  maxMicros,
  shortfallOf,
  smsSegmentsEstimate,
  withoutLiquid,
} from './money.js';

const costs = fc.array(fc.integer({ min: 0, max: 50_000 }), { maxLength: 60 });
const balances = fc.integer({ min: 0, max: 2_000_000 });

describe('affordablePrefix', () => {
  it('takes the longest prefix the balance covers, and exactly its sum', () => {
    fc.assert(
      fc.property(balances, costs, (balance, batch) => {
        const { count, total } = affordablePrefix(balance, batch);
        expect(total).toBe(batch.slice(0, count).reduce((a, b) => a + b, 0));
        expect(total).toBeLessThanOrEqual(balance);
        // Maximal: the next message is the first the balance cannot pay.
        if (count < batch.length) expect(total + batch[count]!).toBeGreaterThan(balance);
      }),
    );
  });

  it('stops at the first message it cannot pay, even if a cheaper one follows (sending stays in id order)', () => {
    expect(affordablePrefix(100, [60, 50, 10])).toEqual({ count: 1, total: 60 });
    expect(affordablePrefix(0, [0, 0, 1])).toEqual({ count: 2, total: 0 });
  });
});

/**
 * The balance rules as a model: top-ups, batch reservations, records that refund what did not
 * go out, and lease recoveries that refund a dead worker's batch. After every step the balance
 * is never negative and equals top-ups − Σ cost of messages sent or in flight, and the ledger
 * entries sum to it: what store/balance.ts keeps in SQL.
 */
type Step =
  { kind: 'top_up'; amount: number } | { kind: 'reserve'; costs: number[] } | { kind: 'record'; sent: boolean[] } | { kind: 'crash' };

const steps: fc.Arbitrary<Step[]> = fc.array(
  fc.oneof(
    fc.record({ kind: fc.constant('top_up' as const), amount: fc.integer({ min: 1, max: 300_000 }) }),
    fc.record({ kind: fc.constant('reserve' as const), costs }),
    fc.record({ kind: fc.constant('record' as const), sent: fc.array(fc.boolean(), { maxLength: 60 }) }),
    fc.record({ kind: fc.constant('crash' as const) }),
  ),
  { maxLength: 80 },
);

describe('reservations and refunds', () => {
  it('never make the balance negative, and the ledger always sums to it', () => {
    fc.assert(
      fc.property(steps, (script) => {
        let balance = 0;
        let toppedUp = 0;
        let sentCost = 0;
        const entries: number[] = [];
        let inFlight: number[] = [];
        for (const step of script) {
          if (step.kind === 'top_up') {
            balance += step.amount;
            toppedUp += step.amount;
            entries.push(step.amount);
          } else if (step.kind === 'reserve') {
            if (inFlight.length > 0) continue; // one slot: a batch is recorded before the next claim
            const { count, total } = affordablePrefix(balance, step.costs);
            balance -= total;
            if (total > 0) entries.push(-total);
            inFlight = step.costs.slice(0, count);
          } else if (step.kind === 'record') {
            const refund = inFlight.filter((_, i) => !step.sent[i]).reduce((a, b) => a + b, 0);
            sentCost += inFlight.filter((_, i) => step.sent[i]).reduce((a, b) => a + b, 0);
            balance += refund;
            if (refund > 0) entries.push(refund);
            inFlight = [];
          } else {
            // The worker died: recovery gives the whole reservation back; the re-send pays again.
            const refund = inFlight.reduce((a, b) => a + b, 0);
            balance += refund;
            if (refund > 0) entries.push(refund);
            inFlight = [];
          }
          expect(balance).toBeGreaterThanOrEqual(0);
          expect(balance).toBe(toppedUp - sentCost - inFlight.reduce((a, b) => a + b, 0));
          expect(entries.reduce((a, b) => a + b, 0)).toBe(balance);
        }
      }),
    );
  });
});

describe('costs and estimates', () => {
  it('bills SMS per segment, voice per call, the rest per message', () => {
    expect([costUnitOf('sms'), costUnitOf('voice'), costUnitOf('viber'), costUnitOf('email')]).toEqual([
      'segment',
      'call',
      'message',
      'message',
    ]);
  });

  it('multiplies exactly and refuses amounts past exact integers', () => {
    expect(costOf(7900, 3)).toBe(23_700);
    expect(() => costOf(maxMicros, 10_000)).toThrow(RangeError);
    expect(() => costOf(0.5, 1)).toThrow(RangeError);
  });

  it('says how much is missing', () => {
    expect(shortfallOf(1_000, 400)).toBe(600);
    expect(shortfallOf(400, 1_000)).toBe(0);
    const e = estimateCost({
      channel: 'sms',
      price: 7_900,
      currency: 'USD',
      balance: 10_000,
      messages: 3,
      unitsPerMessage: 2,
      method: 'm',
    });
    expect(e).toMatchObject({ unit: 'segment', estimate: 47_400, shortfall: 37_400 });
  });

  it('formats micro-units for people', () => {
    expect(formatMoney(12_500_000, 'USD')).toBe('12.50 USD');
    expect(formatMoney(7_900, 'USD')).toBe('0.0079 USD');
    expect(formatMoney(0, 'EUR')).toBe('0.00 EUR');
    expect(formatMoney(-1_234_567, 'USD')).toBe('-1.234567 USD');
  });

  it('budgets an SMS by its text without Liquid or its longest sampled rendering, whichever has more segments', () => {
    const template = `Hi {{ contact.firstName }}, ${'x'.repeat(150)}{% if contact.vip %} VIP{% endif %}`;
    expect(withoutLiquid(template)).toBe(`Hi , ${'x'.repeat(150)} VIP`);
    expect(smsSegmentsEstimate(template, [])).toBe(1);
    // A long name pushes one rendering past 160 septets, and an emoji into UCS-2: both count.
    expect(smsSegmentsEstimate(template, [`Hi Bartholomew, ${'x'.repeat(150)}`])).toBe(2);
    expect(smsSegmentsEstimate('Hi {{ contact.firstName }}', ['Hi Zoë 😀'])).toBe(1);
    expect(smsSegmentsEstimate('{{ contact.note }}', [])).toBe(1);
  });
});
