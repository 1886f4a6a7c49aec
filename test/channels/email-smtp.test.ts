import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterEach, describe, expect, it } from 'vitest';
import { SmtpEmailAdapter, classifySmtpError } from '../../src/channels/email-smtp/adapter.js';
import { sandboxSmtpConfig } from '../../src/channels/email-smtp/config.js';
import { SandboxMailbox, decodeWords, parseHeaders, startSandboxSmtp } from '../../src/channels/email-smtp/sandbox.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

/** A stand-in for a real provider's SMTP relay: requires AUTH PLAIN/LOGIN with one account. */
async function startAuthRelay(user: string, pass: string, opts: { maxLogins?: number } = {}) {
  const received: string[] = [];
  let logins = 0;
  const server = new SMTPServer({
    authOptional: false,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === pass && ++logins <= (opts.maxLogins ?? Infinity)) return callback(null, { user });
      return callback(Object.assign(new Error('5.7.8 Authentication credentials invalid'), { responseCode: 535 }));
    },
    onData(stream, session, callback) {
      stream.on('data', () => undefined);
      stream.on('end', () => {
        received.push(...session.envelope.rcptTo.map((r) => r.address));
        callback();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

let t: TestHerald | undefined;
let relay: Awaited<ReturnType<typeof startAuthRelay>> | undefined;
afterEach(async () => {
  await t?.close();
  await relay?.close();
  t = undefined;
  relay = undefined;
});

describe('email over SMTP to a configured provider (sandbox off)', () => {
  it('logs in with the configured account and delivers every message', async () => {
    relay = await startAuthRelay('herald', 's3cret');
    t = await startTestHerald({
      env: { HERALD_SANDBOX: 'off', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(relay.port), SMTP_USER: 'herald', SMTP_PASS: 's3cret' },
    });
    const { campaign } = await seedCampaign(t.api, { contacts: 40 });
    await act(t.api, campaign.id, 'launch');
    const done = await waitFor(t.api, campaign.id, (c) => c.status !== 'queued' && c.status !== 'sending');
    expect(done).toMatchObject({ status: 'completed', outcome: 'fully_sent' });
    expect(new Set(relay.received).size).toBe(40);
    expect(t.herald.mailbox).toBeNull();
  });

  it('fails the campaign with the reason when the provider refuses the login, and keeps every recipient unsent', async () => {
    relay = await startAuthRelay('herald', 's3cret');
    t = await startTestHerald({
      env: { HERALD_SANDBOX: 'off', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(relay.port), SMTP_USER: 'herald', SMTP_PASS: 'wrong' },
    });
    const { campaign } = await seedCampaign(t.api, { contacts: 30 });
    await act(t.api, campaign.id, 'launch');
    const failed = await waitFor(t.api, campaign.id, (c) => c.status === 'failed');
    expect(failed.failureReasons).toEqual([expect.objectContaining({ code: 'SMTP_AUTH' })]);
    expect(failed.allowedActions).toEqual(expect.arrayContaining(['retry', 'edit', 'report']));
    const idle = await waitFor(t.api, campaign.id, (c) => c.counts.inFlight === 0);
    expect(idle.counts).toMatchObject({ total: 30, sent: 0, failed: 0, pending: 30 });
    expect(relay.received).toEqual([]);
  });
});

describe('a provider that stops accepting mid-batch', () => {
  it('records what it accepted as sent, so a retry never sends those again', async () => {
    // The relay lets one pooled connection in and refuses the other four.
    relay = await startAuthRelay('herald', 's3cret', { maxLogins: 1 });
    t = await startTestHerald({
      env: { HERALD_SANDBOX: 'off', SMTP_HOST: '127.0.0.1', SMTP_PORT: String(relay.port), SMTP_USER: 'herald', SMTP_PASS: 's3cret' },
    });
    const { campaign } = await seedCampaign(t.api, { contacts: 50 });
    await act(t.api, campaign.id, 'launch');
    const failed = await waitFor(t.api, campaign.id, (c) => c.status === 'failed' && c.counts.inFlight === 0);
    expect(relay.received.length).toBeGreaterThan(0);
    expect(failed.counts.sent).toBe(relay.received.length);
    expect(failed.counts.pending).toBe(50 - relay.received.length);
    expect(failed.allowedActions).not.toContain('delete');

    await act(t.api, campaign.id, 'retry');
    await waitFor(t.api, campaign.id, (c) => c.status !== 'sending' && c.counts.inFlight === 0);
    expect(new Set(relay.received).size).toBe(relay.received.length);
  });
});

describe('SMTP failures map to our outcome kinds', () => {
  it.each([
    [
      { responseCode: 550, response: '550 5.1.1 no such user' },
      { fatal: false, kind: 'permanent', code: 'SMTP_550' },
    ],
    [
      { responseCode: 552, response: '552 mailbox full' },
      { fatal: false, kind: 'permanent', code: 'SMTP_552' },
    ],
    [
      { responseCode: 451, response: '451 try later' },
      { fatal: false, kind: 'transient', code: 'SMTP_451' },
    ],
    [
      { responseCode: 421, response: '421 closing' },
      { fatal: false, kind: 'transient', code: 'SMTP_421' },
    ],
    [{ code: 'ECONNECTION' }, { fatal: false, kind: 'transient', code: 'ECONNECTION' }],
    [{ code: 'ETIMEDOUT' }, { fatal: false, kind: 'transient', code: 'ETIMEDOUT' }],
    [
      { code: 'EAUTH', responseCode: 535 },
      { fatal: true, code: 'SMTP_AUTH' },
    ],
    [{ code: 'EENVELOPE' }, { fatal: false, kind: 'permanent', code: 'EENVELOPE' }],
  ])('%o → %o', (err, expected) => {
    expect(classifySmtpError(Object.assign(new Error('smtp'), err))).toMatchObject(expected);
  });

  it('reports each message’s own result in a mixed batch', async () => {
    const sandbox = await startSandboxSmtp();
    const adapter = new SmtpEmailAdapter(sandboxSmtpConfig(sandbox.host, sandbox.port));
    try {
      const base = {
        runId: 1,
        from: { name: 'N', address: 'n@example.test' },
        replyTo: null,
        subject: 'S',
        html: null,
        text: 'T',
        headers: {},
      };
      const results = await adapter.send([
        { ...base, messageId: 1, headerMessageId: '<herald.1.1@example.test>', to: 'a@example.test' },
        { ...base, messageId: 2, headerMessageId: '<herald.1.2@example.test>', to: 'b+fail@example.test' },
        { ...base, messageId: 3, headerMessageId: '<herald.1.3@example.test>', to: 'c+tempfail@example.test' },
      ]);
      expect(results).toEqual([
        { messageId: 1, ok: true, providerId: '<herald.1.1@example.test>' },
        expect.objectContaining({ messageId: 2, ok: false, kind: 'permanent', code: 'SMTP_550' }),
        expect.objectContaining({ messageId: 3, ok: false, kind: 'transient', code: 'SMTP_451' }),
      ]);
      expect(sandbox.mailbox.summary()).toEqual({ received: 1, unique: 1, duplicates: 0 });
    } finally {
      await adapter.close();
      await sandbox.close();
    }
  });
});

describe('the sandbox reads what it receives', () => {
  it('unfolds headers and decodes encoded words', () => {
    const headers = parseHeaders('Subject: =?UTF-8?Q?Caf=C3=A9?=\r\n =?UTF-8?B?IG5ld3M=?=\r\nMessage-ID: <x@y>\r\n\r\nbody: not a header');
    expect(decodeWords(headers.get('subject')!)).toBe('Café news');
    expect(headers.get('message-id')).toBe('<x@y>');
    expect(headers.has('body')).toBe(false);
  });
});

describe('the sandbox mailbox over a long send', () => {
  const message = (i: number, campaignId: string) => ({
    messageId: `<herald.1.${i}@example.test>`,
    from: 'news@example.test',
    to: [`reader${i}@example.test`],
    subject: `Hi ${i}`,
    workspaceId: 'ws_1',
    campaignId,
    receivedAt: '2026-12-01T00:00:00.000Z',
    size: 10,
  });

  it('keeps the latest messages whole and still counts every delivery and duplicate by campaign', () => {
    const mailbox = new SandboxMailbox({ keepWhole: 3 });
    for (let i = 1; i <= 5; i++) mailbox.record(message(i, 'cmp_a'));
    mailbox.record(message(1, 'cmp_a')); // a re-delivery of a message no longer kept whole
    mailbox.record(message(5, 'cmp_a')); // and of one that is
    mailbox.record(message(6, 'cmp_b'));

    expect(mailbox.summary()).toEqual({ received: 8, unique: 6, duplicates: 2 });
    expect(mailbox.summary({ campaignId: 'cmp_a' })).toEqual({ received: 7, unique: 5, duplicates: 2 });
    expect(mailbox.summary({ workspaceId: 'ws_1', campaignId: 'cmp_b' })).toEqual({ received: 1, unique: 1, duplicates: 0 });
    expect(mailbox.summary({ workspaceId: 'ws_other' })).toEqual({ received: 0, unique: 0, duplicates: 0 });
    // Listing and recipient filters see the kept messages only, newest first.
    expect(mailbox.latest({ limit: 10 }).map((m) => [m.subject, m.deliveries])).toEqual([
      ['Hi 6', 1],
      ['Hi 5', 2],
      ['Hi 4', 1],
    ]);
    expect(mailbox.summary({ to: 'reader5@example.test' })).toEqual({ received: 2, unique: 1, duplicates: 1 });
    expect(mailbox.summary({ to: 'reader1@example.test' }).received).toBe(0);

    mailbox.clear();
    expect(mailbox.summary({ campaignId: 'cmp_a' })).toEqual({ received: 0, unique: 0, duplicates: 0 });
  });
});
