import { describe, expect, it } from 'vitest';
import { RetryAfterGate, retryAfterMs } from '../../src/channels/retry-after.js';

describe('retryAfterMs', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(retryAfterMs('Tue, 31 Dec 2024 00:00:00 GMT', now)).toBe(0);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });
});

describe('RetryAfterGate', () => {
  it('lets a request through at once when nothing was asked', async () => {
    expect(await new RetryAfterGate(10_000).pass()).toBeNull();
  });

  it('waits out a pause up to its limit, then lets the request through', async () => {
    const gate = new RetryAfterGate(1000);
    gate.pauseFor(50);
    const started = Date.now();
    expect(await gate.pass()).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('answers a pause longer than its limit at once, with what is left and until when', async () => {
    let now = Date.parse('2025-01-01T00:00:00Z');
    const gate = new RetryAfterGate(10_000, () => now);
    gate.pauseFor(60_000);
    now += 20_000;
    expect(await gate.pass()).toEqual({ waitMs: 40_000, until: '2025-01-01T00:01:00.000Z' });
  });

  it('keeps the longer of two pauses', async () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    const gate = new RetryAfterGate(0, () => now);
    gate.pauseUntil(now + 30_000);
    gate.pauseFor(5_000);
    expect(await gate.pass()).toMatchObject({ waitMs: 30_000 });
  });
});
