import { describe, expect, it } from 'vitest';
import { type PreflightFacts, audienceConflicts, preflight } from './preflight.js';

const ready: PreflightFacts = {
  channel: 'email',
  templateId: 'tpl',
  template: { deleted: false, channel: 'email' },
  senderId: 'snd',
  sender: { deleted: false, status: 'active', channel: 'email' },
  lists: [{ id: 'lst', found: true, deleted: false }],
  audience: { selected: 10, addressed: 10, deliverable: 10 },
  providerConfigured: true,
};
const codes = (f: Partial<PreflightFacts>) => preflight({ ...ready, ...f }).map((r) => r.code);

describe('preflight sender reasons', () => {
  it('refuses a sender of another channel, a paused one and one whose bot was blocked', () => {
    expect(codes({ sender: { deleted: false, status: 'active', channel: 'sms' } })).toEqual(['SENDER_MISSING']);
    expect(codes({ sender: { deleted: false, status: 'paused', channel: 'email' } })).toEqual(['SENDER_PAUSED']);
    expect(codes({ sender: { deleted: false, status: 'blocked', channel: 'email' } })).toEqual(['BOT_BLOCKED']);
    expect(codes({ sender: { deleted: true, status: 'active', channel: 'email' } })).toEqual(['SENDER_DELETED']);
  });

  it('refuses a template whose Liquid no longer parses, naming the field and line', () => {
    const reasons = preflight({
      ...ready,
      template: { deleted: false, channel: 'email', invalid: ['body/subject: unexpected token, line:1'] },
    });
    expect(reasons).toEqual([{ code: 'TEMPLATE_INVALID', detail: expect.stringContaining('body/subject: unexpected token, line:1') }]);
  });

  it('names the channel and what to set when no provider is configured', () => {
    const [reason] = preflight({ ...ready, providerConfigured: false });
    expect(reason).toMatchObject({ code: 'PROVIDER_NOT_CONFIGURED', detail: expect.stringContaining('SMTP_HOST') });
  });
});

describe('preflight audience reasons', () => {
  it('passes a campaign with someone to send to', () => {
    expect(codes({})).toEqual([]);
    // Contacts without an address are skipped, not a reason to refuse (the estimate counts them).
    expect(codes({ audience: { selected: 10, addressed: 3, deliverable: 3 } })).toEqual([]);
  });

  it('refuses when nobody has an address for the channel, with how many were selected', () => {
    const reasons = preflight({
      ...ready,
      channel: 'sms',
      template: { deleted: false, channel: 'sms' },
      sender: { deleted: false, status: 'active', channel: 'sms' },
      audience: { selected: 7, addressed: 0, deliverable: 0 },
    });
    expect(reasons).toEqual([{ code: 'NO_ADDRESS_FOR_CHANNEL', detail: expect.stringContaining('sms'), count: 7 }]);
  });

  it('calls an audience empty when it selects nobody, has no list, or is all suppressed', () => {
    expect(codes({ audience: { selected: 0, addressed: 0, deliverable: 0 } })).toEqual(['AUDIENCE_EMPTY']);
    expect(codes({ lists: [], audience: null })).toEqual(['AUDIENCE_EMPTY']);
    expect(codes({ audience: { selected: 5, addressed: 4, deliverable: 0 } })).toEqual(['AUDIENCE_EMPTY']);
  });

  it('calls it a conflict when the exclusions remove everyone, and says so once', () => {
    expect(codes({ audience: { selected: 0, addressed: 0, deliverable: 0 }, beforeExclusions: 12 })).toEqual(['AUDIENCE_CONFLICT']);
    expect(
      codes({ audience: { selected: 0, addressed: 0, deliverable: 0 }, beforeExclusions: 12, conflicts: ['Segment s is both …'] }),
    ).toEqual(['AUDIENCE_CONFLICT']);
  });

  it('returns every reason at once: deleted list and conflicting rules together', () => {
    expect(
      codes({
        lists: [
          { id: 'gone', found: true, deleted: true },
          { id: 'lst', found: true, deleted: false },
        ],
        audience: { selected: 0, addressed: 0, deliverable: 0 },
        beforeExclusions: 4,
        emptySegments: ['seg_empty'],
      }),
    ).toEqual(['LIST_DELETED', 'SEGMENT_EMPTY', 'AUDIENCE_CONFLICT']);
  });
});

describe('audienceConflicts', () => {
  const rules = new Map<string, unknown>([
    ['pros', { attribute: 'attributes.plan', op: 'eq', value: 'pro' }],
    ['pros-again', { value: 'pro', op: 'eq', attribute: 'attributes.plan' }],
    ['vips', { tag: 'vip' }],
  ]);

  it('finds a segment both included and excluded', () => {
    expect(audienceConflicts({ segmentIds: ['vips'], excludeSegmentIds: ['vips'] }, rules)).toEqual([
      expect.stringContaining('both included and excluded'),
    ]);
  });

  it('finds an include or a one-time rule that an exclude segment repeats, whatever the key order', () => {
    expect(audienceConflicts({ segmentIds: ['pros'], excludeSegmentIds: ['pros-again'] }, rules)).toHaveLength(1);
    expect(
      audienceConflicts({ excludeSegmentIds: ['pros'], rule: { op: 'eq', attribute: 'attributes.plan', value: 'pro' } }, rules),
    ).toEqual([expect.stringContaining('one-time rule')]);
  });

  it('finds nothing in rules that do not cancel out', () => {
    expect(audienceConflicts({ segmentIds: ['pros'], excludeSegmentIds: ['vips'], rule: { tag: 'new' } }, rules)).toEqual([]);
    expect(audienceConflicts({}, rules)).toEqual([]);
  });
});

describe('preflight money', () => {
  const cost = {
    currency: 'USD',
    unit: 'segment' as const,
    price: 7_900,
    unitsPerMessage: 2,
    messages: 10,
    estimate: 158_000,
    balance: 100_000,
    shortfall: 58_000,
    method: 'm',
  };

  it('refuses a campaign that costs more than the balance, saying the estimate, the balance and by how much', () => {
    const reasons = preflight({
      ...ready,
      channel: 'sms',
      template: { deleted: false, channel: 'sms' },
      sender: { deleted: false, status: 'active', channel: 'sms' },
      cost,
    });
    expect(reasons).toEqual([
      {
        code: 'INSUFFICIENT_BALANCE',
        detail:
          'Sending would cost about 0.158 USD (10 message(s) × 2 segment(s) at 0.0079 USD per segment) but the balance is 0.10 USD: top up at least 0.058 USD.',
        count: 10,
        estimate: 158_000,
        balance: 100_000,
        shortfall: 58_000,
        currency: 'USD',
      },
    ]);
  });

  it('passes when the balance covers the estimate, and for free channels', () => {
    expect(codes({ cost: { ...cost, balance: 158_000, shortfall: 0 } })).toEqual([]);
    expect(codes({ cost: { ...cost, price: 0, estimate: 0, balance: 0, shortfall: 0 } })).toEqual([]);
    expect(codes({ cost: null })).toEqual([]);
  });
});
