import { describe, expect, it } from 'vitest';
import { type ChannelAdapter, ProviderFatalError, type SendResult } from '../channels/channel.js';
import { FailoverAdapter } from './failover-adapter.js';

type M = { readonly messageId: number };

/** An adapter answering each message by `answer`, counting what it was sent. */
function fake(name: string, answer: (m: M) => SendResult | 'fatal') {
  const seen: number[] = [];
  const adapter: ChannelAdapter<M> = {
    name,
    channel: 'sms',
    capabilities: { batchSize: 1, concurrency: 1, idempotent: false, costUnit: 'segment' },
    async send(batch) {
      const results: SendResult[] = [];
      for (const m of batch) {
        seen.push(m.messageId);
        const r = answer(m);
        if (r === 'fatal') throw new ProviderFatalError('TWILIO_AUTH', 'bad credentials', results);
        results.push(r);
      }
      return results;
    },
    close: async () => undefined,
  };
  return { adapter, seen };
}

const ok = (m: M): SendResult => ({ messageId: m.messageId, ok: true, providerId: `p${m.messageId}` });
const transient = (m: M): SendResult => ({ messageId: m.messageId, ok: false, kind: 'transient', code: 'TWILIO_503', detail: 'down' });
const permanent = (m: M): SendResult => ({ messageId: m.messageId, ok: false, kind: 'permanent', code: 'TWILIO_BLOCKED', detail: 'STOP' });
const batch = (from: number, n: number): M[] => Array.from({ length: n }, (_, i) => ({ messageId: from + i }));

describe('FailoverAdapter: a circuit breaker between two providers', () => {
  it('keeps to the primary while it answers, permanent refusals included', async () => {
    const primary = fake('twilio-sms', (m) => (m.messageId % 2 ? permanent(m) : ok(m)));
    const secondary = fake('twilio-sms-failover', ok);
    const a = new FailoverAdapter({ primary: primary.adapter, secondary: secondary.adapter, secondaryName: 'twilio-sms-failover' });
    const results = await a.send(batch(1, 20));
    expect(results).toHaveLength(20);
    expect(secondary.seen).toEqual([]);
    expect(a.open).toBe(false);
  });

  it('switches after the threshold of transient failures in a row, resending the unsettled part of the batch through the secondary', async () => {
    const primary = fake('twilio-sms', (m) => (m.messageId === 1 ? ok(m) : transient(m)));
    const secondary = fake('twilio-sms-failover', ok);
    const a = new FailoverAdapter({
      primary: primary.adapter,
      secondary: secondary.adapter,
      secondaryName: 'twilio-sms-failover',
      options: { transientThreshold: 3 },
    });
    const results = await a.send(batch(1, 6));
    expect(a.open).toBe(true);
    expect(results.map((r) => r.ok)).toEqual([true, true, true, true, true, true]);
    expect(results.find((r) => r.messageId === 1)).not.toHaveProperty('via');
    expect(results.filter((r) => r.via === 'twilio-sms-failover').map((r) => r.messageId)).toEqual([2, 3, 4, 5, 6]);
    // While open, the primary gets nothing.
    await a.send(batch(7, 2));
    expect(primary.seen).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('switches at once on a fatal answer, keeping what the primary accepted before it', async () => {
    const primary = fake('twilio-sms', (m) => (m.messageId <= 2 ? ok(m) : 'fatal'));
    const secondary = fake('twilio-sms-failover', ok);
    const a = new FailoverAdapter({ primary: primary.adapter, secondary: secondary.adapter, secondaryName: 'twilio-sms-failover' });
    const results = await a.send(batch(1, 5));
    expect(results.map((r) => [r.messageId, r.ok, r.via ?? 'primary'])).toEqual([
      [1, true, 'primary'],
      [2, true, 'primary'],
      [3, true, 'twilio-sms-failover'],
      [4, true, 'twilio-sms-failover'],
      [5, true, 'twilio-sms-failover'],
    ]);
    expect(secondary.seen).toEqual([3, 4, 5]);
  });

  it('tries the primary again after the cool-down: one failure reopens, a success closes', async () => {
    let now = 0;
    let primaryUp = false;
    const primary = fake('twilio-sms', (m) => (primaryUp ? ok(m) : transient(m)));
    const secondary = fake('twilio-sms-failover', ok);
    const a = new FailoverAdapter({
      primary: primary.adapter,
      secondary: secondary.adapter,
      secondaryName: 'twilio-sms-failover',
      options: { transientThreshold: 2, coolDownMs: 1000 },
      now: () => now,
    });
    await a.send(batch(1, 2));
    expect(a.open).toBe(true);
    now = 1500; // half-open: still down, so one failure reopens
    await a.send(batch(3, 1));
    expect(primary.seen.at(-1)).toBe(3);
    expect(a.open).toBe(true);
    now = 3000;
    primaryUp = true;
    const back = await a.send(batch(4, 1));
    expect(back[0]).toMatchObject({ ok: true });
    expect(back[0]).not.toHaveProperty('via');
    expect(a.open).toBe(false);
  });

  it('fails the campaign only when the secondary is refused too', async () => {
    const a = new FailoverAdapter({
      primary: fake('twilio-sms', () => 'fatal').adapter,
      secondary: fake('twilio-sms-failover', () => 'fatal').adapter,
      secondaryName: 'twilio-sms-failover',
    });
    await expect(a.send(batch(1, 3))).rejects.toMatchObject({
      code: 'TWILIO_AUTH',
      message: expect.stringMatching(/^twilio-sms-failover: /),
    });
  });
});
