import { afterEach, describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/store/secrets.js';
import { openCredentials } from '../../src/store/senders.js';
import { dialects } from '../dialects.js';
import { type TwoWorkspaces, twoWorkspaces } from './two-workspaces.js';

/** Templates and senders for the channels beyond email, through the HTTP API (issue 5). */
describe.each(dialects)('templates and senders per channel (%s)', (dialect) => {
  let w: TwoWorkspaces;
  const secrets = SecretBox.random();
  afterEach(() => w.close());

  it('stores each channel’s content and refuses content that does not fit its channel, naming the field', async () => {
    w = await twoWorkspaces(dialect, '2026-01-01T00:00:00Z', { secrets });
    const ok = [
      { channel: 'sms', content: { text: 'Hi {{ contact.firstName }}' } },
      { channel: 'voice', content: { say: 'Hello {{ contact.firstName }}', language: 'en-GB' } },
      { channel: 'webpush', content: { title: 'Hi', body: 'News', url: 'https://example.test' } },
      { channel: 'push', content: { title: 'Hi', body: 'News', data: { screen: 'news' } } },
      { channel: 'telegram', content: { text: 'Hi', parseMode: 'HTML', buttons: [{ text: 'Open', url: 'https://example.test' }] } },
      { channel: 'viber', content: { imageUrl: 'https://example.test/p.jpg' } },
      { channel: 'webhook', content: { event: 'news', data: { greeting: 'Hi {{ contact.firstName }}' } } },
    ];
    for (const t of ok) {
      const r = await w.call('POST', '/v1/templates', { name: t.channel, ...t });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ channel: t.channel, content: t.content, subject: null });
      expect((await w.call('GET', `/v1/templates/${r.body.id}`)).body.content).toEqual(t.content);
    }
    const bad: [unknown, string][] = [
      [{ channel: 'sms', content: { text: '' } }, 'body/content/text'],
      [{ channel: 'sms', subject: 'Hi', content: { text: 'x' } }, 'body/subject'],
      [{ channel: 'voice', content: { say: 'a', audioUrl: 'https://example.test/a.mp3' } }, 'body/content'],
      [{ channel: 'viber', content: {} }, 'body/content'],
      [{ channel: 'telegram' }, 'body/content'],
      [{ channel: 'email', content: { text: 'x' } }, 'body/subject'],
    ];
    for (const [body, field] of bad) {
      const r = await w.call('POST', '/v1/templates', { name: 'bad', ...(body as object) });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const liquid = await w.call('POST', '/v1/templates', { name: 'bad', channel: 'sms', content: { text: 'Hi {{ contact.firstName ' } });
    expect(liquid.body).toMatchObject({ status: 400, code: 'TEMPLATE_INVALID' });
    expect(liquid.body.errors[0].field).toBe('body/content/text');
    expect((await w.call('GET', '/v1/templates')).body.data).toHaveLength(ok.length);
  });

  it('keeps sender credentials encrypted and never returns them; a sender must carry its channel’s address', async () => {
    w = await twoWorkspaces(dialect, '2026-01-01T00:00:00Z', { secrets });
    const created = await w.call('POST', '/v1/senders', {
      name: 'Alerts',
      channel: 'sms',
      address: '+14155550100',
      credentials: { accountSid: 'AC123', authToken: 'very-secret-token' },
    });
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ channel: 'sms', address: '+14155550100', hasCredentials: true, fromEmail: null });
    expect(JSON.stringify(created.body)).not.toContain('very-secret-token');
    expect(JSON.stringify((await w.call('GET', `/v1/senders/${created.body.id}`)).body)).not.toContain('very-secret-token');
    const row = await w.db.selectFrom('senders').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(row.credentials).not.toContain('very-secret-token');
    expect(openCredentials(row, secrets)).toEqual({ accountSid: 'AC123', authToken: 'very-secret-token' });
    expect(() => openCredentials(row, SecretBox.random())).toThrow();

    const alphanumeric = await w.call('POST', '/v1/senders', { name: 'Brand', channel: 'sms', address: 'HERALD' });
    expect(alphanumeric.status).toBe(201);
    const missing: [unknown, string][] = [
      [{ channel: 'sms' }, 'body/address'],
      [{ channel: 'sms', address: '0155 1234' }, 'body/address'],
      [{ channel: 'voice', address: 'HERALD' }, 'body/address'],
      [{ channel: 'viber' }, 'body/fromName'],
      [{ channel: 'viber', fromName: 'A name far longer than the twenty-eight characters Viber shows' }, 'body/fromName'],
      [{ channel: 'email' }, 'body/fromEmail'],
    ];
    for (const [body, field] of missing) {
      const r = await w.call('POST', '/v1/senders', { name: 'bad', ...(body as object) });
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    // New credentials replace the old ones, still sealed.
    const patched = await w.call('PATCH', `/v1/senders/${created.body.id}`, { credentials: { accountSid: 'AC9', authToken: 'rotated' } });
    expect(patched.status).toBe(200);
    const again = await w.db.selectFrom('senders').selectAll().where('id', '=', created.body.id).executeTakeFirstOrThrow();
    expect(openCredentials(again, secrets)).toEqual({ accountSid: 'AC9', authToken: 'rotated' });
    // Another workspace sees none of it.
    expect((await w.call('GET', `/v1/senders/${created.body.id}`, undefined, w.keyB)).status).toBe(404);
  });

  it('refuses credentials when there is no key to seal them with, and stores nothing', async () => {
    w = await twoWorkspaces(dialect, '2026-01-01T00:00:00Z');
    const r = await w.call('POST', '/v1/senders', { name: 'Bot', channel: 'telegram', credentials: { botToken: '123:abc' } });
    expect(r.status).toBe(409);
    expect(r.body).toMatchObject({ code: 'SECRETS_UNAVAILABLE' });
    expect(r.body.detail).toContain('HERALD_SECRET_KEY');
    expect((await w.call('GET', '/v1/senders')).body.data).toEqual([]);
  });
});
