import type { FailureReason } from './campaign.js';
import type { Channel } from './lifecycle.js';
import { type CostEstimate, formatMoney } from './money.js';

/**
 * Preflight (DESIGN §5, seed 003's failure reasons): everything that would stop a campaign
 * from going out, all at once, from facts the caller gathered. Runs before schedule,
 * launch, restart and retry, and again when a scheduled campaign comes due.
 */
export interface PreflightFacts extends ChannelFacts {
  /** The campaign's fallback channels, in order, checked like its own (DESIGN §8). */
  readonly fallback?: readonly ChannelFacts[];
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
    /** Of those, contacts with an address for the channel (or any of its fallbacks). */
    readonly addressed: number;
    /** Of those, contacts not on the suppression list. */
    readonly deliverable: number;
  } | null;
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
  'TEMPLATE_INVALID',
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

/** What preflight checks of one channel a campaign sends on: its own, or a fallback's. */
export interface ChannelFacts {
  readonly channel: Channel;
  readonly templateId: string | null;
  readonly template: {
    readonly deleted: boolean;
    readonly channel: string;
    /** Parts whose Liquid does not parse, as "field: message" naming Liquid's line. */
    readonly invalid?: readonly string[];
  } | null;
  readonly senderId: string | null;
  readonly sender: { readonly deleted: boolean; readonly status: string; readonly channel: string } | null;
  readonly providerConfigured: boolean;
}

/** TEMPLATE_*, SENDER_*, BOT_BLOCKED and PROVIDER_NOT_CONFIGURED of one channel; a fallback's details say which. */
function channelReasons(f: ChannelFacts, fallback: number | null): FailureReason[] {
  const reasons: FailureReason[] = [];
  const of = fallback === null ? '' : `Fallback ${fallback} (${f.channel}): `;
  const push = (code: string, detail: string) => reasons.push({ code, detail: `${of}${detail}` });
  if (!f.templateId) push('TEMPLATE_MISSING', 'The campaign has no template.');
  else if (!f.template || f.template.deleted) push('TEMPLATE_MISSING', `Template ${f.templateId} was deleted or does not exist.`);
  else if (f.template.channel !== f.channel)
    push('TEMPLATE_MISSING', `Template ${f.templateId} is for ${f.template.channel}, not ${f.channel}.`);
  else if (f.template.invalid?.length)
    push('TEMPLATE_INVALID', `Template ${f.templateId} does not parse: ${f.template.invalid.join('; ')}.`);

  if (!f.senderId) push('SENDER_MISSING', 'The campaign has no sender.');
  else if (!f.sender || f.sender.deleted) push('SENDER_DELETED', `Sender ${f.senderId} was deleted or does not exist.`);
  else if (f.sender.channel !== f.channel) push('SENDER_MISSING', `Sender ${f.senderId} sends ${f.sender.channel}, not ${f.channel}.`);
  else if (f.sender.status === 'paused') push('SENDER_PAUSED', `Sender ${f.senderId} is paused.`);
  else if (f.sender.status === 'blocked')
    push(
      'BOT_BLOCKED',
      `The provider refused sender ${f.senderId}'s credentials (a revoked or blocked bot); store new credentials to unblock it.`,
    );
  if (!f.providerConfigured)
    push(
      'PROVIDER_NOT_CONFIGURED',
      f.channel === 'email'
        ? 'No email provider is configured and sandbox mode is off (set SMTP_HOST or EMAIL_HTTP_URL, or HERALD_SANDBOX=on).'
        : `No ${f.channel} provider is configured and sandbox mode is off: give the sender its credentials, configure the provider in the environment, or set HERALD_SANDBOX=on.`,
    );
  return reasons;
}

export function preflight(f: PreflightFacts): FailureReason[] {
  const own = channelReasons(f, null);
  const provider = own.filter((r) => r.code === 'PROVIDER_NOT_CONFIGURED');
  const reasons: FailureReason[] = own.filter((r) => r.code !== 'PROVIDER_NOT_CONFIGURED');
  for (const [i, fb] of (f.fallback ?? []).entries()) {
    const theirs = channelReasons(fb, i + 1);
    reasons.push(...theirs.filter((r) => r.code !== 'PROVIDER_NOT_CONFIGURED'));
    provider.push(...theirs.filter((r) => r.code === 'PROVIDER_NOT_CONFIGURED'));
  }
  const channelNames = [f.channel, ...(f.fallback ?? []).map((fb) => fb.channel)].join(' or ');

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
      detail: `None of the ${a.selected} contacts of the audience has an address for ${channelNames}.`,
      count: a.selected,
    });
  else if (a?.deliverable === 0)
    reasons.push({
      code: 'AUDIENCE_EMPTY',
      detail: `All ${a.addressed} contacts of the audience with an address for ${channelNames} are on the suppression list.`,
    });

  reasons.push(...provider);
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
