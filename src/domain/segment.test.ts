import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Segment,
  type SegmentContact,
  type SegmentFacts,
  addDays,
  compareText,
  effectiveZone,
  evaluate,
  localDate,
  relativeBounds,
  segmentLimits,
  validateSegment,
} from './segment.js';

function issuesOf(input: unknown, at?: string) {
  const result = validateSegment(input, at);
  if (result.ok) throw new Error(`expected a validation failure for ${JSON.stringify(input)}`);
  expect(result.error.code).toBe('VALIDATION_FAILED');
  return (result.error.extra as { errors: { field: string; message: string }[] }).errors;
}

const contact = (over: Partial<SegmentContact> = {}): SegmentContact => ({
  email: null,
  phone: null,
  firstName: null,
  lastName: null,
  timeZone: null,
  tags: [],
  attributes: {},
  ...over,
});
const noFacts: SegmentFacts = { lists: new Set(), messages: new Map() };
const now = new Date('2026-03-01T12:00:00Z');
/** Evaluates with the workspace in UTC at `now` unless told otherwise. */
const holds = (tree: Segment, c: SegmentContact, facts: SegmentFacts = noFacts, at = now, zone = 'UTC') =>
  evaluate(tree, c, facts, at, zone);

describe('validateSegment', () => {
  it('accepts the example tree and returns it unchanged', () => {
    const tree = {
      and: [
        { date: 'attributes.birthday', op: 'anniversary_in', days: 0 },
        { tag: 'vip' },
        { not: { campaign: 'cmp_spring', event: 'opened' } },
        { or: [{ attribute: 'attributes.plan', op: 'in', value: ['pro', 'team', 3] }, { list: 'lst_1' }] },
        { attribute: 'email', op: 'contains', value: '@example.com' },
        { attribute: 'attributes.score', op: 'between', value: [1, 10] },
        { date: 'attributes.renewalDate', op: 'within_next', days: 30 },
        { date: 'attributes.renewalDate', op: 'before', value: '2027-01-01' },
        { attribute: 'phone', op: 'exists' },
      ],
    };
    expect(validateSegment(tree)).toEqual({ ok: true, value: tree });
  });

  it('names the path of a missing value: body/rule/and/2/value', () => {
    const result = validateSegment({ and: [{ tag: 'a' }, { tag: 'b' }, { attribute: 'attributes.plan', op: 'eq' }] });
    expect(result).toEqual({
      ok: false,
      error: {
        code: 'VALIDATION_FAILED',
        detail: 'body/rule/and/2/value is required',
        extra: { errors: [{ field: 'body/rule/and/2/value', message: 'is required' }] },
      },
    });
  });

  it('names the path under the prefix the caller gives', () => {
    expect(issuesOf({ or: [{ not: { tag: '' } }] }, 'body/include/0')).toEqual([
      { field: 'body/include/0/or/0/not/tag', message: 'must be a tag of 1 to 100 characters' },
    ]);
  });

  it('reports an unknown op, attribute, event or field at its own path', () => {
    expect(issuesOf({ not: { attribute: 'email', op: 'like', value: 'x' } })).toEqual([
      { field: 'body/rule/not/op', message: expect.stringMatching(/^must be one of eq, neq, contains/) },
    ]);
    expect(issuesOf({ attribute: 'email' })).toEqual([{ field: 'body/rule/op', message: 'is required' }]);
    expect(issuesOf({ attribute: 'plan', op: 'eq', value: 'x' })).toEqual([
      { field: 'body/rule/attribute', message: expect.stringContaining('attributes.<key>') },
    ]);
    expect(issuesOf({ attribute: 'attributes.', op: 'exists' })[0]!.field).toBe('body/rule/attribute');
    expect(issuesOf({ attribute: `attributes.${'k'.repeat(101)}`, op: 'exists' })[0]!.field).toBe('body/rule/attribute');
    expect(issuesOf({ campaign: 'c', event: 'bounced' })).toEqual([{ field: 'body/rule/event', message: expect.any(String) }]);
    expect(issuesOf({ tag: 'vip', note: 'hi' })).toEqual([{ field: 'body/rule/note', message: 'is not a known field' }]);
    expect(issuesOf({ attribute: 'email', op: 'exists', value: 'x' })).toEqual([
      { field: 'body/rule/value', message: 'is not a known field' },
    ]);
  });

  it('refuses nodes that are not one condition', () => {
    expect(issuesOf('vip')).toEqual([{ field: 'body/rule', message: 'must be a rule node (an object)' }]);
    expect(issuesOf({ and: [null, []] }).map((e) => e.field)).toEqual(['body/rule/and/0', 'body/rule/and/1']);
    expect(issuesOf({})[0]!.message).toBe('must have one of and, or, not, attribute, date, list, tag, campaign');
    expect(issuesOf({ tag: 'a', list: 'b' })[0]!.message).toMatch(/^has both list and tag/);
    expect(issuesOf({ and: [] })).toEqual([{ field: 'body/rule/and', message: 'must be a list of at least one rule node' }]);
    expect(issuesOf({ or: { tag: 'a' } })[0]!.field).toBe('body/rule/or');
  });

  it('reports every bad node, not just the first', () => {
    const fields = issuesOf({ and: [{ tag: 'ok' }, { tag: 5 }, { or: [{ list: 'l' }, { campaign: 'c', event: 'x' }] }] }).map(
      (e) => e.field,
    );
    expect(fields).toEqual(['body/rule/and/1/tag', 'body/rule/and/2/or/1/event']);
  });

  it('nests at most 10 levels: the 11th is named', () => {
    const nest = (levels: number): unknown => (levels === 1 ? { tag: 'x' } : { not: nest(levels - 1) });
    expect(validateSegment(nest(segmentLimits.depth)).ok).toBe(true);
    expect(issuesOf(nest(segmentLimits.depth + 1))).toEqual([
      { field: `body/rule${'/not'.repeat(10)}`, message: 'is nested 11 levels deep: a rule nests at most 10' },
    ]);
  });

  it('has at most 200 nodes: the 201st is named', () => {
    const leaves = (n: number) => ({ or: Array.from({ length: n }, (_, i) => ({ tag: `t${i}` })) });
    expect(validateSegment(leaves(segmentLimits.nodes - 1)).ok).toBe(true);
    expect(issuesOf(leaves(segmentLimits.nodes))).toEqual([
      { field: 'body/rule/or/199', message: 'is node 201: a rule has at most 200 nodes' },
    ]);
  });

  it('takes at most 1000 values in `in`, each a string or a number', () => {
    const values = (n: number) => Array.from({ length: n }, (_, i) => `v${i}`);
    expect(validateSegment({ attribute: 'attributes.code', op: 'in', value: values(1000) }).ok).toBe(true);
    expect(issuesOf({ attribute: 'attributes.code', op: 'in', value: values(1001) })).toEqual([
      { field: 'body/rule/value', message: 'must be a list of 1 to 1000 strings or numbers' },
    ]);
    expect(issuesOf({ attribute: 'attributes.code', op: 'in', value: ['a', 1, true] })).toEqual([
      { field: 'body/rule/value/2', message: 'must be a string or a number' },
    ]);
    expect(issuesOf({ attribute: 'attributes.code', op: 'in', value: [] })[0]!.field).toBe('body/rule/value');
  });

  it('checks values against the op: between is ordered and of one type, contains needs text', () => {
    expect(issuesOf({ attribute: 'attributes.n', op: 'between', value: [5, 1] })).toEqual([
      { field: 'body/rule/value', message: 'must be [low, high] with low ≤ high' },
    ]);
    expect(issuesOf({ attribute: 'attributes.n', op: 'between', value: ['b', 'a'] })[0]!.field).toBe('body/rule/value');
    expect(issuesOf({ attribute: 'attributes.n', op: 'between', value: [1, 'a'] })).toEqual([
      { field: 'body/rule/value', message: 'must be [low, high]: two numbers or two strings, both ends included' },
    ]);
    expect(issuesOf({ attribute: 'attributes.n', op: 'contains', value: '' })[0]!.field).toBe('body/rule/value');
    expect(issuesOf({ attribute: 'attributes.n', op: 'gt', value: true })[0]!.field).toBe('body/rule/value');
  });

  it('refuses non-text values for built-in fields, which hold text', () => {
    expect(issuesOf({ attribute: 'phone', op: 'eq', value: 5550100 })).toEqual([
      { field: 'body/rule/value', message: 'must be a string: phone holds text' },
    ]);
    expect(issuesOf({ attribute: 'email', op: 'in', value: ['a@x.io', 3] })).toEqual([
      { field: 'body/rule/value/1', message: 'must be a string: email holds text' },
    ]);
  });

  it('checks date conditions: a custom field, whole days in range, real calendar dates', () => {
    expect(issuesOf({ date: 'email', op: 'before', value: '2026-01-01' })[0]!.field).toBe('body/rule/date');
    expect(issuesOf({ date: 'attributes.renewal', op: 'within_last' })).toEqual([{ field: 'body/rule/days', message: 'is required' }]);
    expect(issuesOf({ date: 'attributes.renewal', op: 'within_last', days: 1.5 })[0]!.field).toBe('body/rule/days');
    expect(issuesOf({ date: 'attributes.birthday', op: 'anniversary_in', days: 367 })[0]!.field).toBe('body/rule/days');
    expect(issuesOf({ date: 'attributes.renewal', op: 'after', value: '2026-02-29' })).toEqual([
      { field: 'body/rule/value', message: 'must be a real calendar date, YYYY-MM-DD' },
    ]);
    expect(issuesOf({ date: 'attributes.renewal', op: 'after', value: '2026-2-1' })).toEqual([
      { field: 'body/rule/value', message: 'must be a date, YYYY-MM-DD' },
    ]);
    expect(validateSegment({ date: 'attributes.renewal', op: 'after', value: '2028-02-29' }).ok).toBe(true);
    expect(validateSegment({ date: 'attributes.birthday', op: 'anniversary_in' }).ok).toBe(true);
  });

  it('accepts hostile text anywhere, but not NUL or unpaired surrogates (no database can store them)', () => {
    const hostile = `'; drop table contacts; -- "\\ 😀 $1 ?`;
    expect(validateSegment({ attribute: `attributes.${hostile}`, op: 'eq', value: hostile }).ok).toBe(true);
    expect(validateSegment({ and: [{ tag: hostile }, { list: hostile }, { campaign: hostile, event: 'opened' }] }).ok).toBe(true);
    expect(issuesOf({ tag: 'a\u0000b' })).toEqual([
      { field: 'body/rule/tag', message: 'must not contain NUL characters or unpaired surrogates' },
    ]);
    expect(issuesOf({ attribute: 'attributes.x', op: 'in', value: ['ok', 'bad\uD800'] })[0]!.field).toBe('body/rule/value/1');
    expect(issuesOf({ attribute: 'attributes.\uDC00', op: 'exists' })[0]!.field).toBe('body/rule/attribute');
  });
});

describe('evaluate: attribute conditions', () => {
  const c = contact({
    email: 'ann@example.com',
    firstName: 'Ann',
    attributes: { plan: 'pro', score: 7, vip: true, code: '5', list: ['a'], none: null },
  });

  it('compares only values of the same type', () => {
    expect(holds({ attribute: 'attributes.plan', op: 'eq', value: 'pro' }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.plan', op: 'eq', value: 'Pro' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.score', op: 'eq', value: 7 }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.code', op: 'eq', value: 5 }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.score', op: 'eq', value: '7' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.vip', op: 'eq', value: true }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.vip', op: 'eq', value: 'true' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.code', op: 'gt', value: 4 }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.code', op: 'gt', value: '4' }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.list', op: 'eq', value: 'a' }, c)).toBe(false);
  });

  it('neq is exactly not eq: it matches contacts without the attribute', () => {
    expect(holds({ attribute: 'attributes.plan', op: 'neq', value: 'free' }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.plan', op: 'neq', value: 'pro' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.missing', op: 'neq', value: 'pro' }, c)).toBe(true);
    expect(holds({ attribute: 'lastName', op: 'neq', value: 'Lee' }, c)).toBe(true);
  });

  it('reads built-in fields', () => {
    expect(holds({ attribute: 'email', op: 'contains', value: '@example.' }, c)).toBe(true);
    expect(holds({ attribute: 'email', op: 'starts_with', value: 'ann@' }, c)).toBe(true);
    expect(holds({ attribute: 'email', op: 'starts_with', value: 'nn@' }, c)).toBe(false);
    expect(holds({ attribute: 'firstName', op: 'in', value: ['Bob', 'Ann'] }, c)).toBe(true);
    expect(holds({ attribute: 'phone', op: 'missing' }, c)).toBe(true);
    expect(holds({ attribute: 'lastName', op: 'contains', value: 'a' }, c)).toBe(false);
  });

  it('orders numbers numerically and text by code point', () => {
    expect(holds({ attribute: 'attributes.score', op: 'between', value: [7, 7] }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.score', op: 'between', value: [7.5, 100] }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.score', op: 'gte', value: 7 }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.score', op: 'lt', value: 7 }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.score', op: 'lt', value: 10 }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.plan', op: 'gt', value: 'Zzz' }, c)).toBe(true); // 'p' > 'Z'
    const emoji = contact({ attributes: { name: '😀' } });
    // UTF-16 would put U+FFFD after an emoji (0xFFFD > 0xD83D); code points put it before.
    expect(holds({ attribute: 'attributes.name', op: 'gt', value: '\uFFFD' }, emoji)).toBe(true);
  });

  it('treats null as absent and never reads the prototype', () => {
    expect(holds({ attribute: 'attributes.none', op: 'exists' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.none', op: 'missing' }, c)).toBe(true);
    expect(holds({ attribute: 'attributes.constructor', op: 'exists' }, c)).toBe(false);
    expect(holds({ attribute: 'attributes.toString', op: 'missing' }, c)).toBe(true);
    const proto = contact({ attributes: JSON.parse('{"__proto__": "x"}') });
    expect(holds({ attribute: 'attributes.__proto__', op: 'eq', value: 'x' }, proto)).toBe(true);
    expect(holds({ attribute: 'attributes.__proto__', op: 'eq', value: 'x' }, c)).toBe(false);
  });

  it('combines with and / or / not', () => {
    const pro = { attribute: 'attributes.plan', op: 'eq', value: 'pro' } as const;
    const free = { attribute: 'attributes.plan', op: 'eq', value: 'free' } as const;
    expect(holds({ and: [pro, { not: free }] }, c)).toBe(true);
    expect(holds({ and: [pro, free] }, c)).toBe(false);
    expect(holds({ or: [free, pro] }, c)).toBe(true);
    expect(holds({ not: { or: [free, { not: pro }] } }, c)).toBe(true);
  });
});

describe('evaluate: tags, lists and message history', () => {
  it('finds a tag exactly in the contact’s tags, never in an attribute named tags', () => {
    expect(holds({ tag: 'vip' }, contact({ tags: ['new', 'vip'] }))).toBe(true);
    expect(holds({ tag: 'VIP' }, contact({ tags: ['vip'] }))).toBe(false);
    expect(holds({ tag: 'vip' }, contact({ attributes: { tags: ['vip'] } }))).toBe(false);
    expect(holds({ tag: 'vip' }, contact())).toBe(false);
  });

  it('reads list membership from the facts', () => {
    const facts: SegmentFacts = { lists: new Set(['lst_a']), messages: new Map() };
    expect(holds({ list: 'lst_a' }, contact(), facts)).toBe(true);
    expect(holds({ list: 'lst_b' }, contact(), facts)).toBe(false);
  });

  it('reads campaign events over all runs: a click is an open, a bounce is not received', () => {
    const facts = (states: string[]): SegmentFacts => ({ lists: new Set(), messages: new Map([['cmp_x', states]]) });
    const events = ['received', 'opened', 'clicked', 'not_received', 'not_opened'] as const;
    const row = (states: string[]) => events.filter((event) => holds({ campaign: 'cmp_x', event }, contact(), facts(states)));
    expect(row([])).toEqual(['not_received']);
    expect(row(['pending'])).toEqual(['not_received']);
    expect(row(['failed'])).toEqual(['not_received']);
    expect(row(['bounced'])).toEqual(['not_received']);
    expect(row(['sent'])).toEqual(['received', 'not_opened']);
    expect(row(['delivered'])).toEqual(['received', 'not_opened']);
    expect(row(['opened'])).toEqual(['received', 'opened']);
    expect(row(['clicked'])).toEqual(['received', 'opened', 'clicked']);
    expect(row(['failed', 'opened'])).toEqual(['received', 'opened']);
    expect(holds({ campaign: 'cmp_other', event: 'not_received' }, contact(), facts(['opened']))).toBe(true);
  });
});

describe('evaluate: dates', () => {
  const renewal = (value: unknown) => contact({ attributes: { renewal: value } });

  it('compares the ISO date at the start of a string and ignores anything else', () => {
    const before = { date: 'attributes.renewal', op: 'before', value: '2026-03-01' } as const;
    const after = { date: 'attributes.renewal', op: 'after', value: '2026-03-01' } as const;
    expect(holds(before, renewal('2026-02-28'))).toBe(true);
    expect(holds(before, renewal('2026-03-01'))).toBe(false);
    expect(holds(after, renewal('2026-03-01T23:00:00-05:00'))).toBe(false);
    expect(holds(after, renewal('2026-03-02T00:00:00Z'))).toBe(true);
    for (const junk of ['soon', '2026-3-2', '20260302', 20260302, ['2026-03-02'], true]) {
      expect(holds(after, renewal(junk))).toBe(false);
      expect(holds(before, renewal(junk))).toBe(false);
    }
  });

  it('includes both ends of within_last and within_next', () => {
    // now is 2026-03-01 12:00 UTC.
    const last7 = { date: 'attributes.renewal', op: 'within_last', days: 7 } as const;
    const next7 = { date: 'attributes.renewal', op: 'within_next', days: 7 } as const;
    expect(['2026-02-21', '2026-02-22', '2026-03-01', '2026-03-02'].map((d) => holds(last7, renewal(d)))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(['2026-02-28', '2026-03-01', '2026-03-08', '2026-03-09'].map((d) => holds(next7, renewal(d)))).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(holds({ date: 'attributes.renewal', op: 'within_next', days: 0 }, renewal('2026-03-01'))).toBe(true);
  });

  it('reads today in the contact’s zone, across a DST change', () => {
    // New York moved to EDT (UTC−4) at 07:00 UTC on 8 March 2026; at 04:30 UTC on the 9th it
    // is 00:30 on the 9th there (with the winter offset it would still be the 8th).
    const at = new Date('2026-03-09T04:30:00Z');
    expect(localDate(at, 'America/New_York')).toBe('2026-03-09');
    expect(localDate(at, 'America/Los_Angeles')).toBe('2026-03-08');
    // Sydney leaves AEDT (UTC+11) at 16:00 UTC on 4 April 2026: 13:30 UTC is 00:30 on the 5th.
    expect(localDate(new Date('2026-04-04T13:30:00Z'), 'Australia/Sydney')).toBe('2026-04-05');
    // Lord Howe's DST is half an hour: UTC+11 until 15:00 UTC on 4 April, then UTC+10:30.
    expect(localDate(new Date('2026-04-04T12:45:00Z'), 'Australia/Lord_Howe')).toBe('2026-04-04');
    expect(localDate(new Date('2026-04-04T13:15:00Z'), 'Australia/Lord_Howe')).toBe('2026-04-05');
    expect(localDate(new Date('2026-04-04T13:15:00Z'), 'Asia/Kathmandu')).toBe('2026-04-04');

    const birthday = { date: 'attributes.birthday', op: 'anniversary_in' } as const;
    const born = (timeZone: string | null) => contact({ timeZone, attributes: { birthday: '1990-03-09' } });
    expect(holds(birthday, born('America/New_York'), noFacts, at)).toBe(true);
    expect(holds(birthday, born('America/Los_Angeles'), noFacts, at)).toBe(false);
    expect(holds(birthday, born('Asia/Tokyo'), noFacts, at)).toBe(true);
    // Without a zone of their own, or with one the runtime does not know: the workspace's.
    expect(holds(birthday, born(null), noFacts, at, 'America/Los_Angeles')).toBe(false);
    expect(holds(birthday, born(null), noFacts, at, 'Europe/Paris')).toBe(true);
    expect(holds(birthday, born('Mars/Olympus_Mons'), noFacts, at, 'America/Los_Angeles')).toBe(false);
    expect(effectiveZone('Mars/Olympus_Mons', 'Nowhere/Else')).toBe('UTC');
    expect(effectiveZone('us/eastern', 'UTC')).toBe('us/eastern');
  });

  it('celebrates 29 February on 28 February in common years, and on the 29th in leap years', () => {
    const today = { date: 'attributes.birthday', op: 'anniversary_in' } as const;
    const leapling = contact({ attributes: { birthday: '2000-02-29' } });
    const feb28 = contact({ attributes: { birthday: '1999-02-28' } });
    const at = (iso: string) => new Date(`${iso}T12:00:00Z`);
    expect(holds(today, leapling, noFacts, at('2027-02-28'))).toBe(true);
    expect(holds(today, leapling, noFacts, at('2027-03-01'))).toBe(false);
    expect(holds(today, leapling, noFacts, at('2028-02-28'))).toBe(false);
    expect(holds(today, leapling, noFacts, at('2028-02-29'))).toBe(true);
    expect(holds(today, feb28, noFacts, at('2027-02-28'))).toBe(true);
    expect(holds(today, feb28, noFacts, at('2028-02-28'))).toBe(true);
    expect(holds(today, feb28, noFacts, at('2028-02-29'))).toBe(false);
    // Three days ahead of 25 February 2027 is 28 February: both are reminded then.
    const inThree = { date: 'attributes.birthday', op: 'anniversary_in', days: 3 } as const;
    expect(holds(inThree, leapling, noFacts, at('2027-02-25'))).toBe(true);
    expect(holds(inThree, feb28, noFacts, at('2027-02-25'))).toBe(true);
    expect(relativeBounds(inThree, '2027-02-25')).toEqual(['02-28', '02-29']);
    expect(relativeBounds(inThree, '2028-02-25')).toEqual(['02-28', '02-28']);
    // 1900 and 2100 are common years (divisible by 100), 2000 is leap (by 400).
    expect(relativeBounds(today, '2100-02-28')).toEqual(['02-28', '02-29']);
    expect(relativeBounds(today, '2000-02-28')).toEqual(['02-28', '02-28']);
  });

  it('adds days across months, years and leap days', () => {
    expect(addDays('2028-02-28', 1)).toBe('2028-02-29');
    expect(addDays('2027-02-28', 1)).toBe('2027-03-01');
    expect(addDays('2026-12-31', 1)).toBe('2027-01-01');
    expect(addDays('2026-03-01', -366)).toBe('2025-02-28');
    expect(addDays('0099-01-01', -1)).toBe('0098-12-31');
  });
});

describe('compareText', () => {
  it('orders strings as their UTF-8 bytes do (SQLite BINARY, PostgreSQL "C")', () => {
    const text = fc.string({ unit: 'binary', maxLength: 6 });
    fc.assert(
      fc.property(text, text, (a, b) => {
        expect(Math.sign(compareText(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 1000 },
    );
  });
});
