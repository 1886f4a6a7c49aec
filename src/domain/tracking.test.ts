import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { messageTokens, signToken, trackingKey, verifyToken } from './tracking.js';

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

  it('sign every link of a message from one MAC, each still only good for its own kind, row and URL', () => {
    const tokens = messageTokens(key, ref);
    const a = tokens.click('https://example.com/a');
    const b = tokens.click('https://example.com/b');
    expect(tokens.open).toBe(signToken(key, 'open', ref));
    expect(verifyToken(key, 'click', b)?.url).toBe('https://example.com/b');
    const kinds = { open: tokens.open, unsubscribe: tokens.unsubscribe, click: a } as const;
    for (const [kind, token] of Object.entries(kinds))
      for (const other of ['open', 'unsubscribe', 'click'] as const) expect(verifyToken(key, other, token) !== null).toBe(kind === other);
    // The MAC of one link does not carry another link's URL, of this message or another row's.
    const [, , , macA] = a.split('.');
    expect(verifyToken(key, 'click', b.replace(/[^.]+$/, macA!))).toBeNull();
    expect(verifyToken(key, 'click', a.replace(/^7\.1234\./, '7.1235.'))).toBeNull();
    expect(verifyToken(key, 'click', a.replace(/^7\./, '8.'))).toBeNull();
    expect(verifyToken(key, 'click', messageTokens(key, { runId: 8, messageId: 1234 }).click('https://example.com/a'))).toEqual({
      runId: 8,
      messageId: 1234,
      url: 'https://example.com/a',
    });
  });

  it('still verify the tokens of emails sent before messages were signed once (v1)', () => {
    // Signed by the code of commit 0755582 with this key and row.
    expect(verifyToken(key, 'open', '7.1234.P4dzDdM9EDZ5Tjx52Lv47g')).toEqual({ ...ref, url: null });
    expect(verifyToken(key, 'unsubscribe', '7.1234.W3t4GiP4HRb-4RC-12valw')).toEqual({ ...ref, url: null });
    const click = '7.1234.aHR0cHM6Ly9leGFtcGxlLmNvbS9hP2I9MQ.YZvzviezFM6E5gJ-I6Eg3Q';
    expect(verifyToken(key, 'click', click)).toEqual({ ...ref, url: 'https://example.com/a?b=1' });
    expect(verifyToken(key, 'unsubscribe', '7.1234.P4dzDdM9EDZ5Tjx52Lv47g')).toBeNull();
    expect(verifyToken(otherKey, 'open', '7.1234.P4dzDdM9EDZ5Tjx52Lv47g')).toBeNull();
    expect(verifyToken(key, 'click', click.replace('aHR0cHM6Ly9leGFtcGxlLmNvbS9hP2I9MQ', 'aHR0cHM6Ly9ldmlsLmV4YW1wbGUvYQ'))).toBeNull();
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
