import { type Static, Type } from '@sinclair/typebox';
import { assertUnreachable } from './errors.js';
import { type Segment, addDays } from './segment.js';

/**
 * Automation triggers (seed 000's Live/Unpublished automations; issue 6): per-contact
 * sends with no journey builder.
 *
 * - `date_anniversary`: the month and day of a date attribute (a birthday), at `hour`
 *   in the contact's own zone (the workspace's without one); once per contact per year.
 *   29 February birthdays are celebrated on 28 February in common years.
 * - `date_offset`: `days` before or after a date attribute (a membership renewal), at
 *   `hour` local; once per contact per year.
 * - `event`: `POST /v1/events` with this `name` for a contact; at most once per contact per day.
 * - `segment_entry`: a contact who starts matching the segment (and did not at the last
 *   evaluation, a minute or so before); those already in it when the automation is
 *   published do not enter. At most once per contact per day; leaving and entering
 *   again another day enters again.
 *
 * Each automation's ledger is a run per period (the contact's local year for date
 * triggers, the UTC day for events), and the ledger's (run_id, contact_id) key is what
 * makes "once per contact per period" hold across restarts and workers.
 */
const hour = Type.Integer({ minimum: 0, maximum: 23, description: 'Local hour of the contact (0-23) at which it is sent' });
const attribute = Type.String({
  pattern: '^[A-Za-z0-9_.-]{1,100}$',
  description: 'A custom date attribute (`YYYY-MM-DD…`), e.g. `birthday` for attributes.birthday',
});

export const Trigger = Type.Union([
  Type.Object({ type: Type.Literal('date_anniversary'), attribute, hour }, { additionalProperties: false }),
  Type.Object(
    {
      type: Type.Literal('date_offset'),
      attribute,
      days: Type.Integer({ minimum: 0, maximum: 366 }),
      direction: Type.Unsafe<'before' | 'after'>({ type: 'string', enum: ['before', 'after'] }),
      hour,
    },
    { additionalProperties: false },
  ),
  Type.Object(
    { type: Type.Literal('event'), name: Type.String({ minLength: 1, maxLength: 100, description: 'The event name to react to' }) },
    { additionalProperties: false },
  ),
  Type.Object(
    {
      type: Type.Literal('segment_entry'),
      segmentId: Type.String({ minLength: 1, maxLength: 100, description: 'Contacts who newly match this segment enter' }),
    },
    { additionalProperties: false },
  ),
]);
export type Trigger = Static<typeof Trigger>;
export type DateTrigger = Extract<Trigger, { type: 'date_anniversary' | 'date_offset' }>;

export function isDateTrigger(trigger: Trigger): trigger is DateTrigger {
  return trigger.type === 'date_anniversary' || trigger.type === 'date_offset';
}

/**
 * The segment of contacts a date trigger fires for on their own "today" (the segment
 * compiler reads today in each contact's zone).
 */
export function firesToday(trigger: DateTrigger): Segment {
  const date = `attributes.${trigger.attribute}`;
  switch (trigger.type) {
    case 'date_anniversary':
      return { date, op: 'anniversary_in', days: 0 };
    case 'date_offset': {
      // The date is exactly `days` after today (before) or before it (after): a window of N days minus that of N-1.
      const op = trigger.direction === 'before' ? 'within_next' : 'within_last';
      if (trigger.days === 0) return { date, op, days: 0 };
      return { and: [{ date, op, days: trigger.days }, { not: { date, op, days: trigger.days - 1 } }] };
    }
    default:
      return assertUnreachable(trigger);
  }
}

/**
 * For the calendar: the attribute value (`MM-DD` for anniversaries, `YYYY-MM-DD` for
 * offsets) that fires on the calendar day `day`.
 */
export function firingKeys(trigger: DateTrigger, day: string): string[] {
  switch (trigger.type) {
    case 'date_anniversary': {
      const md = day.slice(5);
      const year = Number(day.slice(0, 4));
      const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
      return md === '02-28' && !leap ? ['02-28', '02-29'] : [md];
    }
    case 'date_offset':
      return [addDays(day, trigger.direction === 'before' ? trigger.days : -trigger.days)];
    default:
      return assertUnreachable(trigger);
  }
}

/** The period key of an event automation's run: the UTC day. */
export function eventPeriod(now: Date): string {
  return `${now.toISOString().slice(0, 10)}T00:00:00.000Z`;
}

/** The period key of a date trigger's run: the contact's local year. */
export function yearPeriod(year: number): string {
  return `${String(year).padStart(4, '0')}-01-01T00:00:00.000Z`;
}

export const AutomationEvent = Type.Object(
  {
    contact: Type.Object(
      {
        id: Type.Optional(Type.Integer({ minimum: 1 })),
        email: Type.Optional(Type.String({ minLength: 3, maxLength: 320 })),
        externalId: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      },
      { additionalProperties: false, description: 'Who it happened to: one of id, email or externalId' },
    ),
    name: Type.String({ minLength: 1, maxLength: 100 }),
    properties: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'Kept with each message the event queues, for its template: `{{ event.properties.total }}`; at most 16 KiB as JSON',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AutomationEvent = Static<typeof AutomationEvent>;

export const EventResult = Type.Object({
  contactId: Type.Integer(),
  name: Type.String(),
  automations: Type.Array(
    Type.Object({
      campaignId: Type.String(),
      queued: Type.Boolean({ description: 'A message was queued for the contact' }),
      reason: Type.Union([Type.String(), Type.Null()], {
        description: 'Why not: NOT_IN_AUDIENCE, FREQUENCY_CAP (or already sent this period), NO_ADDRESS',
      }),
    }),
  ),
});
export type EventResult = Static<typeof EventResult>;
