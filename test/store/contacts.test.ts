import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/store/database.js';
import { attributeTypes, putAttribute } from '../../src/store/attributes.js';
import { retagContacts, upsertContacts } from '../../src/store/contacts.js';
import { listDevices } from '../../src/store/devices.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects } from '../dialects.js';
import { workspacePerTest } from '../workspace-db.js';

const now = new Date('2026-01-01T00:00:00Z');

describe.each(dialects)('contact store on %s', (dialect) => {
  let db: Db;
  let ws: string;
  workspacePerTest(dialect, now, (d, w) => ((db = d), (ws = w)));

  const count = async () =>
    Number(
      (
        await db
          .selectFrom('contacts')
          .select((eb) => eb.fn.countAll().as('n'))
          .where('workspace_id', '=', ws)
          .executeTakeFirstOrThrow()
      ).n,
    );

  it('refuses an attribute of another type than declared even from a caller that skipped normaliseContact, writing nothing', async () => {
    await putAttribute(db, ws, 'seats', { type: 'number' }, now);
    const result = await upsertContacts(
      db,
      ws,
      [{ email: 'a@x.io' }, { email: 'b@x.io', attributes: { seats: 'ten', city: 'Oslo' } }],
      now,
    );
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'VALIDATION_FAILED', extra: { issues: [{ index: 1, field: 'attributes.seats' }] } },
    });
    expect(await count()).toBe(0);
    expect([...(await attributeTypes(db, ws))]).toEqual([['seats', 'number']]);
  });

  it('declares new attributes with the type of their first value, and holds the rest of the batch to it', async () => {
    const mixed = await upsertContacts(db, ws, [{ attributes: { score: 1 } }, { attributes: { score: 'high' } }], now);
    expect(mixed.ok).toBe(false);
    expect(await attributeTypes(db, ws)).toEqual(new Map());
    expect((await upsertContacts(db, ws, [{ attributes: { score: 1, since: '2020-02-29' } }], now)).ok).toBe(true);
    expect(await attributeTypes(db, ws)).toEqual(
      new Map([
        ['score', 'number'],
        ['since', 'date'],
      ]),
    );
  });

  it('updates the oldest contact with a phone for an input with only a phone, and never one with another email', async () => {
    const first = await upsertContacts(db, ws, [{ phone: '+15550100001' }, { phone: '+15550100001', email: 'b@x.io' }], now);
    expect(first.ok && first.value.created).toBe(2);
    const oldest = first.ok ? first.value.contacts[0] : undefined;
    const again = await upsertContacts(db, ws, [{ phone: '+15550100001', firstName: 'P' }], now);
    expect(again.ok && again.value.contacts[0]!.id).toBe(oldest!.id);
    // An email input does not fall back to the phone: a new contact, the phone shared.
    const other = await upsertContacts(db, ws, [{ phone: '+15550100001', email: 'c@x.io' }], now);
    expect(other.ok && other.value.created).toBe(1);
  });

  it('refuses an external id that the contact with the input’s email already has another of', async () => {
    await upsertContacts(db, ws, [{ email: 'a@x.io', externalId: 'one' }], now);
    const result = await upsertContacts(db, ws, [{ email: 'a@x.io', externalId: 'two', firstName: 'X', attributes: { fresh: 1 } }], now);
    expect(result).toMatchObject({ ok: false, error: { code: 'CONFLICT', extra: { conflicts: [{ index: 0, field: 'externalId' }] } } });
    expect(await count()).toBe(1);
    // A failed call declares nothing either.
    expect(await attributeTypes(db, ws)).toEqual(new Map());
  });

  it('lets concurrent upserts of the same new emails all succeed, with one contact per email', async () => {
    const batch = (k: number) => Array.from({ length: 300 }, (_, i) => ({ email: `u${(i * 7 + k) % 400}@x.io`, firstName: `k${k}` }));
    const results = await Promise.all([0, 1, 2, 3].map((k) => upsertContacts(db, ws, batch(k), now)));
    expect(results.every((r) => r.ok)).toBe(true);
    const emails = new Set([0, 1, 2, 3].flatMap((k) => batch(k).map((c) => c.email)));
    expect(await count()).toBe(emails.size);
  });

  it('registers devices given with the contacts, one row per token', async () => {
    const device = { token: 'tok', platform: 'ios' as const };
    const result = await upsertContacts(db, ws, [{ email: 'a@x.io', devices: [device, device] }], now);
    expect(result.ok).toBe(true);
    const id = result.ok ? result.value.contacts[0]!.id : 0;
    expect(await listDevices(db, ws, id)).toMatchObject([{ kind: 'mobilepush', token: 'tok', platform: 'ios', status: 'active' }]);
  });

  it('retags only this workspace’s contacts, and only those whose tags change', async () => {
    const mine = await upsertContacts(
      db,
      ws,
      [
        { email: 'a@x.io', tags: ['a'] },
        { email: 'b@x.io', tags: ['b'] },
      ],
      now,
    );
    const otherWs = (await createWorkspace(db, { name: 'Other', now })).id;
    const theirs = await upsertContacts(db, otherWs, [{ email: 'a@x.io' }], now);
    const ids = [...(mine.ok ? mine.value.contacts.map((c) => c.id) : []), ...(theirs.ok ? theirs.value.contacts.map((c) => c.id) : [])];
    expect(await retagContacts(db, ws, ids, { add: ['b'], remove: ['a'] }, now)).toEqual({ changed: 1 });
    const tags = await db.selectFrom('contacts').select(['workspace_id', 'tags']).where('id', 'in', ids).orderBy('id').execute();
    expect(tags.map((r) => [r.workspace_id === ws, r.tags])).toEqual([
      [true, '["b"]'],
      [true, '["b"]'],
      [false, '[]'],
    ]);
  });
});
