import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AttributeType, canonicalZone, isCalendarDate, normaliseContact, normaliseContacts, normalisePhone } from './contact.js';

const none = new Map<string, AttributeType>();
const fieldsOf = (r: ReturnType<typeof normaliseContact>) => (r.ok ? [] : r.errors.map((e) => e.field));

describe('normaliseContact: addresses', () => {
  it('lower-cases and trims an email, and refuses one that is not an address', () => {
    expect(normaliseContact({ email: ' Ann.Lee+news@Example.COM ' }, none)).toMatchObject({
      ok: true,
      value: { email: 'ann.lee+news@example.com' },
    });
    for (const email of ['ann', 'ann@', '@example.com', 'ann@example', 'a b@example.com', 'ann@@example.com', 'ann@-x.com'])
      expect(normaliseContact({ email }, none), email).toEqual({
        ok: false,
        errors: [{ field: 'email', reason: 'is not a valid email address' }],
      });
  });

  it('normalises common phone formatting to E.164 and refuses numbers without + and a country code', () => {
    expect(normaliseContact({ phone: '+1 (555) 010-2000' }, none)).toMatchObject({ value: { phone: '+15550102000' } });
    expect(normaliseContact({ phone: '+44 7700.900.123' }, none)).toMatchObject({ value: { phone: '+447700900123' } });
    expect(fieldsOf(normaliseContact({ phone: '555-0102' }, none))).toEqual(['phone']);
    expect(fieldsOf(normaliseContact({ phone: '0044 7700 900123' }, none))).toEqual(['phone']);
    expect(fieldsOf(normaliseContact({ phone: '+0 555 0102 000' }, none))).toEqual(['phone']);
    expect(fieldsOf(normaliseContact({ phone: '+1 555 CALL NOW' }, none))).toEqual(['phone']);
    expect(fieldsOf(normaliseContact({ phone: '+1234567890123456' }, none))).toEqual(['phone']);
  });

  it('keeps any formatting of a valid number to the same E.164 form (property)', () => {
    const digits = fc.stringMatching(/^[1-9][0-9]{6,14}$/);
    const noise = fc.constantFrom('', ' ', '-', '.', '(', ')', '\u00a0');
    fc.assert(
      fc.property(digits, fc.array(noise, { minLength: 20, maxLength: 20 }), (d, gaps) => {
        const formatted = '+' + [...d].map((ch, i) => gaps[i] + ch).join('');
        expect(normalisePhone(formatted)).toBe(`+${d}`);
        expect(normalisePhone(`+${d}`)).toBe(`+${d}`);
      }),
    );
  });

  it('accepts IANA zones in their canonical spelling and refuses offsets and unknown names', () => {
    expect(normaliseContact({ timeZone: 'europe/paris' }, none)).toMatchObject({ value: { timeZone: 'Europe/Paris' } });
    expect(normaliseContact({ timeZone: 'UTC' }, none)).toMatchObject({ value: { timeZone: 'UTC' } });
    for (const timeZone of ['Mars/Olympus_Mons', '+01:00', 'GMT+1x', 'Paris'])
      expect(fieldsOf(normaliseContact({ timeZone }, none)), timeZone).toEqual(['timeZone']);
    expect(canonicalZone('Mars/Olympus_Mons')).toBeNull();
  });

  it('checks Telegram chat ids, Viber ids and external ids', () => {
    expect(normaliseContact({ telegramChatId: -1001234567890, viberId: ' 01234567890A= ', externalId: ' u-42 ' }, none)).toMatchObject({
      value: { telegramChatId: '-1001234567890', viberId: '01234567890A=', externalId: 'u-42' },
    });
    expect(normaliseContact({ telegramChatId: '@herald_news' }, none)).toMatchObject({ value: { telegramChatId: '@herald_news' } });
    expect(fieldsOf(normaliseContact({ telegramChatId: 'hello' }, none))).toEqual(['telegramChatId']);
    expect(fieldsOf(normaliseContact({ externalId: 'x'.repeat(201) }, none))).toEqual(['externalId']);
  });

  it('keeps absent fields absent and turns null or an empty string into null', () => {
    expect(normaliseContact({ email: null, firstName: '  ', phone: undefined }, none)).toEqual({
      ok: true,
      value: { email: null, firstName: null },
      inferred: [],
    });
  });

  it('reports every bad field at once, by name', () => {
    const r = normaliseContact({ email: 'nope', phone: '12', timeZone: 'Nowhere', firstName: 7, tags: ['ok', ''] }, none);
    expect(fieldsOf(r)).toEqual(['email', 'phone', 'firstName', 'timeZone', 'tags.1']);
  });
});

describe('normaliseContact: tags and devices', () => {
  it('stores tags trimmed, sorted and unique', () => {
    expect(normaliseContact({ tags: ['vip', ' new', 'VIP', 'vip'] }, none)).toMatchObject({ value: { tags: ['VIP', 'new', 'vip'] } });
    expect(fieldsOf(normaliseContact({ tags: 'vip' }, none))).toEqual(['tags']);
    expect(fieldsOf(normaliseContact({ tags: Array.from({ length: 101 }, (_, i) => `t${i}`) }, none))).toEqual(['tags']);
  });

  it('accepts web push subscriptions and mobile tokens, naming the bad part of a device', () => {
    const sub = { endpoint: 'https://fcm.googleapis.com/fcm/send/abc', expirationTime: null, keys: { p256dh: 'BNcR_x-1', auth: 'tBHI' } };
    expect(normaliseContact({ devices: [sub, { token: 'fcm-token', platform: 'android' }] }, none)).toMatchObject({
      value: {
        devices: [
          { endpoint: sub.endpoint, keys: sub.keys },
          { token: 'fcm-token', platform: 'android' },
        ],
      },
    });
    const r = normaliseContact(
      { devices: [{ endpoint: 'http://x.io', keys: { p256dh: 'a b', auth: 'ok' } }, { token: 't', platform: 'symbian' }, 'x'] },
      none,
    );
    expect(fieldsOf(r)).toEqual(['devices.0.endpoint', 'devices.0.keys.p256dh', 'devices.1.platform', 'devices.2']);
  });
});

describe('normaliseContact: typed attributes', () => {
  const types = new Map<string, AttributeType>([
    ['birthday', 'date'],
    ['seats', 'number'],
    ['pro', 'boolean'],
    ['city', 'string'],
  ]);

  it('refuses a value of the wrong type, naming attributes.<key>', () => {
    const r = normaliseContact({ attributes: { birthday: '1990-02-30', seats: '3', pro: 'yes', city: 5 } }, types);
    expect(r).toEqual({
      ok: false,
      errors: [
        { field: 'attributes.birthday', reason: 'must be a date YYYY-MM-DD (the attribute is declared date)' },
        { field: 'attributes.seats', reason: 'must be a number (the attribute is declared number)' },
        { field: 'attributes.pro', reason: 'must be true or false (the attribute is declared boolean)' },
        { field: 'attributes.city', reason: 'must be a string (the attribute is declared string)' },
      ],
    });
  });

  it('accepts declared types, keeps nulls (they remove a key), and a date string in a string attribute', () => {
    const r = normaliseContact({ attributes: { birthday: '2000-02-29', seats: 3, pro: false, city: '2020-01-01', gone: null } }, types);
    expect(r).toEqual({
      ok: true,
      value: { attributes: { birthday: '2000-02-29', seats: 3, pro: false, city: '2020-01-01', gone: null } },
      inferred: [],
    });
  });

  it('infers the type of an undeclared attribute from its value, and refuses objects, arrays and non-finite numbers', () => {
    const r = normaliseContact({ attributes: { renewal: '2027-01-31', plan: 'pro', score: 4.5, beta: true } }, none);
    expect(r.ok && r.inferred).toEqual([
      ['renewal', 'date'],
      ['plan', 'string'],
      ['score', 'number'],
      ['beta', 'boolean'],
    ]);
    expect(fieldsOf(normaliseContact({ attributes: { a: { b: 1 }, c: [1], d: Number.NaN } }, none))).toEqual([
      'attributes.a',
      'attributes.c',
      'attributes.d',
    ]);
  });

  it('keeps a key such as __proto__ as a plain key', () => {
    const r = normaliseContact(JSON.parse('{"attributes": {"__proto__": "x"}}') as object, none);
    expect(r.ok && Object.hasOwn(r.value.attributes!, '__proto__')).toBe(true);
  });

  it('types a batch as it goes: a new attribute cannot be a number in one row and a string in the next', () => {
    const batch = normaliseContacts([{ attributes: { score: 1 } }, { attributes: { score: 'high' } }, { attributes: { score: 2 } }], none);
    expect(batch.failed).toBe(1);
    expect(batch.errors[1]).toEqual([{ field: 'attributes.score', reason: 'must be a number (the attribute is declared number)' }]);
    expect([...batch.inferred]).toEqual([['score', 'number']]);
  });

  it('reads CSV cells as text: converts to the declared type, and an empty cell is absent', () => {
    const r = normaliseContact(
      {
        email: 'a@x.io',
        firstName: '',
        tags: 'vip; new,',
        attributes: { seats: ' 12 ', pro: 'Yes', birthday: '1990-03-09', city: '', note: '42' },
      },
      types,
      { fromText: true },
    );
    expect(r).toEqual({
      ok: true,
      value: { email: 'a@x.io', tags: ['new', 'vip'], attributes: { seats: 12, pro: true, birthday: '1990-03-09', note: '42' } },
      inferred: [['note', 'string']],
    });
    expect(fieldsOf(normaliseContact({ attributes: { seats: 'twelve' } }, types, { fromText: true }))).toEqual(['attributes.seats']);
  });
});

describe('isCalendarDate', () => {
  it('knows month lengths and leap years', () => {
    expect(['2024-02-29', '2000-02-29', '2026-12-31', '2026-04-30'].map(isCalendarDate)).toEqual([true, true, true, true]);
    expect(['2026-02-29', '1900-02-29', '2026-04-31', '2026-13-01', '2026-1-01', '2026-01-01T00:00'].map(isCalendarDate)).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
    ]);
  });

  it('agrees with the calendar on every day of four centuries (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1800, max: 2200 }), fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 31 }), (y, m, d) => {
        const text = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
        const real = new Date(Date.UTC(y, m - 1, d)).toISOString().startsWith(text);
        expect(isCalendarDate(text)).toBe(real);
      }),
    );
  });
});
