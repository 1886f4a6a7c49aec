import { type Static, Type } from '@sinclair/typebox';
import { type Result, fail, ok } from './errors.js';
import {
  type CampaignStatus,
  type Channel,
  type EditGroup,
  campaignStatuses,
  channels,
  editGroups,
  outcomes,
  userActions,
} from './lifecycle.js';
import { Delivery, Recurrence } from './schedule.js';
import { Trigger } from './automation.js';
import { StringEnum } from './string-enum.js';

/**
 * The campaign's shapes, declared once (STYLE habit 4): the API validates and documents
 * with them, the CLI and the UI read the same types.
 */

export const launchTypes = ['now', 'manual', 'scheduled', 'recurring', 'triggered'] as const;
export type LaunchType = (typeof launchTypes)[number];

/**
 * Who receives a campaign (seed 003): members of its lists, narrowed to any of the include
 * segments, minus every exclude segment, and filtered by a one-time rule.
 */
export const Audience = Type.Object(
  {
    listIds: Type.Array(Type.String({ minLength: 1 }), { maxItems: 100, description: 'Lists whose members receive the campaign' }),
    segmentIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { maxItems: 50, description: 'Send only to contacts in any of these segments' }),
    ),
    excludeSegmentIds: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), { maxItems: 50, description: 'Never send to contacts in these segments' }),
    ),
    // Checked by validateSegment, which names the bad node's path.
    rule: Type.Optional(Type.Unknown({ description: 'A one-time segment: a rule tree that applies to this campaign only' })),
  },
  { additionalProperties: false },
);
export type Audience = Static<typeof Audience>;

/** What a launch would send now (GET /v1/campaigns/{id}/audience/estimate). */
export const AudienceEstimate = Type.Object({
  campaignId: Type.String(),
  channel: StringEnum(channels),
  selected: Type.Integer({ description: 'Contacts the audience rules select' }),
  willSend: Type.Integer({
    description: 'Messages a launch would send: selected, with an address (on the channel or a fallback), not suppressed',
  }),
  suppressed: Type.Integer({ description: 'Selected contacts whose address is on the suppression list (ledger rows `suppressed`)' }),
  noAddress: Type.Integer({ description: 'Selected contacts without an address for the channel nor any fallback (no ledger row)' }),
  sample: Type.Array(
    Type.Object({
      id: Type.Integer(),
      email: Type.Union([Type.String(), Type.Null()]),
      phone: Type.Union([Type.String(), Type.Null()]),
      address: Type.String(),
    }),
    { description: 'The first recipients by contact id' },
  ),
});
export type AudienceEstimate = Static<typeof AudienceEstimate>;

export const AutoPause = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    failureRate: Type.Number({
      exclusiveMinimum: 0,
      maximum: 1,
      default: 0.05,
      description: 'Pause when more than this share of recent sends fail',
    }),
    minSends: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 100, description: 'Judge only after this many sends in the window' }),
    windowMinutes: Type.Integer({ minimum: 1, maximum: 1440, default: 10, description: 'How far back the window reaches' }),
  },
  { additionalProperties: false },
);
export type AutoPause = Static<typeof AutoPause>;

/** Seed 001: "Pause if failure rate > 5% — watch the first 50-100 sends". */
export const defaultAutoPause: AutoPause = { enabled: true, failureRate: 0.05, minSends: 100, windowMinutes: 10 };

export const Pacing = Type.Object(
  {
    batchSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'Messages claimed and sent per batch' })),
    ttlMinutes: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 525_600, description: 'Messages not sent this long after launch expire (seed 003 TTL)' }),
    ),
    autoPause: Type.Optional(Type.Partial(AutoPause, { additionalProperties: false })),
    frequencyCapDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 3660, description: 'Automations: at most one message per contact in this many days' }),
    ),
  },
  { additionalProperties: false },
);
export type Pacing = Static<typeof Pacing>;

export const FailureReason = Type.Object({
  code: Type.String(),
  detail: Type.String(),
  count: Type.Optional(Type.Integer({ description: 'How many contacts the reason concerns (NO_ADDRESS_FOR_CHANNEL)' })),
  // INSUFFICIENT_BALANCE says by how much, in micro-units of the workspace's currency.
  estimate: Type.Optional(Type.Integer({ description: 'INSUFFICIENT_BALANCE: the estimated cost' })),
  balance: Type.Optional(Type.Integer({ description: 'INSUFFICIENT_BALANCE: the balance' })),
  shortfall: Type.Optional(Type.Integer({ description: 'INSUFFICIENT_BALANCE: what is missing' })),
  currency: Type.Optional(Type.String({ description: 'INSUFFICIENT_BALANCE: the currency of the amounts' })),
});
export type FailureReason = Static<typeof FailureReason>;

/**
 * One fallback channel of a campaign (DESIGN §8): a contact with no address on the channels
 * before it, or whose message failed permanently on them, gets the message on this one,
 * rendered from this template and sent from this sender.
 */
export const CampaignFallback = Type.Object(
  {
    channel: StringEnum(channels, 'A channel other than the campaign’s own and the other fallbacks’'),
    templateId: Type.String({ minLength: 1, description: 'A template of that channel' }),
    senderId: Type.String({ minLength: 1, description: 'A sender of that channel' }),
  },
  { additionalProperties: false },
);
export type CampaignFallback = Static<typeof CampaignFallback>;

/**
 * A send time: an instant with an offset, or a wall time without one
 * (`2026-03-29T10:00`), read in the workspace's time zone.
 */
export const SendTime = Type.Union([
  Type.String({ format: 'date-time' }),
  Type.String({
    pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d{1,3})?)?$',
    description: 'A wall time in the workspace’s zone',
  }),
]);

const editable = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  description: Type.Union([Type.String({ maxLength: 2000 }), Type.Null()]),
  tags: Type.Array(Type.String({ minLength: 1, maxLength: 50 }), { maxItems: 50 }),
  launchType: StringEnum(
    launchTypes,
    'now: launch starts sending; manual: finalize to ready, launch by hand; scheduled: send at sendAt; recurring: every occurrence of `recurrence`',
  ),
  sendAt: Type.Union([SendTime, Type.Null()]),
  recurrence: Type.Union([Recurrence, Type.Null()], { description: 'Recurring campaigns: the cron rule, its zone and its end' }),
  delivery: Type.Union([Delivery, Type.Null()], { description: 'Each recipient’s local send time and quiet hours' }),
  trigger: Type.Union([Trigger, Type.Null()], {
    description: 'Automations: what lets a contact in (date anniversary, date offset, event)',
  }),
  templateId: Type.Union([Type.String(), Type.Null()]),
  senderId: Type.Union([Type.String(), Type.Null()]),
  audience: Audience,
  pacing: Pacing,
  fallback: Type.Array(CampaignFallback, {
    maxItems: 7,
    description:
      'Fallback channels, in order (e.g. SMS, then Telegram): a contact with no address on the campaign’s channel gets the ' +
      'first fallback it has an address on, and a message that fails permanently moves to the next such channel. Each has ' +
      'its own template and sender of its channel; the channels are distinct and not the campaign’s own. Empty: none.',
  }),
};

/** Every editable field, optional: what a create may set and a PATCH may change. */
const optionalEditable = Type.Partial(Type.Object(editable)).properties;

export const CampaignCreate = Type.Object(
  {
    ...optionalEditable,
    name: editable.name,
    kind: Type.Optional(
      StringEnum(
        ['broadcast', 'recurring', 'automation'] as const,
        'broadcast: one-time; recurring: one run per occurrence of `recurrence`; automation: per-contact sends on `trigger`',
      ),
    ),
    channel: Type.Optional(
      StringEnum(channels, 'The channel it sends on (default email); its template and sender must be for the same channel'),
    ),
  },
  { additionalProperties: false },
);
export type CampaignCreate = Static<typeof CampaignCreate>;

export const CampaignPatch = Type.Object(
  {
    version: Type.Integer({ minimum: 1, description: 'The version you read; a stale one answers 409' }),
    ...optionalEditable,
  },
  { additionalProperties: false },
);
export type CampaignPatch = Static<typeof CampaignPatch>;
export type EditableField = keyof typeof editable;

/** Which edit group each field belongs to (DESIGN §2's per-status edit rules). */
export const fieldGroups: Readonly<Record<EditableField, EditGroup>> = {
  name: 'meta',
  description: 'meta',
  tags: 'meta',
  templateId: 'content',
  senderId: 'content',
  fallback: 'content',
  audience: 'audience',
  launchType: 'schedule',
  sendAt: 'schedule',
  recurrence: 'schedule',
  delivery: 'schedule',
  trigger: 'schedule',
  pacing: 'pacing',
};

export function fieldsOf(groups: readonly EditGroup[]): EditableField[] {
  return (Object.keys(fieldGroups) as EditableField[]).filter((f) => groups.includes(fieldGroups[f]));
}

export const CampaignCounts = Type.Object({
  total: Type.Integer(),
  pending: Type.Integer(),
  inFlight: Type.Integer({ description: 'Claimed and not yet recorded: after a pause, the drain still under way' }),
  sent: Type.Integer(),
  delivered: Type.Integer({ description: 'Delivered, including those read, opened or clicked since' }),
  read: Type.Integer({ description: 'Seen on a messenger (Viber, Telegram) or a push notification opened' }),
  opened: Type.Integer(),
  clicked: Type.Integer(),
  failed: Type.Integer(),
  bounced: Type.Integer(),
  complained: Type.Integer(),
  unsubscribed: Type.Integer(),
  suppressed: Type.Integer(),
  cancelled: Type.Integer(),
  expired: Type.Integer(),
  processed: Type.Integer(),
  waiting: Type.Integer({
    description:
      'Of pending: waiting for the recipient’s local send time or the end of their quiet hours (campaigns with `delivery` rules)',
  }),
});

/** One run of a campaign: a launch, or one occurrence of a recurring campaign, with its own audience snapshot and counts. */
export const Run = Type.Object({
  id: Type.Integer(),
  number: Type.Integer({ description: '1 for the first run of the campaign' }),
  occurrenceAt: Type.Union([Type.String(), Type.Null()], {
    description: 'The scheduled instant the run is for (unique per campaign), or when it was started by hand',
  }),
  createdAt: Type.String(),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([StringEnum(outcomes), Type.Null()]),
  snapshotDone: Type.Boolean(),
  counts: CampaignCounts,
});
export type Run = Static<typeof Run>;

export const Campaign = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String(),
  channel: StringEnum(channels),
  status: StringEnum(campaignStatuses),
  outcome: Type.Union([StringEnum(outcomes), Type.Null()]),
  archived: Type.Boolean(),
  launchType: StringEnum(launchTypes),
  sendAt: Type.Union([Type.String(), Type.Null()], { description: 'The next send time (recurring: the next occurrence), UTC' }),
  sendAtLocal: Type.Union([Type.String(), Type.Null()], { description: 'sendAt on the workspace’s wall clock, with its offset' }),
  timeZone: Type.String({ description: 'The workspace’s time zone, in which wall times are read and shown' }),
  recurrence: Type.Union([Recurrence, Type.Null()]),
  delivery: Type.Union([Delivery, Type.Null()]),
  trigger: Type.Union([Trigger, Type.Null()]),
  templateId: Type.Union([Type.String(), Type.Null()]),
  senderId: Type.Union([Type.String(), Type.Null()]),
  audience: Audience,
  pacing: Pacing,
  fallback: Type.Array(CampaignFallback, { description: 'Fallback channels, in order; empty: none' }),
  tags: Type.Array(Type.String()),
  failureReasons: Type.Array(FailureReason),
  version: Type.Integer(),
  clonedFrom: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
  launchedAt: Type.Union([Type.String(), Type.Null()]),
  finishedAt: Type.Union([Type.String(), Type.Null()]),
  allowedActions: Type.Array(StringEnum(userActions)),
  editableFields: Type.Array(Type.String()),
  counts: CampaignCounts,
});
export type Campaign = Static<typeof Campaign>;

/** The fields a campaign lacks before it can be sent, by name; empty when it is complete. */
export function missingFields(c: {
  name: string;
  launchType: LaunchType;
  sendAt: string | null;
  templateId: string | null;
  senderId: string | null;
  audience: Audience;
  recurrence?: Recurrence | null;
  trigger?: Trigger | null;
}): string[] {
  const missing: string[] = [];
  if (!c.templateId) missing.push('templateId');
  if (!c.senderId) missing.push('senderId');
  if (c.audience.listIds.length === 0) missing.push('audience.listIds');
  if (c.launchType === 'scheduled' && !c.sendAt) missing.push('sendAt');
  if (c.launchType === 'recurring' && !c.recurrence) missing.push('recurrence');
  if (c.launchType === 'triggered' && !c.trigger) missing.push('trigger');
  return missing;
}

/** Statuses whose campaign may still be sending something (the engine watches these). */
export const activeStatuses: readonly CampaignStatus[] = ['queued', 'sending', 'paused', 'stopped', 'failed'];

export { editGroups };

/**
 * Reads a send time. JSON Schema's date-time admits values a Date cannot hold (a leap
 * second, year 10000 once converted to UTC); they are refused here as a 400.
 */
export function parseSendAt(value: string, field = 'body/sendAt'): Result<Date> {
  const at = new Date(value);
  const year = at.getUTCFullYear();
  if (!Number.isFinite(at.getTime()) || year < 2000 || year > 9999) {
    return fail('VALIDATION_FAILED', `${field} must be a date-time between the years 2000 and 9999`, {
      errors: [{ field, message: 'is not a usable date-time' }],
    });
  }
  return ok(at);
}

/** A campaign's fallback channels as stored (campaigns.fallback: JSON, or null for none). */
export function parseFallback(raw: string | null): CampaignFallback[] {
  return raw ? (JSON.parse(raw) as CampaignFallback[]) : [];
}

/** The channels a campaign tries, in order: its own, then each fallback's. */
export function channelChain(channel: Channel, fallback: readonly CampaignFallback[]): Channel[] {
  return [channel, ...fallback.map((f) => f.channel)];
}

/** Refuses fallbacks that repeat a channel or name the campaign's own (400, naming the entry). */
export function checkFallback(channel: Channel, fallback: readonly CampaignFallback[]): Result<CampaignFallback[]> {
  const seen = new Set<Channel>([channel]);
  for (const [i, f] of fallback.entries()) {
    if (seen.has(f.channel)) {
      const field = `body/fallback/${i}/channel`;
      const message = f.channel === channel ? `is the campaign's own channel (${channel})` : `repeats ${f.channel}`;
      return fail('VALIDATION_FAILED', `${field} ${message}: fallback channels are distinct and not the campaign's own`, {
        errors: [{ field, message }],
      });
    }
    seen.add(f.channel);
  }
  return ok([...fallback]);
}
