import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/engine/clock.js';
import type { Db } from '../../src/store/database.js';
import { isSuppressed, suppress } from '../../src/store/suppressions.js';
import { dialects } from '../dialects.js';
import { type Method, type TwoWorkspaces, twoWorkspaces } from './two-workspaces.js';

describe.each(dialects)('the suppression list through the API (%s)', (dialect) => {
  let w: TwoWorkspaces;
  let db: Db;
  let clock: ManualClock;
  let keyA: string;
  let keyB: string;
  let workspaceA: string;

  beforeEach(async () => {
    w = await twoWorkspaces(dialect, '2026-03-01T00:00:00Z');
    ({ db, clock, keyA, keyB, workspaceA } = w);
  });
  afterEach(() => w.close());

  const call = async (method: Method, url: string, payload?: unknown, key = keyA) => {
    const { status, body } = await w.call(method, url, payload, key);
    return { status, body };
  };
  const addresses = async (query = '', key = keyA) =>
    (await call('GET', `/v1/suppressions${query}`, undefined, key)).body.data.map((s: { address: string }) => s.address);

  it('suppresses one address or many, normalising emails and phones', async () => {
    const one = await call('POST', '/v1/suppressions', { address: '  Ann@Example.COM ', reason: 'hard_bounce', source: 'cmp_1' });
    expect(one.status).toBe(201);
    expect(one.body).toEqual({
      address: 'ann@example.com',
      kind: 'email',
      reason: 'hard_bounce',
      source: 'cmp_1',
      note: null,
      createdAt: '2026-03-01T00:00:00.000Z',
    });

    clock.advance(60_000);
    const many = await call('POST', '/v1/suppressions', {
      suppressions: [
        { address: '+49 (151) 2345-6789', reason: 'unsubscribe' },
        { address: '0044 20 7946 0958' },
        { address: 'ANN@example.com', reason: 'complaint', note: 'reported as spam' },
      ],
    });
    expect(many).toEqual({ status: 200, body: { created: 2, updated: 1 } });
    const all = (await call('GET', '/v1/suppressions')).body.data;
    expect(all).toEqual([
      expect.objectContaining({ address: '+4915123456789', kind: 'phone', reason: 'unsubscribe' }),
      expect.objectContaining({ address: '+442079460958', kind: 'phone', reason: 'manual' }),
      // An address suppressed again keeps its first date and takes the latest reason.
      expect.objectContaining({ address: 'ann@example.com', reason: 'complaint', note: 'reported as spam', createdAt: one.body.createdAt }),
    ]);
    expect((await call('GET', '/v1/suppressions/ANN@EXAMPLE.COM')).body).toMatchObject({ reason: 'complaint' });
    expect(await isSuppressed(db, workspaceA, '+49 151 23456789')).toBe(true);
    expect(await isSuppressed(db, workspaceA, 'bob@example.com')).toBe(false);
  });

  it('filters by kind, reason and part of the address, in cursor pages', async () => {
    const entries = Array.from({ length: 7 }, (_, i) => ({
      address: i < 4 ? `user${i}@example.com` : `+3361234567${i}`,
      reason: i % 2 === 0 ? 'unsubscribe' : 'manual',
    }));
    for (const e of entries) {
      await call('POST', '/v1/suppressions', e);
      clock.advance(1000);
    }
    expect(await addresses('?kind=phone')).toEqual(['+33612345676', '+33612345675', '+33612345674']);
    expect(await addresses('?kind=email&reason=unsubscribe')).toEqual(['user2@example.com', 'user0@example.com']);
    expect(await addresses('?q=USER1')).toEqual(['user1@example.com']);
    expect(await addresses('?q=_')).toEqual([]); // wildcards are literal

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { data: { address: string }[]; nextCursor: string | null } } = await call(
        'GET',
        `/v1/suppressions?limit=3${cursor ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...page.body.data.map((s) => s.address));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen).toEqual(entries.map((e) => e.address).reverse());
    expect((await call('GET', '/v1/suppressions?cursor=nonsense')).status).toBe(400);
  });

  it('answers bad input with a 400 naming every bad field, and changes nothing', async () => {
    await call('POST', '/v1/suppressions', { address: 'keep@example.com' });
    const bad = await call('POST', '/v1/suppressions', {
      suppressions: [{ address: 'fine@example.com' }, { address: '0151 2345678' }, { address: 'two@@example.com' }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.errors.map((e: { field: string }) => e.field)).toEqual(['body/suppressions/1/address', 'body/suppressions/2/address']);

    for (const body of [
      { address: 'x@example.com', reason: 'bored' },
      { address: 'x@example.com', extra: 1 },
      { address: '' },
      { suppressions: [] },
      { address: 'not-a-phone' },
    ]) {
      const res = await call('POST', '/v1/suppressions', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
    }
    expect((await call('GET', '/v1/suppressions?kind=fax')).status).toBe(400);
    expect((await call('DELETE', '/v1/suppressions/12')).status).toBe(400);
    expect(await addresses()).toEqual(['keep@example.com']);

    // The receipts work calls suppress() directly: a bad address throws and writes nothing.
    await expect(
      suppress(db, workspaceA, [{ address: 'bounce@example.com', reason: 'hard_bounce' }, { address: 'garbage' }], clock.now()),
    ).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(await isSuppressed(db, workspaceA, 'bounce@example.com')).toBe(false);
    expect(await suppress(db, workspaceA, [{ address: 'Bounce@Example.com', reason: 'hard_bounce' }], clock.now())).toEqual({
      created: 1,
      updated: 0,
    });
  });

  it('lifts a suppression by address in any spelling', async () => {
    await call('POST', '/v1/suppressions', { suppressions: [{ address: 'ann@example.com' }, { address: '+4915123456789' }] });
    expect((await call('DELETE', '/v1/suppressions/ANN%40example.com')).status).toBe(204);
    expect((await call('DELETE', '/v1/suppressions/ann%40example.com')).status).toBe(404);
    expect((await call('DELETE', `/v1/suppressions/${encodeURIComponent('+49 151 23456789')}`)).status).toBe(204);
    expect(await addresses()).toEqual([]);
  });

  it('keeps each workspace’s list to itself', async () => {
    await call('POST', '/v1/suppressions', { address: 'ann@example.com', reason: 'complaint' });
    expect(await addresses('', keyB)).toEqual([]);
    expect((await call('GET', '/v1/suppressions/ann%40example.com', undefined, keyB)).status).toBe(404);
    expect((await call('DELETE', '/v1/suppressions/ann%40example.com', undefined, keyB)).status).toBe(404);
    // B suppressing the same address is B's own row; A's stays as it was.
    expect((await call('POST', '/v1/suppressions', { address: 'ann@example.com' }, keyB)).status).toBe(201);
    expect((await call('GET', '/v1/suppressions/ann%40example.com')).body.reason).toBe('complaint');
    expect((await call('GET', '/v1/suppressions', undefined, 'wrong-key')).status).toBe(401);
  });
});
