import { type Static, Type } from '@sinclair/typebox';
import { type Channel, channels } from './lifecycle.js';
import { smsSegments } from './sms.js';
import { StringEnum } from './string-enum.js';

/**
 * Money (DESIGN §5: "workspaces have a balance and per-channel prices; sending spends
 * balance"). Every amount is an integer count of micro-units — millionths of the
 * workspace's currency unit (1 USD = 1,000,000) — so sums are exact and a price such as
 * Twilio's $0.0079 per segment is 7,900 with nothing rounded. Never a float.
 *
 * The balance is spent by reservation: before a batch goes to the provider its cost is
 * taken from the balance (only if the balance covers it), and after the provider answers
 * what did not go out is given back, in the transaction that records the messages. So the
 * balance never goes below zero, and at every commit
 *
 *     balance = top-ups − Σ cost of the messages sent or in flight
 *
 * (docs/money.md). The functions here are the arithmetic of that rule; the store applies it.
 */

/** How a channel is billed: SMS per segment, voice per call, everything else per message. */
export type CostUnit = 'segment' | 'call' | 'message';

export function costUnitOf(channel: Channel): CostUnit {
  return channel === 'sms' ? 'segment' : channel === 'voice' ? 'call' : 'message';
}

/** Currency codes are ISO 4217's three letters; the code only labels the amounts. */
export const Currency = Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code, e.g. USD (a new workspace’s)' });

/** A non-negative amount in micro-units; the ceiling keeps every sum an exact JavaScript integer. */
export const Micros = (description: string) => Type.Integer({ minimum: 0, maximum: maxMicros, description });
/** 10^15 micro-units, a billion currency units: far above any balance, far below 2^53. */
export const maxMicros = 1_000_000_000_000_000;

/** Price per cost unit, per channel, in micro-units; a channel left out costs nothing. */
export const ChannelPrices = Type.Object(
  Object.fromEntries(
    channels.map((c) => [c, Type.Optional(Micros(`Micro-units per ${costUnitOf(c)} of ${c}; 0 or absent: free, never metered`))]),
  ) as { [K in Channel]: ReturnType<typeof Micros> },
  { additionalProperties: false },
);
export type ChannelPrices = Partial<Record<Channel, number>>;

/** Every channel's price, absent ones as 0. */
export function pricesOf(stored: ChannelPrices): Record<Channel, number> {
  return Object.fromEntries(channels.map((c) => [c, stored[c] ?? 0])) as Record<Channel, number>;
}

/** price × units, refusing anything that is not an exact non-negative integer. */
export function costOf(price: number, units: number): number {
  const cost = price * units;
  if (!Number.isSafeInteger(cost) || cost < 0) throw new RangeError(`cost ${price} × ${units} is not an exact amount`);
  return cost;
}

/**
 * The longest prefix of a batch the balance pays for, in the batch's order (message id),
 * so a run that runs out stops at a clean point and resumes at the next message.
 */
export function affordablePrefix(balance: number, costs: readonly number[]): { count: number; total: number } {
  let total = 0;
  let count = 0;
  for (const cost of costs) {
    if (total + cost > balance) break;
    total += cost;
    count++;
  }
  return { count, total };
}

/** How much is missing for `estimate` (0 when the balance covers it). */
export function shortfallOf(estimate: number, balance: number): number {
  return Math.max(0, estimate - balance);
}

/** Micro-units for people: "12.50 USD", "0.0079 USD" (at least two decimals, no trailing zeros past them). */
export function formatMoney(micros: number, currency: string): string {
  const sign = micros < 0 ? '-' : '';
  const abs = Math.abs(micros);
  const units = Math.floor(abs / 1_000_000);
  const fraction = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '')
    .padEnd(2, '0');
  return `${sign}${units}.${fraction} ${currency}`;
}

/** A Liquid template's text without its tags and outputs: what every rendering contains at least. */
export function withoutLiquid(text: string): string {
  return text.replace(/\{%-?[\s\S]*?-?%\}/g, '').replace(/\{\{-?[\s\S]*?-?\}\}/g, '');
}

/**
 * Segments to budget per SMS before sending (preflight and the audience estimate). A
 * personalised text can only be known by rendering it, so the estimate takes the most
 * segments of (a) the text with Liquid stripped — a floor every rendering reaches, with
 * the text of every `if` branch counted — and (b) the template rendered for a sample of
 * the recipients. Sending is charged on the real rendering of each message, and never
 * overdraws whatever the estimate said (see the module comment).
 */
export function smsSegmentsEstimate(template: string, renderedSample: readonly string[]): number {
  let segments = Math.max(1, smsSegments(withoutLiquid(template)).segments);
  for (const body of renderedSample) segments = Math.max(segments, smsSegments(body).segments);
  return segments;
}

/** What sending a campaign would cost, against the balance: preflight's and the estimate's. */
export const CostEstimate = Type.Object({
  currency: Currency,
  unit: StringEnum(['segment', 'call', 'message'] as const, 'What the price is per'),
  price: Micros('Micro-units per unit for the campaign’s channel'),
  unitsPerMessage: Type.Integer({ minimum: 0, description: 'SMS: segments budgeted per message (see method); otherwise 1' }),
  messages: Type.Integer({ minimum: 0, description: 'Messages a launch would send now (willSend)' }),
  estimate: Micros('messages × unitsPerMessage × price'),
  balance: Micros('The workspace’s balance now'),
  shortfall: Micros('How much the estimate exceeds the balance (0: the balance covers it)'),
  method: Type.String({ description: 'How unitsPerMessage was found' }),
});
export type CostEstimate = Static<typeof CostEstimate>;

/** The cost of a campaign from its audience count and what one message costs in units. */
export function estimateCost(args: {
  channel: Channel;
  price: number;
  currency: string;
  balance: number;
  messages: number;
  unitsPerMessage: number;
  method: string;
}): CostEstimate {
  const estimate = costOf(costOf(args.price, args.unitsPerMessage), args.messages);
  return {
    currency: args.currency,
    unit: costUnitOf(args.channel),
    price: args.price,
    unitsPerMessage: args.unitsPerMessage,
    messages: args.messages,
    estimate,
    balance: args.balance,
    shortfall: shortfallOf(estimate, args.balance),
    method: args.method,
  };
}

/** Kinds of balance ledger entry: money in, a batch's reservation, and what came back. */
export const balanceEntryKinds = ['top_up', 'debit', 'refund'] as const;
export type BalanceEntryKind = (typeof balanceEntryKinds)[number];

export const BalanceEntry = Type.Object({
  id: Type.Integer(),
  kind: StringEnum(balanceEntryKinds, 'top_up: money in; debit: a batch reserved before sending; refund: what did not go out'),
  amount: Type.Integer({ description: 'Signed micro-units: positive in, negative out' }),
  balanceAfter: Micros('The balance right after this entry'),
  campaignId: Type.Union([Type.String(), Type.Null()]),
  runId: Type.Union([Type.Integer(), Type.Null()]),
  messages: Type.Union([Type.Integer(), Type.Null()], { description: 'Messages the debit or refund is for' }),
  note: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
export type BalanceEntry = Static<typeof BalanceEntry>;

export const TopUp = Type.Object(
  {
    amount: Type.Integer({ minimum: 1, maximum: maxMicros, description: 'Micro-units to add (1 USD = 1000000)' }),
    note: Type.Optional(Type.String({ maxLength: 500 })),
  },
  { additionalProperties: false },
);
export type TopUp = Static<typeof TopUp>;
