import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { gsmPart, gsmSingle, isGsmCharacter, smsSegments, ucs2Part, ucs2Single } from './sms.js';

const basic =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const extension = '\f^{}\\[~]|€';

const gsmBasicText = fc.string({ unit: fc.constantFrom(...Array.from(basic)), maxLength: 500 });
const gsmText = fc.string({ unit: fc.constantFrom(...Array.from(basic + extension)), maxLength: 500 });
/** Any code points, lone surrogates included: what a pasted text can hold. */
const anyText = fc.string({ unit: 'binary', maxLength: 300 });
const nonGsmChar = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 1 })
  .filter((ch) => !isGsmCharacter(ch) && ch !== '\u001b' /* ESC alone is not text either */);

const capacity = (encoding: string, segments: number) =>
  segments <= 1 ? (encoding === 'GSM-7' ? gsmSingle : ucs2Single) : encoding === 'GSM-7' ? gsmPart : ucs2Part;

describe('smsSegments, examples', () => {
  it.each([
    ['', { encoding: 'GSM-7', segments: 0, characters: 0 }],
    ['Hello', { encoding: 'GSM-7', segments: 1, characters: 5 }],
    ['a'.repeat(160), { encoding: 'GSM-7', segments: 1, characters: 160 }],
    ['a'.repeat(161), { encoding: 'GSM-7', segments: 2, characters: 161 }],
    ['a'.repeat(306), { encoding: 'GSM-7', segments: 2, characters: 306 }],
    ['a'.repeat(307), { encoding: 'GSM-7', segments: 3, characters: 307 }],
    ['€'.repeat(80), { encoding: 'GSM-7', segments: 1, characters: 160 }],
    ['€'.repeat(81), { encoding: 'GSM-7', segments: 2, characters: 162 }],
    ['Price: 5€ [today] {only} ~ok~ |x| ^^ \\', { encoding: 'GSM-7', segments: 1, characters: 50 }],
    ['Привет', { encoding: 'UCS-2', segments: 1, characters: 6 }],
    ['ä'.repeat(69) + 'ő', { encoding: 'UCS-2', segments: 1, characters: 70 }],
    ['ä'.repeat(70) + 'ő', { encoding: 'UCS-2', segments: 2, characters: 71 }],
    ['😀'.repeat(35), { encoding: 'UCS-2', segments: 1, characters: 70 }],
    ['Hi 👍', { encoding: 'UCS-2', segments: 1, characters: 5 }],
  ])('%j → %o', (text, expected) => {
    expect(smsSegments(text)).toEqual(expected);
  });

  it('never splits an escape from its character: 152 septets and a € make a second part', () => {
    // 152 + 2 = 154 > 153, so the € starts part 2 rather than straddling the boundary.
    expect(smsSegments('a'.repeat(152) + '€' + 'a'.repeat(152)).segments).toBe(3);
    expect(smsSegments('a'.repeat(151) + '€' + 'a'.repeat(153)).segments).toBe(2);
  });

  it('never splits a surrogate pair: 36 emoji (72 units) need two parts of 33', () => {
    expect(smsSegments('😀'.repeat(36))).toEqual({ encoding: 'UCS-2', segments: 2, characters: 72 });
    // 66 units of emoji, then one more pair cannot fit the 67th unit: a third part.
    expect(smsSegments('😀'.repeat(67)).segments).toBe(3);
    expect(smsSegments('a' + '😀'.repeat(66)).segments).toBe(2);
  });

  it('treats ESC, a lone surrogate and a tab as outside GSM-7', () => {
    for (const text of ['\u001b', '\ud800', '\t']) expect(smsSegments(text).encoding).toBe('UCS-2');
  });
});

describe('smsSegments, properties', () => {
  it('never decreases when text is appended', () => {
    fc.assert(
      fc.property(anyText, anyText, (a, b) => {
        expect(smsSegments(a + b).segments).toBeGreaterThanOrEqual(smsSegments(a).segments);
      }),
    );
  });

  it('counts GSM-7 basic text of up to 160 characters as one segment, and longer as ⌈n/153⌉', () => {
    fc.assert(
      fc.property(gsmBasicText, (text) => {
        const n = text.length;
        const expected = n === 0 ? 0 : n <= gsmSingle ? 1 : Math.ceil(n / gsmPart);
        expect(smsSegments(text)).toEqual({ encoding: 'GSM-7', segments: expected, characters: n });
      }),
    );
  });

  it('counts every extension character as two septets', () => {
    fc.assert(
      fc.property(gsmText, (text) => {
        const ext = Array.from(text).filter((ch) => extension.includes(ch)).length;
        expect(smsSegments(text)).toMatchObject({ encoding: 'GSM-7', characters: text.length + ext });
      }),
    );
  });

  it('switches to UCS-2 as soon as one character is outside GSM-7, counting UTF-16 code units', () => {
    fc.assert(
      fc.property(gsmText, nonGsmChar, gsmText, (a, ch, b) => {
        const text = a + ch + b;
        expect(smsSegments(text)).toMatchObject({ encoding: 'UCS-2', characters: text.length });
      }),
    );
  });

  it('gives the parts room for every character, and no part is less than one unit short of full', () => {
    fc.assert(
      fc.property(fc.oneof(gsmText, anyText), (text) => {
        const { encoding, segments, characters } = smsSegments(text);
        const cap = capacity(encoding, segments);
        expect(segments * cap).toBeGreaterThanOrEqual(characters);
        // Greedy filling leaves at most one unit free in a closed part (an escape or a pair did not fit).
        if (segments > 1) expect(characters).toBeGreaterThan((segments - 1) * (cap - 1));
        expect(segments === 0).toBe(text === '');
      }),
    );
  });

  it('is one segment exactly when the text fits the single-message limit', () => {
    fc.assert(
      fc.property(fc.oneof(gsmText, anyText), (text) => {
        const { encoding, segments, characters } = smsSegments(text);
        if (text === '') return;
        expect(segments === 1).toBe(characters <= (encoding === 'GSM-7' ? gsmSingle : ucs2Single));
      }),
    );
  });
});
