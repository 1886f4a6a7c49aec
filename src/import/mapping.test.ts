import { describe, expect, it } from 'vitest';
import { defaultTarget, parseOverrides, resolveMapping } from './mapping.js';

describe('CSV header mapping', () => {
  it('maps well-known headers whatever their case, spaces and underscores, and the rest to attributes', () => {
    expect(
      ['Email', 'E-Mail', 'email_address', 'Phone Number', 'first_name', 'firstName', 'LAST NAME', 'timezone', 'Time_Zone'].map(
        defaultTarget,
      ),
    ).toEqual(['email', 'email', 'email', 'phone', 'firstName', 'firstName', 'lastName', 'timeZone', 'timeZone']);
    expect(['external_id', 'tags', 'telegram_chat_id', 'viberId', 'herald_id', '', ' Plan '].map(defaultTarget)).toEqual([
      'externalId',
      'tags',
      'telegramChatId',
      'viberId',
      'ignore',
      'ignore',
      'attributes.Plan',
    ]);
  });

  it('lets an explicit mapping override a header, and refuses a malformed one', () => {
    const overrides = parseOverrides([
      'Kundennummer=externalId',
      'Mail=e-mail',
      'Notes=ignore',
      'Plan=attributes.tier',
      'Since=signup_date',
    ]);
    expect(overrides).toEqual({
      ok: true,
      value: { Kundennummer: 'externalId', Mail: 'email', Notes: 'ignore', Plan: 'attributes.tier', Since: 'attributes.signup_date' },
    });
    expect(resolveMapping(['Mail', 'email', 'Notes'], overrides.ok ? overrides.value : {})).toEqual(['email', 'email', 'ignore']);
    expect(parseOverrides(['no-equals-sign']).ok).toBe(false);
    expect(parseOverrides(['x=']).ok).toBe(false);
    expect(parseOverrides(['x=attributes.']).ok).toBe(false);
  });
});
