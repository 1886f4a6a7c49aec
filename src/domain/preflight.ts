import type { FailureReason } from './campaign.js';
import type { Channel } from './lifecycle.js';
import { type CostEstimate, formatMoney } from './money.js';

/**
 * Preflight (DESIGN §5, seed 003's failure reasons): everything that would stop a campaign
 * from going out, all at once, from facts the caller gathered. Runs before schedule,
 * launch, restart and retry, and again when a scheduled campaign comes due.
 */
export interface PreflightFacts {
  readonly channel: Channel;
  readonly templateId: string | null;
  readonly template: { readonly deleted: boolean; readonly channel: string } | null;
  readonly senderId: string | null;
  readonly sender: { readonly deleted: boolean; readonly status: string; readonly channel: string } | null;
  readonly lists: readonly { readonly id: string; readonly found: boolean; readonly deleted: boolean }[];
  /** Segments the audience names that no longer exist. */
  readonly missingSegments?: readonly string[];
  /** Include segments that select nobody on the campaign's lists. */
  readonly emptySegments?: readonly string[];
  /** Include and exclude rules that cancel out whatever the contacts (see `audienceConflicts`). */
  readonly conflicts?: readonly string[];
  /** Contacts of the audience before the exclude segments (null when not counted). */
  readonly beforeExclusions?: number | null;
  /** The audience counted for the channel (null when not counted: no live list). */
  readonly audience: {
    /** Contacts the rules select. */
    readonly selected: number;
    /** Of those, contacts with an address for the channel. */
    readonly addressed: number;
    /** Of those, contacts not on the suppression list. */
    readonly deliverable: number;
  } | null;
  readonly providerConfigured: boolean;
  /** What sending would cost against the balance; null or absent when the channel is free or nothing is counted. */
  readonly cost?: CostEstimate | null;
}

/** INSUFFICIENT_BALANCE carries the figures, in micro-units, beside its sentence ("says by how much"). */
export interface InsufficientBalance extends FailureReason {
  readonly code: 'INSUFFICIENT_BALANCE';
  readonly estimate: number;
  readonly balance: number;
  readonly shortfall: number;
  readonly currency: string;
}

/** The INSUFFICIENT_BALANCE reason of a cost estimate the balance does not cover, or null. */
export function insufficientBalance(cost: CostEstimate): InsufficientBalance | null {
  if (cost.shortfall <= 0) return null;
  const money = (n: number) => formatMoney(n, cost.currency);
  const per = cost.unit === 'segment' ? ` × ${cost.unitsPerMessage} segment(s)` : '';
  return {
    code: 'INSUFFICIENT_BALANCE',
    detail:
      `Sending would cost about ${money(cost.estimate)} (${cost.messages} message(s)${per} at ${money(cost.price)} per ${cost.unit}) ` +
      `but the balance is ${money(cost.balance)}: top up at least ${money(cost.shortfall)}.`,
    count: cost.messages,
    estimate: cost.estimate,
    balance: cost.balance,
    shortfall: cost.shortfall,
    currency: cost.currency,
  };
}

export const preflightCodes = [
  'TEMPLATE_MISSING',
  'SENDER_MISSING',
  'SENDER_PAUSED',
  'SENDER_DELETED',
  'BOT_BLOCKED',
  'LIST_DELETED',
  'SEGMENT_DELETED',
  'SEGMENT_EMPTY',
  'AUDIENCE_CONFLICT',
  'AUDIENCE_EMPTY',
  'NO_ADDRESS_FOR_CHANNEL',
  'PROVIDER_NOT_CONFIGURED',
  'INSUFFICIENT_BALANCE',
] as const;

export function preflight(f: PreflightFacts): FailureReason[] {
  const reasons: FailureReason[] = [];
  if (!f.templateId) reasons.push({ code: 'TEMPLATE_MISSING', detail: 'The campaign has no template.' });
  else if (!f.template || f.template.deleted)
    reasons.push({ code: 'TEMPLATE_MISSING', detail: `Template ${f.templateId} was deleted or does not exist.` });
  else if (f.template.channel !== f.channel)
    reasons.push({ code: 'TEMPLATE_MISSING', detail: `Template ${f.templateId} is for ${f.template.channel}, not ${f.channel}.` });

  if (!f.senderId) reasons.push({ code: 'SENDER_MISSING', detail: 'The campaign has no sender.' });
  else if (!f.sender || f.sender.deleted)
    reasons.push({ code: 'SENDER_DELETED', detail: `Sender ${f.senderId} was deleted or does not exist.` });
  else if (f.sender.channel !== f.channel)
    reasons.push({ code: 'SENDER_MISSING', detail: `Sender ${f.senderId} sends ${f.sender.channel}, not ${f.channel}.` });
  else if (f.sender.status === 'paused') reasons.push({ code: 'SENDER_PAUSED', detail: `Sender ${f.senderId} is paused.` });
  else if (f.sender.status === 'blocked')
    reasons.push({
      code: 'BOT_BLOCKED',
      detail: `The provider refused sender ${f.senderId}'s credentials (a revoked or blocked bot); store new credentials to unblock it.`,
    });

  for (const list of f.lists) {
    if (!list.found || list.deleted) reasons.push({ code: 'LIST_DELETED', detail: `List ${list.id} was deleted or does not exist.` });
  }
  for (const id of f.missingSegments ?? [])
    reasons.push({ code: 'SEGMENT_DELETED', detail: `Segment ${id} was deleted or does not exist.` });
  for (const id of f.emptySegments ?? [])
    reasons.push({ code: 'SEGMENT_EMPTY', detail: `Segment ${id} selects no contact of the campaign's lists.` });
  for (const detail of f.conflicts ?? []) reasons.push({ code: 'AUDIENCE_CONFLICT', detail });
  const a = f.audience;
  if (f.lists.length === 0) reasons.push({ code: 'AUDIENCE_EMPTY', detail: 'The campaign targets no list.' });
  else if (a?.selected === 0) {
    // A conflict found in the rules themselves already says why nobody is left.
    if (!f.conflicts?.length && (f.beforeExclusions ?? 0) > 0)
      reasons.push({
        code: 'AUDIENCE_CONFLICT',
        detail: `The exclude segments remove all ${f.beforeExclusions} contacts the lists and include segments select.`,
      });
    else if (!f.conflicts?.length) reasons.push({ code: 'AUDIENCE_EMPTY', detail: 'The campaign’s audience selects no contact.' });
  } else if (a?.addressed === 0)
    reasons.push({
      code: 'NO_ADDRESS_FOR_CHANNEL',
      detail: `None of the ${a.selected} contacts of the audience has an address for ${f.channel}.`,
      count: a.selected,
    });
  else if (a?.deliverable === 0)
    reasons.push({
      code: 'AUDIENCE_EMPTY',
      detail: `All ${a.addressed} contacts of the audience with an address for ${f.channel} are on the suppression list.`,
    });

  if (!f.providerConfigured)
    reasons.push({
      code: 'PROVIDER_NOT_CONFIGURED',
      detail:
        f.channel === 'email'
          ? 'No email provider is configured and sandbox mode is off (set SMTP_HOST or EMAIL_HTTP_URL, or HERALD_SANDBOX=on).'
          : `No ${f.channel} provider is configured and sandbox mode is off: give the sender its credentials, configure the provider in the environment, or set HERALD_SANDBOX=on.`,
    });
  const short = f.cost ? insufficientBalance(f.cost) : null;
  if (short) reasons.push(short);
  return reasons;
}

/** A rule tree in one spelling (object keys sorted), so two rules can be compared. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/**
 * AUDIENCE_CONFLICT found in the rules alone, whatever the contacts (seed 003's "conflicting
 * inclusion/exclusion rules"): a segment both included and excluded, an include segment
 * whose rule is an exclude segment's, or a one-time rule that an exclude segment repeats.
 * Each such include selects only people the exclusion then removes. `rules` holds the
 * rule of every segment the audience names that still exists.
 */
export function audienceConflicts(
  audience: { readonly segmentIds?: readonly string[]; readonly excludeSegmentIds?: readonly string[]; readonly rule?: unknown },
  rules: ReadonlyMap<string, unknown>,
): string[] {
  const out: string[] = [];
  const excludes = audience.excludeSegmentIds ?? [];
  const excluded = new Map<string, string>();
  for (const id of excludes) if (rules.has(id)) excluded.set(canonical(rules.get(id)), id);
  for (const id of audience.segmentIds ?? []) {
    if (excludes.includes(id)) out.push(`Segment ${id} is both included and excluded, so it adds nobody.`);
    else if (rules.has(id) && excluded.has(canonical(rules.get(id))))
      out.push(`Segment ${id} includes exactly the contacts exclude segment ${excluded.get(canonical(rules.get(id)))} removes.`);
  }
  if (audience.rule !== undefined && excluded.has(canonical(audience.rule)))
    out.push(`The one-time rule requires exactly the contacts exclude segment ${excluded.get(canonical(audience.rule))} removes.`);
  return out;
}
