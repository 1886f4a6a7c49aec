import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Channel } from '../../src/domain/lifecycle.js';
import { countAudience, sampleAudience } from '../../src/store/audience-estimate.js';
import type { Db } from '../../src/store/database.js';
import { suppress } from '../../src/store/suppressions.js';
import { createWorkspace } from '../../src/store/workspaces.js';
import { dialects, migratedDatabase } from '../dialects.js';

describe.each(dialects)('a channel’s address for each contact (%s)', (dialect) => {
  let db: Db;
  let database: Awaited<ReturnType<typeof migratedDatabase>>;
  let ws: string;
  const now = new Date('2026-03-01T00:00:00Z');
  const at = now.toISOString();

  beforeEach(async () => {
    database = await migratedDatabase(dialect);
    db = database.db;
    ws = (await createWorkspace(db, { name: 'W', now })).id;
    const other = (await createWorkspace(db, { name: 'Other', now })).id;
    const contact = (workspace: string, fields: Record<string, string | null>) => ({
      workspace_id: workspace,
      email: null,
      phone: null,
      telegram_chat_id: null,
      viber_id: null,
      first_name: null,
      last_name: null,
      time_zone: null,
      attributes: '{}',
      external_id: null,
      created_at: at,
      updated_at: at,
      ...fields,
    });
    const ids = await db
      .insertInto('contacts')
      .values([
        contact(ws, { email: 'a@example.com', phone: '+4915100000001', telegram_chat_id: '1001' }),
        contact(ws, { email: 'b@example.com', viber_id: 'vb-2' }),
        contact(ws, { phone: '+4915100000003' }),
        contact(ws, {}),
        contact(other, { email: 'a@example.com', phone: '+4915100000001' }),
      ])
      .returning('id')
      .execute();
    const device = (i: number, kind: 'webpush' | 'mobilepush', token: string, status: 'active' | 'gone') => ({
      workspace_id: ws,
      contact_id: ids[i]!.id,
      kind,
      token,
      keys: null,
      platform: null,
      status,
      created_at: at,
      updated_at: at,
    });
    await db
      .insertInto('contact_devices')
      .values([
        device(0, 'webpush', 'https://push.example/old', 'active'),
        device(0, 'webpush', 'https://push.example/new', 'active'),
        device(1, 'webpush', 'https://push.example/gone', 'gone'),
        device(2, 'mobilepush', 'fcm-token-3', 'active'),
      ])
      .execute();
    // Suppressed in the other workspace only: no effect here.
    await suppress(db, other, [{ address: 'b@example.com' }], now);
  });
  afterEach(async () => {
    await database.close();
  });

  const everyone = sql<boolean>`1 = 1`;
  const count = (channel: Channel) => countAudience(db, { workspaceId: ws, channel, where: everyone });
  const addresses = async (channel: Channel) =>
    (await sampleAudience(db, { workspaceId: ws, channel, where: everyone, limit: 10 })).map((r) => r.address);

  it('reads each channel’s own field, and push from the newest active device', async () => {
    expect(await addresses('email')).toEqual(['a@example.com', 'b@example.com']);
    expect(await addresses('sms')).toEqual(['+4915100000001', '+4915100000003']);
    expect(await addresses('voice')).toEqual(['+4915100000001', '+4915100000003']);
    expect(await addresses('telegram')).toEqual(['1001']);
    expect(await addresses('viber')).toEqual(['vb-2']);
    // A web push address is the whole subscription: the adapter needs its keys to encrypt.
    expect((await addresses('webpush')).map((a) => JSON.parse(a) as unknown)).toEqual([
      { endpoint: 'https://push.example/new', keys: null },
    ]);
    expect(await addresses('push')).toEqual(['fcm-token-3']);
    expect(await addresses('webhook')).toHaveLength(4);
  });

  it('counts those without an address and those suppressed, per channel', async () => {
    expect(await count('email')).toEqual({ selected: 4, addressed: 2, deliverable: 2 });
    await suppress(db, ws, [{ address: ' A@Example.com' }, { address: '+49 151 00000003', reason: 'unsubscribe' }], now);
    expect(await count('email')).toEqual({ selected: 4, addressed: 2, deliverable: 1 });
    expect(await count('sms')).toEqual({ selected: 4, addressed: 2, deliverable: 1 });
    expect(await addresses('sms')).toEqual(['+4915100000001']);
    // Nobody's Telegram chat or push device is on the list here, so those channels keep theirs.
    expect(await count('telegram')).toEqual({ selected: 4, addressed: 1, deliverable: 1 });
    expect(await count('webpush')).toEqual({ selected: 4, addressed: 1, deliverable: 1 });
  });
});
