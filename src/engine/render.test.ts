import { describe, expect, it } from 'vitest';
import { liquid, liquidScope } from './render.js';

const contact = (attributes: Record<string, unknown>) => ({
  email: 'ada@example.com',
  phone: '+15550100',
  firstName: 'Ada',
  lastName: 'Lovelace',
  attributes,
  timeZone: null,
});
const campaign = { campaignId: 'cmp_1', campaignName: 'Digest' };

describe('liquidScope', () => {
  it('gives attributes under contact, the contact’s own fields winning over attributes of the same name', () => {
    const scope = liquidScope(campaign, contact({ plan: 'pro', email: 'spoof@example.com', firstName: 'Eve' }));
    expect(scope.contact).toEqual({ plan: 'pro', email: 'ada@example.com', phone: '+15550100', firstName: 'Ada', lastName: 'Lovelace' });
    expect(Object.keys(scope.contact)).toEqual(['plan', 'email', 'firstName', 'phone', 'lastName']);
    expect(liquid.parseAndRenderSync('{{ contact.firstName }} {{ contact.plan }} {{ campaign.name }}', scope)).toBe('Ada pro Digest');
  });

  it('keeps an attribute named __proto__ as a plain value, not the scope’s prototype', () => {
    const attributes = JSON.parse('{"__proto__": {"polluted": "yes"}, "plan": "team"}') as Record<string, unknown>;
    const scope = liquidScope(campaign, contact(attributes));
    expect(Object.getPrototypeOf(scope.contact)).toBe(Object.prototype);
    expect((scope.contact as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(scope.contact)).toContain('__proto__');
    expect(liquid.parseAndRenderSync('{{ contact.plan }}{{ contact.polluted }}', scope)).toBe('team');
  });
});
