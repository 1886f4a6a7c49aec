import { type AutoPause, type FailureReason, defaultAutoPause } from './campaign.js';

/** Sends and failures recorded within the window. */
export interface FailureWindow {
  readonly sent: number;
  readonly failed: number;
}

/** The rule in force: the campaign's settings over the defaults (seed 001's 5% after 100 sends). */
export function autoPauseRule(own: Partial<AutoPause> | undefined): AutoPause {
  return { ...defaultAutoPause, ...own };
}

/**
 * Whether the failure rate over the window passed the rule's threshold (DESIGN §4): judged
 * only once the window holds `minSends` outcomes, so three early bounces never pause a
 * campaign. Returns the reason to record, or null.
 */
export function autoPauseReason(window: FailureWindow, rule: AutoPause): FailureReason | null {
  const total = window.sent + window.failed;
  if (!rule.enabled || total < rule.minSends || total === 0) return null;
  const rate = window.failed / total;
  if (rate <= rule.failureRate) return null;
  const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()}%`;
  return {
    code: 'FAILURE_RATE',
    detail: `Paused automatically: ${window.failed} of the last ${total} sends failed (${pct(rate)}), above the ${pct(rule.failureRate)} limit. Check the failures, then resume.`,
  };
}
