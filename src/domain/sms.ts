/**
 * SMS segment counting (DESIGN §5): how many billable parts a text becomes, as carriers
 * and Twilio count them.
 *
 * - GSM-7 when every character is in the GSM 03.38 basic set or its extension table.
 *   Basic characters take one septet, extension characters two (ESC + the character).
 *   One message holds 160 septets; a longer text is split into parts of 153 (7 septets go
 *   to the concatenation header), and an ESC is never separated from its character, so a
 *   part may hold 152.
 * - UCS-2 (UTF-16) as soon as one character is outside GSM-7: 70 code units in one
 *   message, 67 a part when split, and a surrogate pair (an emoji, say) is never split
 *   across parts, so a part may hold 66.
 *
 * `characters` counts what the limits count: septets for GSM-7 (an extension character
 * counts 2, "€" is 2 of the 160) and UTF-16 code units for UCS-2 (an emoji counts 2 of the
 * 70); it is the number the editor shows against the limit.
 *
 * An empty text is 0 segments in GSM-7: nothing is billed, and preflight, not this
 * function, refuses an empty SMS (Twilio answers 21602 to an empty Body).
 */

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SmsSegments {
  readonly encoding: SmsEncoding;
  /** Billable parts: 0 for an empty text. */
  readonly segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2): what the per-part limits count. */
  readonly characters: number;
}

/** The GSM 03.38 basic character set, minus ESC (0x1B), which only introduces the extension table. */
const gsmBasic = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);

/** The GSM 03.38 extension table: each costs ESC + itself, 2 septets. */
const gsmExtension = new Set('\f^{}\\[~]|€');

/** Septets in one unsplit GSM-7 message, and in one part of a split one. */
export const gsmSingle = 160;
export const gsmPart = 153;
/** UTF-16 code units in one unsplit UCS-2 message, and in one part of a split one. */
export const ucs2Single = 70;
export const ucs2Part = 67;

/** Whether the character (one code point) can be sent in GSM-7. */
export function isGsmCharacter(ch: string): boolean {
  return gsmBasic.has(ch) || gsmExtension.has(ch);
}

/** Fills parts greedily with indivisible costs (2-septet escapes, surrogate pairs). */
function parts(costs: readonly number[], total: number, single: number, part: number): number {
  if (total === 0) return 0;
  if (total <= single) return 1;
  let count = 1;
  let used = 0;
  for (const cost of costs) {
    if (used + cost > part) {
      count++;
      used = 0;
    }
    used += cost;
  }
  return count;
}

/** The encoding, billable segments and counted characters of an SMS text. */
export function smsSegments(text: string): SmsSegments {
  // Iterating a string yields code points: a surrogate pair comes as one item of length 2.
  const codePoints = Array.from(text);
  const gsm = codePoints.every(isGsmCharacter);
  const costs = gsm ? codePoints.map((ch) => (gsmExtension.has(ch) ? 2 : 1)) : codePoints.map((ch) => ch.length);
  const characters = costs.reduce((sum, cost) => sum + cost, 0);
  return gsm
    ? { encoding: 'GSM-7', segments: parts(costs, characters, gsmSingle, gsmPart), characters }
    : { encoding: 'UCS-2', segments: parts(costs, characters, ucs2Single, ucs2Part), characters };
}
