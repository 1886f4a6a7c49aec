import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { registerIdempotency } from '../../src/api/idempotency.js';
import { errorHandler } from '../../src/api/problem.js';
import { ManualClock } from '../../src/engine/clock.js';
import { dialects, migratedDatabase } from '../dialects.js';

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/**
 * The Idempotency-Key hooks on a bare Fastify app with one slow route, so a request can be
 * kept running while the clock moves past the abandonment time.
 */
async function slowApp(dialect: (typeof dialects)[number]) {
  const database = await migratedDatabase(dialect);
  const clock = new ManualClock('2026-03-01T12:00:00Z');
  const app: FastifyInstance = Fastify();
  app.decorateRequest('workspaceId', '');
  app.addHook('onRequest', async (request) => {
    request.workspaceId = 'ws_1';
  });
  registerIdempotency(app, { db: database.db, clock, heartbeatMs: 10 });
  app.setErrorHandler(errorHandler);
  let runs = 0;
  let release: () => void = () => {};
  const gate = new Promise<void>((resolve) => (release = resolve));
  app.post('/slow', async () => {
    runs++;
    await gate;
    return { run: runs };
  });
  await app.ready();
  close = async () => {
    release();
    await app.close();
    await database.close();
  };
  const post = () => app.inject({ method: 'POST', url: '/slow', payload: { a: 1 }, headers: { 'idempotency-key': 'k-1' } });
  return { clock, post, release, runs: () => runs };
}

describe.each(dialects)('Idempotency-Key (%s)', (dialect) => {
  it('a request running longer than the abandonment time is never taken over: the retry gets 409, then the stored answer', async () => {
    const app = await slowApp(dialect);
    const first = app.post();
    await expect.poll(() => app.runs()).toBe(1);
    // Two minutes pass while the first request still runs; its heartbeat keeps the key.
    for (let i = 0; i < 12; i++) {
      app.clock.advance(10_000);
      await new Promise((r) => setTimeout(r, 30));
    }
    const retry = await app.post();
    expect(retry.statusCode).toBe(409);
    expect(retry.json()).toMatchObject({ code: 'IDEMPOTENCY_IN_PROGRESS' });
    app.release();
    expect((await first).json()).toEqual({ run: 1 });
    const replay = await app.post();
    expect(replay.json()).toEqual({ run: 1 });
    expect(replay.headers['idempotent-replayed']).toBe('true');
    expect(app.runs()).toBe(1);
  });
});
