import { type Static, Type } from '@sinclair/typebox';
import { type Result, fail, ok } from './errors.js';
import { StringEnum } from './string-enum.js';

/**
 * The suppression list (DESIGN §5): addresses a workspace must never message again, with
 * why. An email is kept trimmed and lower-cased (as contacts store it), a phone in E.164,
 * a Telegram chat as `telegram:<chat id>` and a Viber user as `viber:<user id>` (a person
 * who blocked the bot or unsubscribed from the account), so that one equality against the
 * contact's address decides, in SQL, at snapshot time and before every send.
 */

export const suppressionKinds = ['email', 'phone', 'telegram', 'viber'] as const;
export type SuppressionKind = (typeof suppressionKinds)[number];

export const suppressionReasons = ['unsubscribe', 'hard_bounce', 'complaint', 'manual'] as const;
export type SuppressionReason = (typeof suppressionReasons)[number];

export const SuppressionInput = Type.Object(
  {
    address: Type.String({
      minLength: 1,
      maxLength: 320,
      description: 'An email, a phone number in E.164 (+4915123456789), telegram:<chat id> or viber:<user id>',
    }),
    reason: Type.Optional(StringEnum(suppressionReasons, 'Why the address is suppressed; manual when not given')),
    source: Type.Optional(
      Type.Union([Type.String({ maxLength: 200 }), Type.Null()], { description: 'What caused it, e.g. a campaign id' }),
    ),
    note: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])),
  },
  { additionalProperties: false },
);
export type SuppressionInput = Static<typeof SuppressionInput>;

/** POST body: one entry, or many at once (all or nothing). */
export const SuppressionBulk = Type.Object(
  { suppressions: Type.Array(SuppressionInput, { minItems: 1, maxItems: 10_000 }) },
  { additionalProperties: false },
);
export type SuppressionBulk = Static<typeof SuppressionBulk>;

export const Suppression = Type.Object({
  address: Type.String(),
  kind: StringEnum(suppressionKinds),
  reason: StringEnum(suppressionReasons),
  source: Type.Union([Type.String(), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});
export type Suppression = Static<typeof Suppression>;

export const SuppressionBulkResult = Type.Object({
  created: Type.Integer({ description: 'Addresses that were not suppressed before' }),
  updated: Type.Integer({ description: 'Addresses already suppressed: reason, source and note are replaced' }),
});
export type SuppressionBulkResult = Static<typeof SuppressionBulkResult>;

/** A suppression as the store writes it: the address already normalised. */
export interface SuppressionEntry {
  readonly address: string;
  readonly kind: SuppressionKind;
  readonly reason: SuppressionReason;
  readonly source: string | null;
  readonly note: string | null;
}

// Deliberately loose: one @, something on each side, no spaces. Providers decide the rest.
const emailShape = /^[^\s@]+@[^\s@]+$/;
const e164 = /^\+[1-9][0-9]{6,14}$/;
// Telegram chat ids are integers below 2^52 (negative for groups and channels).
const telegramChat = /^telegram:(-?[1-9][0-9]{0,15})$/i;
// Viber user ids are opaque base64-like tokens, case-sensitive: kept as given.
const viberUser = /^viber:(\S{1,200})$/i;

/**
 * Reads an address as an email (trimmed, lower-cased), a phone (spaces, dots, dashes and
 * brackets dropped, a leading 00 read as +, then E.164), `telegram:<chat id>` or
 * `viber:<user id>` (the prefix lower-cased, the id as given). A national number without
 * its country code cannot be normalised and is refused.
 */
export function normaliseAddress(raw: string): Result<{ address: string; kind: SuppressionKind }> {
  const text = raw.trim();
  const telegram = telegramChat.exec(text);
  if (telegram) return ok({ address: `telegram:${telegram[1]}`, kind: 'telegram' });
  const viber = viberUser.exec(text);
  if (viber) return ok({ address: `viber:${viber[1]}`, kind: 'viber' });
  if (/^(telegram|viber):/i.test(text)) return fail('VALIDATION_FAILED', `${raw} is not a Telegram chat id or a Viber user id`);
  if (text.includes('@')) {
    const address = text.toLowerCase();
    return emailShape.test(address) ? ok({ address, kind: 'email' }) : fail('VALIDATION_FAILED', `${raw} is not an email address`);
  }
  const digits = text.replace(/[\s.\-()]/g, '').replace(/^00/, '+');
  return e164.test(digits)
    ? ok({ address: digits, kind: 'phone' })
    : fail('VALIDATION_FAILED', `${raw} is neither an email nor a phone number in E.164 (+ and country code)`);
}

/**
 * Normalises many inputs; every bad address is named by its field (`body/suppressions/3/address`)
 * so one answer lists them all and nothing is written.
 */
export function normaliseEntries(inputs: readonly SuppressionInput[], fieldOf: (index: number) => string): Result<SuppressionEntry[]> {
  const entries: SuppressionEntry[] = [];
  const errors: { field: string; message: string }[] = [];
  inputs.forEach((input, i) => {
    const n = normaliseAddress(input.address);
    if (!n.ok)
      errors.push({ field: fieldOf(i), message: 'is neither an email, a phone number in E.164, telegram:<chat id> nor viber:<user id>' });
    else entries.push({ ...n.value, reason: input.reason ?? 'manual', source: input.source ?? null, note: input.note ?? null });
  });
  if (errors.length > 0) return fail('VALIDATION_FAILED', `${errors[0]!.field} ${errors[0]!.message}`, { errors });
  return ok(entries);
}
