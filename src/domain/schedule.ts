import { type Static, Type } from '@sinclair/typebox';
import { Cron } from 'croner';
import { DateTime } from 'luxon';
import { type Result, fail, ok } from './errors.js';

/**
 * Time rules (DESIGN §2, issue 6): send times written in the workspace's zone, cron
 * recurrences in a zone, each recipient's own local send time and quiet hours, and what
 * happens to a schedule that came due while Herald was not running. Pure: `now` is always
 * a parameter. croner expands cron rules in a zone; Luxon turns a local wall time into an
 * instant. Both follow the IANA database across DST: a wall time that does not exist
 * (02:30 on a spring-forward night) is the first instant after the gap, and a wall time
 * that exists twice (01:30 on a fall-back night) is the first of the two, so it happens once.
 */

const clockTime = '^([01][0-9]|2[0-3]):[0-5][0-9]$';

export const Recurrence = Type.Object(
  {
    cron: Type.String({
      minLength: 9,
      maxLength: 120,
      description: 'Five-field cron rule (minute hour day-of-month month day-of-week), e.g. `0 9 * * 1` for Mondays at 09:00',
    }),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: 'IANA zone the rule is read in; the workspace’s when absent' }),
    ),
    endAt: Type.Optional(Type.String({ format: 'date-time', description: 'No occurrence after this instant' })),
    maxRuns: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000, description: 'Stop after this many runs' })),
  },
  { additionalProperties: false },
);
export type Recurrence = Static<typeof Recurrence>;

export const QuietHours = Type.Object(
  {
    start: Type.String({ pattern: clockTime, description: 'Local time quiet hours begin, e.g. 21:00' }),
    end: Type.String({ pattern: clockTime, description: 'Local time they end, e.g. 08:00 (may be on the next day)' }),
  },
  { additionalProperties: false },
);
export type QuietHours = Static<typeof QuietHours>;

export const Delivery = Type.Object(
  {
    localTime: Type.Optional(
      Type.String({
        pattern: clockTime,
        description:
          'Send at this time in each recipient’s own zone (the workspace’s for contacts without one): the first such time at or after the launch',
      }),
    ),
    quietHours: Type.Optional(QuietHours),
  },
  { additionalProperties: false },
);
export type Delivery = Static<typeof Delivery>;

/** Whether the runtime knows the IANA zone. */
export function isTimeZone(zone: string): boolean {
  return DateTime.now().setZone(zone).isValid;
}

const minutesOf = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/**
 * The first instant at or after `after` whose wall clock in `zone` reads `hhmm`. On a
 * spring-forward day a missing time becomes the first instant after the gap; on a
 * fall-back day a doubled time is its first occurrence.
 */
export function nextLocalTime(after: Date, hhmm: string, zone: string): Date {
  const local = DateTime.fromJSDate(after, { zone });
  const target = minutesOf(hhmm);
  for (let day = 0; day < 3; day++) {
    const date = local.startOf('day').plus({ days: day });
    const at = wallTime(date.year, date.month, date.day, target, zone);
    if (at.getTime() >= after.getTime()) return at;
  }
  throw new Error(`no ${hhmm} in ${zone} within three days of ${after.toISOString()}`);
}

/** The instant of a wall time on a calendar date in a zone (DST handled as described at the top). */
export function wallTime(year: number, month: number, day: number, minutes: number, zone: string): Date {
  const dt = DateTime.fromObject({ year, month, day, hour: Math.floor(minutes / 60), minute: minutes % 60 }, { zone });
  // Luxon picks one offset for a doubled wall time; an hour earlier reading the same is the first.
  const earlier = dt.minus({ hours: 1 });
  const wall = (d: DateTime) => d.toFormat('yyyy-MM-dd HH:mm');
  return (wall(earlier) === wall(dt) ? earlier : dt).toJSDate();
}

/** Minutes since local midnight at `at` in `zone`. */
function localMinutes(at: Date, zone: string): number {
  const local = DateTime.fromJSDate(at, { zone });
  return local.hour * 60 + local.minute;
}

/** Whether `at` falls inside the quiet hours in `zone` (start included, end excluded; they may span midnight). */
export function inQuietHours(at: Date, quiet: QuietHours, zone: string): boolean {
  const m = localMinutes(at, zone);
  const start = minutesOf(quiet.start);
  const end = minutesOf(quiet.end);
  if (start === end) return false;
  return start < end ? m >= start && m < end : m >= start || m < end;
}

/**
 * When a message due at `due` for a recipient in `zone` may go: `due` itself, or the end of
 * the quiet hours it falls in.
 */
export function outsideQuietHours(due: Date, quiet: QuietHours | undefined, zone: string): Date {
  if (!quiet || !inQuietHours(due, quiet, zone)) return due;
  return nextLocalTime(due, quiet.end, zone);
}

/** When a recipient's message is due: their local send time (if any) at or after `launch`, moved out of quiet hours. */
export function recipientDue(launch: Date, delivery: Delivery, zone: string): Date {
  const due = delivery.localTime ? nextLocalTime(launch, delivery.localTime, zone) : launch;
  return outsideQuietHours(due, delivery.quietHours, zone);
}

/** Checks a recurrence: a cron rule croner reads, a known zone. */
export function validateRecurrence(rule: Recurrence, workspaceZone: string): Result<Recurrence> {
  const zone = rule.timeZone ?? workspaceZone;
  if (!isTimeZone(zone))
    return fail('VALIDATION_FAILED', `recurrence.timeZone "${zone}" is not an IANA time zone`, {
      errors: [{ field: 'body/recurrence/timeZone', message: 'is not an IANA time zone' }],
    });
  if (rule.cron.trim().split(/\s+/).length !== 5)
    return fail('VALIDATION_FAILED', 'recurrence.cron must have five fields: minute hour day-of-month month day-of-week', {
      errors: [{ field: 'body/recurrence/cron', message: 'must have five fields' }],
    });
  try {
    new Cron(rule.cron, { paused: true, timezone: zone });
  } catch (err) {
    return fail('VALIDATION_FAILED', `recurrence.cron: ${(err as Error).message}`, {
      errors: [{ field: 'body/recurrence/cron', message: 'is not a cron rule' }],
    });
  }
  return ok(rule);
}

/**
 * The next occurrence strictly after `after`, or null when the rule has ended (past
 * `endAt`, or `maxRuns` runs already made).
 */
export function nextOccurrence(rule: Recurrence, workspaceZone: string, after: Date, runsSoFar = 0): Date | null {
  if (rule.maxRuns !== undefined && runsSoFar >= rule.maxRuns) return null;
  const next = new Cron(rule.cron, { paused: true, timezone: rule.timeZone ?? workspaceZone }).nextRun(after);
  if (!next) return null;
  if (rule.endAt && next.getTime() > Date.parse(rule.endAt)) return null;
  return next;
}

/** Occurrences in [from, to), at most `limit`, for the calendar. */
export function occurrencesBetween(rule: Recurrence, workspaceZone: string, from: Date, to: Date, limit: number, runsSoFar = 0): Date[] {
  const out: Date[] = [];
  let cursor = new Date(from.getTime() - 1000);
  while (out.length < limit) {
    const next = nextOccurrence(rule, workspaceZone, cursor, runsSoFar + out.length);
    if (!next || next.getTime() >= to.getTime()) break;
    if (next.getTime() >= from.getTime()) out.push(next);
    cursor = next;
  }
  return out;
}

/** Default grace window for schedules that came due while Herald was not running. */
export const defaultGraceMinutes = 60;

/**
 * What to do with a schedule whose time `sendAt` has come (`sendAt <= now`):
 * - `start`: within the grace window, start it (late by at most the window);
 * - `missed`: a one-time send past the window is not sent late without a person: it
 *   fails with SCHEDULE_PASSED (send now with retry, or pick a new time);
 * - `skip`: a recurrence skips the occurrences past the window and waits for its next
 *   one (`next`, null when the rule has ended); `occurrence` is the latest one that is
 *   still within the window, which then starts instead.
 */
export type DueDecision =
  | { readonly kind: 'start'; readonly occurrence: Date }
  | { readonly kind: 'missed'; readonly lateMinutes: number }
  | { readonly kind: 'skip'; readonly skipped: number; readonly next: Date | null };

export function dueDecision(args: {
  readonly sendAt: Date;
  readonly now: Date;
  readonly graceMinutes: number;
  readonly recurrence: Recurrence | null;
  readonly workspaceZone: string;
  readonly runsSoFar: number;
}): DueDecision {
  const { sendAt, now, graceMinutes } = args;
  const graceMs = graceMinutes * 60_000;
  const late = now.getTime() - sendAt.getTime();
  if (late <= graceMs) return { kind: 'start', occurrence: sendAt };
  if (!args.recurrence) return { kind: 'missed', lateMinutes: Math.floor(late / 60_000) };
  // Walk the occurrences that came due while nobody ran them; the latest within the window starts.
  let skipped = 0;
  let current = sendAt;
  for (;;) {
    const next = nextOccurrence(args.recurrence, args.workspaceZone, current, args.runsSoFar);
    if (next === null || next.getTime() > now.getTime()) return { kind: 'skip', skipped: skipped + 1, next };
    skipped++;
    current = next;
    if (now.getTime() - next.getTime() <= graceMs) return { kind: 'start', occurrence: next };
    if (skipped > 100_000) return { kind: 'skip', skipped, next: nextOccurrence(args.recurrence, args.workspaceZone, now, args.runsSoFar) };
  }
}

const localNoOffset = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?$/;

/**
 * Reads a send time: an instant with an offset (`2026-03-29T10:00:00Z`, `…+02:00`), or a
 * wall time without one (`2026-03-29T10:00`), read in the workspace's zone.
 */
export function parseSendTime(value: string, workspaceZone: string, field = 'body/sendAt'): Result<Date> {
  let at: Date;
  if (localNoOffset.test(value)) {
    const dt = DateTime.fromISO(value, { zone: workspaceZone });
    at = dt.isValid ? wallTime(dt.year, dt.month, dt.day, dt.hour * 60 + dt.minute, workspaceZone) : new Date(NaN);
    if (dt.isValid && dt.second) at = new Date(at.getTime() + dt.second * 1000 + dt.millisecond);
  } else {
    at = new Date(value);
  }
  const year = at.getUTCFullYear();
  if (!Number.isFinite(at.getTime()) || year < 2000 || year > 9999) {
    return fail('VALIDATION_FAILED', `${field} must be a date-time between the years 2000 and 9999`, {
      errors: [{ field, message: 'is not a usable date-time' }],
    });
  }
  return ok(at);
}

/** The instant as the workspace's wall clock shows it, with its offset (`2026-03-29T10:00:00+02:00`). */
export function inZone(at: Date, zone: string): string {
  return DateTime.fromJSDate(at, { zone }).toISO({ suppressMilliseconds: true }) ?? at.toISOString();
}
