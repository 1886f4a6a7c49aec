import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { autoPauseReason, autoPauseRule } from './auto-pause.js';

describe('the auto-pause rule (seed 001: pause if the failure rate passes 5%)', () => {
  const rule = autoPauseRule(undefined);

  it('defaults to 5% after 100 sends over 10 minutes', () => {
    expect(rule).toEqual({ enabled: true, failureRate: 0.05, minSends: 100, windowMinutes: 10 });
  });

  it.each([
    [{ sent: 95, failed: 5 }, null],
    [{ sent: 94, failed: 6 }, 'FAILURE_RATE'],
    [{ sent: 0, failed: 99 }, null],
    [{ sent: 900, failed: 100 }, 'FAILURE_RATE'],
  ])('%o → %s', (window, code) => {
    expect(autoPauseReason(window, rule)?.code ?? null).toBe(code);
  });

  it('says why in words a person can act on', () => {
    expect(autoPauseReason({ sent: 90, failed: 10 }, rule)?.detail).toMatch(/10 of the last 100 sends failed \(10%\), above the 5% limit/);
  });

  it('can be switched off or tuned per campaign', () => {
    expect(autoPauseReason({ sent: 0, failed: 500 }, autoPauseRule({ enabled: false }))).toBeNull();
    expect(autoPauseReason({ sent: 8, failed: 2 }, autoPauseRule({ minSends: 10, failureRate: 0.1 }))?.code).toBe('FAILURE_RATE');
  });

  it('pauses exactly when the window is full enough and its rate is above the threshold', () => {
    fc.assert(
      fc.property(
        fc.nat(5000),
        fc.nat(5000),
        fc.integer({ min: 1, max: 1000 }),
        fc.double({ min: 0.001, max: 1, noNaN: true }),
        (sent, failed, minSends, failureRate) => {
          const r = autoPauseRule({ minSends, failureRate });
          const total = sent + failed;
          const expected = total >= minSends && total > 0 && failed / total > failureRate;
          expect(autoPauseReason({ sent, failed }, r) !== null).toBe(expected);
        },
      ),
    );
  });
});
