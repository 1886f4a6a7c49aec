import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ReceiptEventType } from '../channels/receipts.js';
import { type MessageState, campaignCounts, messageStates, zeroCounts } from './messages.js';
import { applyReceiptEvents, receiptRank, receiptState, receiptTransition, takesReceipts } from './receipt-transitions.js';

const eventTypes: readonly ReceiptEventType[] = [
  'delivered',
  'read',
  'opened',
  'clicked',
  'failed',
  'bounced',
  'complained',
  'unsubscribed',
];
const anEvent = fc.constantFrom(...eventTypes);
const anEventList = fc.array(anEvent, { maxLength: 12 });
/** A list of receipts and the same receipts in another order. */
const aPermutedList = anEventList.chain((events) =>
  fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length, maxLength: events.length })),
);
/** A starting state with whether it was handed over (only `failed` needs saying). */
const aStart = fc.record({ state: fc.constantFrom(...messageStates), handedOver: fc.boolean() });

/** The specification the fold must meet: the highest-ranked of the start and the receipts. */
function highest(start: MessageState, handedOver: boolean, events: readonly ReceiptEventType[]): MessageState {
  if (!takesReceipts(start, { handedOver })) return start;
  return events.map(receiptState).reduce((a, b) => (receiptRank(b)! > receiptRank(a)! ? b : a), start);
}

describe('receipts on a message', () => {
  it.each([
    ['sent', 'delivered', 'delivered'],
    ['read', 'delivered', null],
    ['delivered', 'delivered', null],
    ['delivered', 'bounced', 'bounced'],
    ['opened', 'bounced', null],
    ['delivered', 'failed', null],
    ['sent', 'failed', 'failed'],
    ['clicked', 'unsubscribed', 'unsubscribed'],
    ['unsubscribed', 'complained', 'complained'],
    ['complained', 'unsubscribed', null],
    ['opened', 'clicked', 'clicked'],
    ['clicked', 'opened', null],
    ['sending', 'delivered', 'delivered'],
    ['sending', 'failed', 'failed'],
    ['pending', 'delivered', null],
    ['suppressed', 'complained', null],
    ['cancelled', 'delivered', null],
    ['expired', 'read', null],
  ] as const)('%s + %s → %s', (current, event, next) => {
    expect(receiptTransition(current, event)).toBe(next);
  });

  it('takes a receipt on a failed message only when it was handed over (failed by a receipt, not refused at send)', () => {
    expect(receiptTransition('failed', 'delivered')).toBeNull();
    expect(receiptTransition('failed', 'complained', { handedOver: false })).toBeNull();
    expect(receiptTransition('failed', 'delivered', { handedOver: true })).toBe('delivered');
    expect(receiptTransition('failed', 'bounced', { handedOver: true })).toBe('bounced');
  });

  it('ends in the same state whatever order the receipts arrive in, and that state is the highest-ranked', () => {
    fc.assert(
      fc.property(aStart, aPermutedList, ({ state, handedOver }, [events, shuffled]) => {
        const expected = highest(state, handedOver, events);
        expect(applyReceiptEvents(state, events, { handedOver })).toBe(expected);
        expect(applyReceiptEvents(state, shuffled, { handedOver })).toBe(expected);
      }),
    );
  });

  it('treats a repeated receipt as one (webhooks are retried)', () => {
    fc.assert(
      fc.property(aStart, anEventList, fc.array(fc.nat(), { maxLength: 12 }), ({ state, handedOver }, events, picks) => {
        const repeats = events.length === 0 ? [] : picks.map((i) => events[i % events.length]!);
        const withRepeats = [...events, ...repeats];
        expect(applyReceiptEvents(state, withRepeats, { handedOver })).toBe(applyReceiptEvents(state, events, { handedOver }));
        for (const event of eventTypes) {
          const once = receiptTransition(state, event, { handedOver });
          if (once !== null) expect(receiptTransition(once, event, { handedOver: true })).toBeNull();
        }
      }),
    );
  });

  it('never moves a message backwards, and never touches one that was not handed over', () => {
    fc.assert(
      fc.property(aStart, anEvent, ({ state, handedOver }, event) => {
        const next = receiptTransition(state, event, { handedOver });
        if (!takesReceipts(state, { handedOver })) expect(next).toBeNull();
        if (next !== null) expect(receiptRank(next)!).toBeGreaterThan(receiptRank(state)!);
      }),
    );
  });

  it('keeps the report’s figures consistent: each message is counted in exactly one state, and the total never changes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(aStart, anEventList), { minLength: 1, maxLength: 30 }), (messages) => {
        const before = zeroCounts();
        const after = zeroCounts();
        for (const [{ state, handedOver }, events] of messages) {
          before[state]++;
          after[applyReceiptEvents(state, events, { handedOver })]++;
        }
        const a = campaignCounts(before);
        const b = campaignCounts(after);
        expect(b.total).toBe(a.total);
        // Receipts never create or remove work: nothing becomes pending, suppressed, cancelled or expired.
        for (const s of ['pending', 'suppressed', 'cancelled', 'expired'] as const) expect(after[s]).toBe(before[s]);
        expect(b.inFlight).toBeLessThanOrEqual(a.inFlight);
        // Funnel: clicked ⊆ opened ⊆ delivered.
        expect(b.clicked).toBeLessThanOrEqual(b.opened);
        expect(b.opened + b.read).toBeLessThanOrEqual(b.delivered);
      }),
    );
  });
});
