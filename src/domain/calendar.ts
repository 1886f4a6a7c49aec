import { type Static, Type } from '@sinclair/typebox';
import { campaignStatuses, channels } from './lifecycle.js';
import { launchTypes } from './campaign.js';

const StringEnum = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });

export const calendarEntryKinds = ['run', 'scheduled', 'occurrence', 'automation'] as const;

/**
 * One entry of the launch calendar (seed 003): a campaign's primary information at one
 * time. `run`: a launch that happened (its run); `scheduled`: a one-time send waiting
 * for its time; `occurrence`: a recurring campaign's future occurrence; `automation`: a
 * live automation's expected sends on a day (birthdays and date offsets, counted from
 * today's contacts).
 */
export const CalendarEntry = Type.Object({
  campaignId: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  kind: Type.String({ description: 'broadcast, recurring or automation' }),
  channel: StringEnum(channels),
  status: StringEnum(campaignStatuses),
  launchType: StringEnum(launchTypes),
  entry: StringEnum(calendarEntryKinds),
  at: Type.String({ description: 'UTC instant' }),
  atLocal: Type.String({ description: 'The same instant on the workspace’s wall clock' }),
  runNumber: Type.Optional(Type.Integer()),
  expected: Type.Optional(Type.Integer({ description: 'automation: how many contacts the trigger would reach that day' })),
});
export type CalendarEntry = Static<typeof CalendarEntry>;

export const CalendarQuery = Type.Object(
  {
    from: Type.String({ format: 'date-time', description: 'Start of the range, included' }),
    to: Type.String({ format: 'date-time', description: 'End of the range, excluded; at most 92 days after from' }),
  },
  { additionalProperties: false },
);

/** The longest range one calendar request may ask for: a quarter. */
export const calendarMaxDays = 92;
