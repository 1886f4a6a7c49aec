import type { ReceiptEventType } from '../channels/receipts.js';
import { assertUnreachable } from './errors.js';
import type { MessageState } from './messages.js';

/**
 * What a provider's receipt does to a message (DESIGN §3): receipts are idempotent and may
 * arrive in any order, so the states a receipt can reach form one chain, and a receipt
 * moves a message up the chain or not at all. Applying receipts is taking a maximum: the
 * final state is the highest of the current state and every receipt, whatever the order
 * the webhooks arrived in, and however often each was repeated.
 *
 * | rank | state        | why it sits here                                                                 |
 * |------|--------------|----------------------------------------------------------------------------------|
 * | 0    | sending      | leased; a receipt proves the provider took it, so it applies (see below)          |
 * | 1    | sent         | handed over, nothing heard yet                                                    |
 * | 2    | failed       | accepted, then not delivered (SMS undelivered, call busy); a later `delivered` is |
 * |      |              | the stronger evidence and wins, a late `failed` after `delivered` is ignored     |
 * | 3    | delivered    | the provider or the carrier confirmed it                                          |
 * | 4    | bounced      | an asynchronous bounce after the receiving server's first `delivered` (Postmark, |
 * |      |              | SES send one): Mailchimp counts such a message bounced, not delivered            |
 * | 5    | read         | seen on a messenger, a push notification opened: the person had it, so a bounce  |
 * | 6    | opened       | (often an auto-reply misread as one) no longer applies; read and opened never    |
 * | 7    | clicked      | meet on one message (one is email's, one the others'), the order just breaks ties|
 * | 8    | unsubscribed | the person's verdict, stronger than any open or click                             |
 * | 9    | complained   | a spam report: stronger still, it also unsubscribes                               |
 *
 * Every other state takes no receipt: `pending`, `suppressed`, `cancelled` and `expired`
 * never reached a provider, and a `failed` message that was never handed over (refused at
 * send time: no `sent_at`) has nothing a receipt could be about.
 *
 * `sending`: a fast provider can post `delivered` before the worker recorded `sent` (the
 * Twilio and Viber sandboxes answer within milliseconds). Asking the provider to retry
 * would lose it with Twilio, which never retries a status callback; so the receipt
 * applies. The lease owner's record then finds the row no longer `sending` and leaves it
 * alone (its guard), and the counters stay exact because each side counts only the rows
 * it changed. What the worker would have written besides the state (the provider id) is
 * lost for that row; receipts keyed by the ledger key do not need it.
 */

/** The receipt chain; states absent from it take no receipt. */
const rank: Partial<Record<MessageState, number>> = {
  sending: 0,
  sent: 1,
  failed: 2,
  delivered: 3,
  bounced: 4,
  read: 5,
  opened: 6,
  clicked: 7,
  unsubscribed: 8,
  complained: 9,
};

/** The state a receipt of this type moves a message to. */
export function receiptState(event: ReceiptEventType): MessageState {
  switch (event) {
    case 'delivered':
    case 'read':
    case 'opened':
    case 'clicked':
    case 'failed':
    case 'bounced':
    case 'complained':
    case 'unsubscribed':
      return event;
    default:
      return assertUnreachable(event);
  }
}

/** A state's place on the receipt chain; null for states no receipt touches. */
export function receiptRank(state: MessageState): number | null {
  return rank[state] ?? null;
}

export interface ReceiptOptions {
  /**
   * Whether the message reached the provider, for a `failed` message: true when it failed
   * by a receipt after the hand-over (the ledger has its `sent_at`), false when the
   * provider refused it at send time. Other states say it themselves. Default false.
   */
  readonly handedOver?: boolean;
}

/** Whether a message in this state takes receipts at all (its address effects follow this too). */
export function takesReceipts(current: MessageState, opts: ReceiptOptions = {}): boolean {
  if (current === 'failed') return opts.handedOver === true;
  return receiptRank(current) !== null;
}

/**
 * The state a receipt moves a message to, or null to ignore it: the message took no
 * receipt, or the receipt is not above its state (a repeat, or a late `delivered` after
 * `read`).
 *
 * @example receiptTransition('read', 'delivered') // null: never backwards
 * @example receiptTransition('delivered', 'bounced') // 'bounced'
 */
export function receiptTransition(current: MessageState, event: ReceiptEventType, opts: ReceiptOptions = {}): MessageState | null {
  if (!takesReceipts(current, opts)) return null;
  const next = receiptState(event);
  return rank[next]! > rank[current]! ? next : null;
}

/** Folds receipts over a state in the order given; the result is the same for any order. */
export function applyReceiptEvents(current: MessageState, events: readonly ReceiptEventType[], opts: ReceiptOptions = {}): MessageState {
  let state = current;
  let handedOver = opts.handedOver === true;
  for (const event of events) {
    const next = receiptTransition(state, event, { handedOver });
    if (next !== null) {
      state = next;
      handedOver = true;
    }
  }
  return state;
}
