import type { Outcome } from './lifecycle.js';

/**
 * Per-recipient message states (DESIGN §3). `pending → sending (leased) → sent →
 * delivered → read/opened → clicked`, and the terminal failure states. `read` is seen on
 * a messenger or a push notification opened; `opened` is an email open.
 */
export const messageStates = [
  'pending',
  'sending',
  'sent',
  'delivered',
  'read',
  'opened',
  'clicked',
  'failed',
  'bounced',
  'complained',
  'unsubscribed',
  'suppressed',
  'cancelled',
  'expired',
] as const;
export type MessageState = (typeof messageStates)[number];

/** States whose message has left Herald for the provider. */
export const handedOverStates: readonly MessageState[] = [
  'sent',
  'delivered',
  'read',
  'opened',
  'clicked',
  'bounced',
  'complained',
  'unsubscribed',
];

/** States in which the message did not reach its recipient. */
export const undeliveredStates: readonly MessageState[] = ['failed', 'bounced', 'suppressed', 'expired', 'cancelled'];

export type StateCounts = Readonly<Record<MessageState, number>>;

export const zeroCounts = (): Record<MessageState, number> =>
  Object.fromEntries(messageStates.map((s) => [s, 0])) as Record<MessageState, number>;

/** The figures people read on a campaign: derived from the per-state counters, never from rows. */
export interface CampaignCounts {
  readonly total: number;
  readonly pending: number;
  readonly inFlight: number;
  readonly sent: number;
  readonly delivered: number;
  /** Seen on a messenger, or a push notification opened (channels without email opens). */
  readonly read: number;
  readonly opened: number;
  readonly clicked: number;
  readonly failed: number;
  readonly bounced: number;
  readonly complained: number;
  readonly unsubscribed: number;
  readonly suppressed: number;
  readonly cancelled: number;
  readonly expired: number;
  /** Messages that reached a final state for this run (everything but pending and in flight). */
  readonly processed: number;
  /** Of pending: waiting for the recipient's local send time or the end of their quiet hours. */
  readonly waiting: number;
}

/** Reads the per-state counters into the figures of a report; `sent` counts everything handed over. */
export function campaignCounts(states: StateCounts, waiting = 0): CampaignCounts {
  const total = Object.values(states).reduce((a, b) => a + b, 0);
  const sent = handedOverStates.reduce((a, s) => a + states[s], 0);
  return {
    total,
    pending: states.pending,
    inFlight: states.sending,
    sent,
    delivered: states.delivered + states.read + states.opened + states.clicked,
    read: states.read,
    opened: states.opened + states.clicked,
    clicked: states.clicked,
    failed: states.failed,
    bounced: states.bounced,
    complained: states.complained,
    unsubscribed: states.unsubscribed,
    suppressed: states.suppressed,
    cancelled: states.cancelled,
    expired: states.expired,
    processed: total - states.pending - states.sending,
    waiting: Math.min(waiting, states.pending),
  };
}

/** A run is finished when nothing is pending or in flight (listmonk #2168: never earlier). */
export function runIsDrained(states: StateCounts): boolean {
  return states.pending === 0 && states.sending === 0;
}

/**
 * How a finished run went (seed 000): fully sent when every recipient was handed over,
 * partially sent when some failed, bounced, were suppressed or expired.
 */
export function runOutcome(states: StateCounts): Outcome {
  return undeliveredStates.some((s) => states[s] > 0) ? 'partially_sent' : 'fully_sent';
}
