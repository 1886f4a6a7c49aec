import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { signToken, trackingKey, verifyToken } from './tracking.js';

const key = trackingKey('0'.repeat(64));
const otherKey = trackingKey('1'.repeat(64));
const ref = { runId: 7, messageId: 1234 };

describe('tracking tokens', () => {
  it('verify for their own kind, key and ledger row', () => {
    expect(verifyToken(key, 'open', signToken(key, 'open', ref))).toEqual({ ...ref, url: null });
    expect(verifyToken(key, 'unsubscribe', signToken(key, 'unsubscribe', ref))).toEqual({ ...ref, url: null });
    const click = signToken(key, 'click', ref, 'https://example.com/a?b=1&c=é#top');
    expect(verifyToken(key, 'click', click)).toEqual({ ...ref, url: 'https://example.com/a?b=1&c=é#top' });
    expect(click).toMatch(/^7\.1234\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
  });

  it('refuse another kind, another key, or another row', () => {
    const open = signToken(key, 'open', ref);
    expect(verifyToken(key, 'unsubscribe', open)).toBeNull();
    expect(verifyToken(otherKey, 'open', open)).toBeNull();
    expect(verifyToken(key, 'open', open.replace(/^7\./, '8.'))).toBeNull();
    expect(verifyToken(key, 'open', `${open}x`)).toBeNull();
    expect(verifyToken(key, 'open', '')).toBeNull();
  });

  it('refuse a click token whose URL was swapped, whatever the URL', () => {
    fc.assert(
      fc.property(fc.webUrl(), fc.webUrl(), (signed, swapped) => {
        fc.pre(signed !== swapped);
        const token = signToken(key, 'click', ref, signed);
        expect(verifyToken(key, 'click', token)?.url).toBe(signed);
        const parts = token.split('.');
        parts[2] = Buffer.from(swapped).toString('base64url');
        expect(verifyToken(key, 'click', parts.join('.'))).toBeNull();
      }),
    );
  });

  it('never leads anywhere but http(s), even with a good MAC', () => {
    expect(verifyToken(key, 'click', signToken(key, 'click', ref, 'javascript:alert(1)'))).toBeNull();
  });

  it('derive the same key from the same secret, a random one without', () => {
    expect(trackingKey('abc')).toBe(trackingKey(' abc '));
    expect(trackingKey('abc')).not.toBe(trackingKey('abd'));
    expect(trackingKey(null)).not.toBe(trackingKey(null));
    expect(trackingKey(undefined)).toMatch(/^[0-9a-f]{64}$/);
  });
});
