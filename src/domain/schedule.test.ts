import fc from 'fast-check';
import { DateTime } from 'luxon';
import { describe, expect, it } from 'vitest';
import {
  type Recurrence,
  dueDecision,
  inQuietHours,
  inZone,
  nextLocalTime,
  nextOccurrence,
  occurrencesBetween,
  outsideQuietHours,
  parseSendTime,
  recipientDue,
  validateRecurrence,
} from './schedule.js';

const iso = (d: Date | null) => d?.toISOString() ?? null;
const wall = (d: Date, zone: string) => DateTime.fromJSDate(d, { zone }).toFormat('yyyy-MM-dd HH:mm');

describe('wall times across DST', () => {
  it('reads a send time without an offset in the workspace zone, and one with an offset as given', () => {
    expect(iso(unwrapped(parseSendTime('2026-03-28T10:00', 'Europe/Paris')))).toBe('2026-03-28T09:00:00.000Z');
    // After the spring-forward night Paris is UTC+2.
    expect(iso(unwrapped(parseSendTime('2026-03-30T10:00', 'Europe/Paris')))).toBe('2026-03-30T08:00:00.000Z');
    expect(iso(unwrapped(parseSendTime('2026-03-30T10:00:00Z', 'Europe/Paris')))).toBe('2026-03-30T10:00:00.000Z');
    expect(parseSendTime('1999-03-30T10:00', 'Europe/Paris')).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(inZone(new Date('2026-03-30T08:00:00Z'), 'Europe/Paris')).toBe('2026-03-30T10:00:00+02:00');
  });

  it('moves a wall time that does not exist (spring forward) to just after the gap, in Paris and New York', () => {
    // 02:30 does not exist on 29 March 2026 in Paris, nor on 8 March 2026 in New York.
    expect(iso(unwrapped(parseSendTime('2026-03-29T02:30', 'Europe/Paris')))).toBe('2026-03-29T01:30:00.000Z');
    expect(iso(unwrapped(parseSendTime('2026-03-08T02:30', 'America/New_York')))).toBe('2026-03-08T07:30:00.000Z');
  });

  it('takes the first of a doubled wall time (fall back), in New York and Paris', () => {
    expect(iso(unwrapped(parseSendTime('2026-11-01T01:30', 'America/New_York')))).toBe('2026-11-01T05:30:00.000Z');
    expect(iso(unwrapped(parseSendTime('2026-10-25T02:30', 'Europe/Paris')))).toBe('2026-10-25T00:30:00.000Z');
  });

  it('finds the next 10:00 local at or after an instant, across both DST changes', () => {
    expect(iso(nextLocalTime(new Date('2026-03-28T12:00:00Z'), '10:00', 'Europe/Paris'))).toBe('2026-03-29T08:00:00.000Z');
    expect(iso(nextLocalTime(new Date('2026-03-07T16:00:00Z'), '10:00', 'America/New_York'))).toBe('2026-03-08T14:00:00.000Z');
    expect(iso(nextLocalTime(new Date('2026-10-31T16:00:00Z'), '10:00', 'America/New_York'))).toBe('2026-11-01T15:00:00.000Z');
    // At or after: the instant itself when it reads 10:00.
    expect(iso(nextLocalTime(new Date('2026-06-01T08:00:00Z'), '10:00', 'Europe/Paris'))).toBe('2026-06-01T08:00:00.000Z');
  });
});

describe('cron occurrences in a zone', () => {
  const weekly: Recurrence = { cron: '0 9 * * 1', timeZone: 'America/New_York' };

  it('keeps a weekly 09:00 at 09:00 local across the DST change in New York and in Paris', () => {
    const ny = occurrencesBetween(weekly, 'UTC', new Date('2026-02-23T00:00:00Z'), new Date('2026-03-24T00:00:00Z'), 10);
    expect(ny.map((d) => wall(d, 'America/New_York'))).toEqual([
      '2026-02-23 09:00',
      '2026-03-02 09:00',
      '2026-03-09 09:00',
      '2026-03-16 09:00',
      '2026-03-23 09:00',
    ]);
    expect(ny.map((d) => d.getUTCHours())).toEqual([14, 14, 13, 13, 13]);
    // The workspace zone applies when the rule names none.
    const paris = occurrencesBetween(
      { cron: '0 9 * * 1' },
      'Europe/Paris',
      new Date('2026-03-16T00:00:00Z'),
      new Date('2026-04-07T00:00:00Z'),
      10,
    );
    expect(paris.map((d) => d.toISOString())).toEqual([
      '2026-03-16T08:00:00.000Z',
      '2026-03-23T08:00:00.000Z',
      '2026-03-30T07:00:00.000Z',
      '2026-04-06T07:00:00.000Z',
    ]);
  });

  it('runs a daily 02:30 once on the night it does not exist and once on the night it exists twice', () => {
    const rule: Recurrence = { cron: '30 2 * * *', timeZone: 'Europe/Paris' };
    const spring = occurrencesBetween(rule, 'UTC', new Date('2026-03-28T00:00:00Z'), new Date('2026-03-31T00:00:00Z'), 10);
    expect(spring.map(iso)).toEqual(['2026-03-28T01:30:00.000Z', '2026-03-29T01:30:00.000Z', '2026-03-30T00:30:00.000Z']);
    const autumn = occurrencesBetween(rule, 'UTC', new Date('2026-10-24T00:00:00Z'), new Date('2026-10-27T00:00:00Z'), 10);
    expect(autumn).toHaveLength(3);
  });

  it('ends at endAt and after maxRuns', () => {
    const after = new Date('2026-03-02T14:00:00Z');
    expect(iso(nextOccurrence({ ...weekly, endAt: '2026-03-05T00:00:00Z' }, 'UTC', after))).toBeNull();
    expect(iso(nextOccurrence({ ...weekly, maxRuns: 3 }, 'UTC', after, 3))).toBeNull();
    expect(iso(nextOccurrence({ ...weekly, maxRuns: 3 }, 'UTC', after, 2))).toBe('2026-03-09T13:00:00.000Z');
  });

  it('refuses rules croner cannot read, six-field rules and unknown zones', () => {
    expect(validateRecurrence({ cron: '0 9 * * 1' }, 'Europe/Paris').ok).toBe(true);
    expect(validateRecurrence({ cron: '0 99 * * 1' }, 'UTC')).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
    expect(validateRecurrence({ cron: '0 0 9 * * 1' }, 'UTC')).toMatchObject({ ok: false });
    expect(validateRecurrence({ cron: '0 9 * * 1', timeZone: 'Mars/Olympus' }, 'UTC')).toMatchObject({ ok: false });
  });
});

describe('quiet hours', () => {
  const quiet = { start: '21:00', end: '08:00' };

  it('spans midnight, start included and end excluded', () => {
    const at = (h: string) => new Date(`2026-06-01T${h}:00+02:00`);
    expect(inQuietHours(at('20:59'), quiet, 'Europe/Paris')).toBe(false);
    expect(inQuietHours(at('21:00'), quiet, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(at('03:00'), quiet, 'Europe/Paris')).toBe(true);
    expect(inQuietHours(at('08:00'), quiet, 'Europe/Paris')).toBe(false);
    expect(inQuietHours(at('12:00'), { start: '12:00', end: '14:00' }, 'Europe/Paris')).toBe(true);
  });

  it('moves a message due inside them to their end in the recipient’s zone, across a DST night', () => {
    // 23:00 on 28 March in Paris: quiet until 08:00 on the 29th, which is UTC+2 after the change.
    expect(iso(outsideQuietHours(new Date('2026-03-28T22:00:00Z'), quiet, 'Europe/Paris'))).toBe('2026-03-29T06:00:00.000Z');
    expect(iso(outsideQuietHours(new Date('2026-03-08T03:00:00Z'), quiet, 'America/New_York'))).toBe('2026-03-08T12:00:00.000Z');
  });

  it('never puts a recipient’s due time inside their quiet hours (property, any zone, any launch)', () => {
    const zones = ['Europe/Paris', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe', 'Pacific/Kiritimati', 'America/St_Johns'];
    const times = ['00:00', '07:59', '08:00', '10:00', '20:59', '21:00', '23:30'];
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.parse('2026-01-01T00:00:00Z'), max: Date.parse('2027-12-31T00:00:00Z') }),
        fc.option(fc.constantFrom(...times), { nil: undefined }),
        (zone, ms, localTime) => {
          const launch = new Date(ms);
          const due = recipientDue(launch, { ...(localTime ? { localTime } : {}), quietHours: quiet }, zone);
          expect(due.getTime()).toBeGreaterThanOrEqual(launch.getTime());
          expect(inQuietHours(due, quiet, zone)).toBe(false);
          expect(due.getTime() - launch.getTime()).toBeLessThanOrEqual(49 * 3_600_000);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('a schedule that came due while Herald was not running', () => {
  const sendAt = new Date('2026-03-02T14:00:00Z');
  const base = { sendAt, graceMinutes: 60, recurrence: null, workspaceZone: 'UTC', runsSoFar: 0 };
  const minutes = (n: number) => new Date(sendAt.getTime() + n * 60_000);

  it('starts within the grace window and fails a one-time send past it', () => {
    expect(dueDecision({ ...base, now: minutes(60) })).toEqual({ kind: 'start', occurrence: sendAt });
    expect(dueDecision({ ...base, now: minutes(61) })).toEqual({ kind: 'missed', lateMinutes: 61 });
  });

  it('skips a recurrence’s missed occurrences to the next one, or starts the latest still within the window', () => {
    const recurrence: Recurrence = { cron: '0 9 * * 1', timeZone: 'America/New_York' };
    const weekLater = new Date('2026-03-09T13:00:00Z');
    expect(dueDecision({ ...base, recurrence, now: minutes(120) })).toEqual({ kind: 'skip', skipped: 1, next: weekLater });
    expect(dueDecision({ ...base, recurrence, now: new Date(weekLater.getTime() + 30 * 60_000) })).toEqual({
      kind: 'start',
      occurrence: weekLater,
    });
    expect(dueDecision({ ...base, recurrence, now: new Date('2026-03-20T00:00:00Z') })).toEqual({
      kind: 'skip',
      skipped: 3,
      next: new Date('2026-03-23T13:00:00Z'),
    });
  });
});

function unwrapped<T>(r: { ok: true; value: T } | { ok: false }): T | null {
  return r.ok ? r.value : null;
}
