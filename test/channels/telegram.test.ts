import { readFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingTelegram, type SendResult } from '../../src/channels/channel.js';
import type { SenderIdentity } from '../../src/channels/provider.js';
import { TelegramAdapter, setWebhook, toWireMessage, verdictOfAnswer } from '../../src/channels/telegram/adapter.js';
import { type TelegramConfig, sandboxTelegramConfig, telegramConfigFromEnv } from '../../src/channels/telegram/config.js';
import { telegramProvider } from '../../src/channels/telegram/index.js';
import { parseTelegramUpdate, verifyTelegramUpdate, webhookSecretOf } from '../../src/channels/telegram/receipts.js';
import {
  type TelegramSandboxOptions,
  type TelegramSandboxServer,
  sandboxBotToken,
  sandboxWebhookSecret,
  startSandboxTelegram,
} from '../../src/channels/telegram/sandbox.js';
import { fatalOf } from './provider-fatal.js';
import { type ReceiptSink, startReceiptSink } from './receipt-sink.js';
import { specPath } from '../specs/spec-path.js';

function tg(id: number, to = String(5_550_000 + id), overrides: Partial<OutgoingTelegram> = {}): OutgoingTelegram {
  return {
    channel: 'telegram',
    messageId: id,
    runId: 7,
    ledgerKey: `7.${id}`,
    to,
    text: `Hello ${id}`,
    parseMode: null,
    buttons: [],
    ...overrides,
  };
}

const many = (n: number, from = 1) => Array.from({ length: n }, (_, i) => tg(from + i));

const sender = (
  credentials: Record<string, string> = { botToken: sandboxBotToken, webhookSecret: sandboxWebhookSecret },
): SenderIdentity => ({
  id: 'snd_1',
  name: 'Herald News',
  address: 'herald_sandbox_bot',
  credentials,
});

const servers: Server[] = [];
let sandbox: TelegramSandboxServer | undefined;
const adapters: TelegramAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  await sandbox?.close();
  sandbox = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

/** A loopback server that keeps every request it gets and answers from a script (default: Telegram's `ok`). */
async function startRecorder(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = okAnswer): Promise<ReceiptSink> {
  const sink = await startReceiptSink('', answer);
  servers.push(sink.server);
  return sink;
}

function okAnswer(n: number, _req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify({ ok: true, result: { message_id: n, date: 0, chat: { id: 1, type: 'private' } } }));
}

async function startSandbox(options: Partial<TelegramSandboxOptions> = {}): Promise<TelegramSandboxServer> {
  sandbox = await startSandboxTelegram({ receiptUrl: () => null, ...options });
  return sandbox;
}

function adapterFor(url: string, overrides: Partial<TelegramConfig> = {}, who: SenderIdentity = sender()): TelegramAdapter {
  const a = new TelegramAdapter({ ...sandboxTelegramConfig(url), ...overrides }, who);
  adapters.push(a);
  return a;
}

const outcome = (r: SendResult) => (r.ok ? 'ok' : `${r.kind}:${r.code}`);

describe('telegramConfigFromEnv', () => {
  it('is null without TELEGRAM_API_URL or TELEGRAM_BOT_TOKEN, and defaults to api.telegram.org with a token', () => {
    expect(telegramConfigFromEnv({})).toBeNull();
    expect(telegramConfigFromEnv({ TELEGRAM_BOT_TOKEN: '123:abc_DEF-9' })).toEqual({
      baseUrl: 'https://api.telegram.org',
      botToken: '123:abc_DEF-9',
      concurrency: 25,
      timeoutMs: 30_000,
      maxRetryWaitMs: 10_000,
      linkPreviews: true,
    });
    expect(telegramConfigFromEnv({ TELEGRAM_API_URL: 'http://127.0.0.1:8081/', TELEGRAM_LINK_PREVIEWS: 'false' })).toMatchObject({
      baseUrl: 'http://127.0.0.1:8081',
      botToken: null,
      linkPreviews: false,
    });
  });

  it('refuses plain http off loopback, a concurrency over 30 and a malformed token, without quoting the token', () => {
    expect(() => telegramConfigFromEnv({ TELEGRAM_API_URL: 'http://telegram.example.com' })).toThrow(/https/);
    expect(() => telegramConfigFromEnv({ TELEGRAM_BOT_TOKEN: '1:a', TELEGRAM_CONCURRENCY: '31' })).toThrow(/TELEGRAM_CONCURRENCY/);
    expect(() => telegramConfigFromEnv({ TELEGRAM_BOT_TOKEN: 'secret/../path' })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining('secret/../path') }),
    );
  });
});

describe('sendMessage in the Bot API shape', () => {
  it('puts parse mode, a numeric chat id and the buttons as one inline keyboard row; nothing optional when unset', () => {
    const m = tg(1, '-1001234567890', {
      text: '<b>Sale</b> ends soon',
      parseMode: 'HTML',
      buttons: [
        { text: 'Shop', url: 'https://shop.example.com' },
        { text: 'Stop', url: 'https://example.com/stop' },
      ],
    });
    expect(toWireMessage(m, { linkPreviews: false })).toEqual({
      chat_id: -1001234567890,
      text: '<b>Sale</b> ends soon',
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      reply_markup: {
        inline_keyboard: [
          [
            { text: 'Shop', url: 'https://shop.example.com' },
            { text: 'Stop', url: 'https://example.com/stop' },
          ],
        ],
      },
    });
    expect(toWireMessage(tg(2, '@heraldnews'), { linkPreviews: true })).toEqual({ chat_id: '@heraldnews', text: 'Hello 2' });
  });

  it('wraps more than 8 buttons into rows of 8, Telegram’s row limit', () => {
    const buttons = Array.from({ length: 10 }, (_, i) => ({ text: `B${i}`, url: `https://example.com/${i}` }));
    const rows = toWireMessage(tg(1, '1', { buttons }), { linkPreviews: true }).reply_markup!.inline_keyboard;
    expect(rows.map((r) => r.length)).toEqual([8, 2]);
  });

  it('posts JSON to /bot<token>/sendMessage under the base path and answers providerId <chat>:<message_id>', async () => {
    const stub = await startRecorder();
    const results = await adapterFor(`${stub.url}/tg`).send([tg(1, '42')]);
    expect(results).toEqual([{ messageId: 1, ok: true, providerId: '42:1' }]);
    const [req] = stub.received;
    expect(req!.method).toBe('POST');
    expect(new URL(req!.url).pathname).toBe(`/tg/bot${sandboxBotToken}/sendMessage`);
    expect(req!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req!.rawBody.toString())).toEqual({ chat_id: 42, text: 'Hello 1' });
  });
});

describe('sending through the sandbox Bot API', () => {
  it('delivers a text with buttons and a parse mode, counting the text as Telegram does after entity parsing', async () => {
    const sb = await startSandbox();
    const m = tg(1, '5550001', {
      text: '<b>Hello</b> &amp; <a href="https://example.com">welcome</a>',
      parseMode: 'HTML',
      buttons: [{ text: 'Open', url: 'https://example.com/open' }],
    });
    const md = tg(2, '5550002', { text: '*Bold* and \\_under\\_ end\\.', parseMode: 'MarkdownV2' });
    const results = await adapterFor(sb.url).send([m, md]);
    expect(results).toEqual([
      { messageId: 1, ok: true, providerId: '5550001:1' },
      { messageId: 2, ok: true, providerId: '5550002:2' },
    ]);
    expect(sb.accepted).toBe(2);
    expect(sb.duplicates).toBe(0);
    expect(sb.messages()).toEqual([
      expect.objectContaining({ channel: 'telegram', to: '5550001', providerId: '5550001:1', summary: 'Hello & welcome', ledgerKey: null }),
      expect.objectContaining({ to: '5550002', providerId: '5550002:2', summary: 'Bold and _under_ end.' }),
    ]);
  });

  it('answers each message of a mixed batch in input order: blocked, chat not found, bad markup, too long, fine', async () => {
    const sb = await startSandbox();
    const results = await adapterFor(sb.url).send([
      tg(1, '7000403'),
      tg(2, '7000400'),
      tg(3, '7000003', { text: '<b>unclosed', parseMode: 'HTML' }),
      tg(4, '7000004', { text: 'Price: 5.00', parseMode: 'MarkdownV2' }),
      tg(5, '7000005', { text: 'x'.repeat(4097) }),
      tg(6, '7000006', { buttons: [{ text: 'Bad', url: 'javascript:alert(1)' }] }),
      tg(7, '7000007', { text: `<i>${'y'.repeat(4096)}</i>`, parseMode: 'HTML' }),
    ]);
    expect(results.map((r) => r.messageId)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(results.map(outcome)).toEqual([
      'permanent:TELEGRAM_BLOCKED',
      'permanent:TELEGRAM_CHAT_NOT_FOUND',
      'permanent:TELEGRAM_PARSE',
      'permanent:TELEGRAM_PARSE',
      'permanent:TELEGRAM_TEXT_LENGTH',
      'permanent:TELEGRAM_BAD_REQUEST',
      'ok',
    ]);
    expect(results[0]).toMatchObject({ recipient: 'blocked', detail: 'Forbidden: bot was blocked by the user (Telegram 403)' });
    expect(results[1]).not.toHaveProperty('recipient');
    expect(results[3]).toMatchObject({ detail: expect.stringContaining("Character '.' is reserved") });
    expect(sb.accepted).toBe(1);
  });

  it('answers 429 as transient with retry_after in milliseconds, and holds the next request of the bot until then', async () => {
    const sb = await startSandbox({ retryAfterSeconds: 1 });
    const adapter = adapterFor(sb.url);
    const [limited] = await adapter.send([tg(1, '7000429')]);
    expect(limited).toEqual({
      messageId: 1,
      ok: false,
      kind: 'transient',
      code: 'TELEGRAM_RATE_LIMITED',
      detail: 'Too Many Requests: retry after 1 (Telegram 429)',
      retryAfterMs: 1000,
    });
    const started = Date.now();
    expect(await adapter.send([tg(2)])).toEqual([expect.objectContaining({ ok: true })]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('does not call inside a retry_after longer than it may wait: transient at once, with the time left', async () => {
    const sb = await startSandbox({ retryAfterSeconds: 120 });
    const adapter = adapterFor(sb.url, { maxRetryWaitMs: 1_000 });
    await adapter.send([tg(1, '7000429')]);
    const [second] = await adapter.send([tg(2)]);
    expect(second).toMatchObject({ ok: false, kind: 'transient', code: 'TELEGRAM_RATE_LIMITED' });
    expect((second as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(100_000);
    expect(sb.accepted).toBe(0);
  });

  it('answers 5xx and a refused connection as transient', async () => {
    const sb = await startSandbox();
    const [down] = await adapterFor(sb.url).send([tg(1, '7000500')]);
    expect(outcome(down!)).toBe('transient:TELEGRAM_UNAVAILABLE');
    const closedUrl = sb.url;
    await sb.close();
    sandbox = undefined;
    const [unreachable] = await adapterFor(closedUrl).send([tg(2)]);
    expect(outcome(unreachable!)).toBe('transient:TELEGRAM_NETWORK');
    expect(JSON.stringify(unreachable)).not.toContain(sandboxBotToken);
  });

  it('draws rate faults from a seeded PRNG: the same seed gives the same answers, blocked chats stay blocked', async () => {
    const run = async () => {
      const sb = await startSandboxTelegram({ receiptUrl: () => null, transientRate: 0.2, permanentRate: 0.2, seed: 42 });
      const adapter = new TelegramAdapter(sandboxTelegramConfig(sb.url), sender());
      try {
        const first = (await adapter.send(many(40))).map(outcome);
        const again = (await adapter.send(many(40))).map(outcome);
        return { first, again };
      } finally {
        await adapter.close();
        await sb.close();
      }
    };
    const a = await run();
    const b = await run();
    expect(a).toEqual(b);
    expect(new Set(a.first)).toEqual(new Set(['ok', 'transient:TELEGRAM_UNAVAILABLE', 'permanent:TELEGRAM_BLOCKED']));
    a.first.forEach((o, i) => {
      if (o === 'permanent:TELEGRAM_BLOCKED') expect(a.again[i]).toBe(o);
    });
  });

  it('remembers only the latest messages, newest last, while counting every one', async () => {
    const sb = await startSandbox({ keep: 3 });
    await adapterFor(sb.url, { concurrency: 1 }).send(many(5));
    expect(sb.accepted).toBe(5);
    expect(sb.messages().map((m) => m.summary)).toEqual(['Hello 3', 'Hello 4', 'Hello 5']);
  });

  it('sends 60 messages at most `concurrency` at a time and answers in input order', async () => {
    let inFlight = 0;
    let most = 0;
    const stub = await startRecorder((n, _req, res) => {
      inFlight++;
      most = Math.max(most, inFlight);
      setTimeout(() => {
        inFlight--;
        okAnswer(n, _req, res);
      }, 20);
    });
    const batch = many(60);
    const results = await adapterFor(stub.url, { concurrency: 5 }).send(batch);
    expect(results.map((r) => r.messageId)).toEqual(batch.map((m) => m.messageId));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(most).toBe(5);
  });
});

describe('a bot that cannot send', () => {
  it('throws BOT_BLOCKED when the token is revoked, with the results of what was accepted before, and starts nothing after', async () => {
    const sb = await startSandbox({ latencyMs: 80 });
    const adapter = adapterFor(sb.url, { concurrency: 1 });
    const sending = fatalOf(adapter.send(many(4)));
    while (sb.accepted < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    sb.revoke(sandboxBotToken);
    const err = await sending;
    expect(err.code).toBe('BOT_BLOCKED');
    expect(err.message).toMatch(/revoked/);
    expect(err.results).toEqual([{ messageId: 1, ok: true, providerId: '5550001:1' }]);
    expect(sb.accepted).toBe(1);
    expect(err.message).not.toContain(sandboxBotToken);
  });

  it('after a 401 no further request starts, and what was accepted before it is in the error', async () => {
    const stub = await startRecorder((n, req, res) => {
      if (n !== 3) return okAnswer(n, req, res);
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ ok: false, error_code: 401, description: 'Unauthorized' }));
    });
    const err = await fatalOf(adapterFor(stub.url, { concurrency: 1 }).send(many(6)));
    expect(err.results.map((r) => r.messageId)).toEqual([1, 2]);
    expect(stub.received).toHaveLength(3);
  });

  it('throws BOT_BLOCKED with no results for an unknown token, and for a malformed one without calling', async () => {
    const sb = await startSandbox();
    const unknown = await fatalOf(adapterFor(sb.url, {}, sender({ botToken: '99:unknown' })).send(many(2)));
    expect(unknown).toMatchObject({ code: 'BOT_BLOCKED', results: [] });
    const stub = await startRecorder();
    const malformed = await fatalOf(adapterFor(stub.url, {}, sender({ botToken: '99:a/../../x' })).send(many(1)));
    expect(malformed.code).toBe('BOT_BLOCKED');
    expect(malformed.message).not.toContain('a/../../x');
    const none = await fatalOf(adapterFor(stub.url, {}, sender({})).send(many(1)));
    expect(none.message).toMatch(/TELEGRAM_BOT_TOKEN/);
    expect(stub.received).toHaveLength(0);
  });

  it('falls back to TELEGRAM_BOT_TOKEN for a sender without a token of its own', async () => {
    const sb = await startSandbox();
    const results = await adapterFor(sb.url, { botToken: sandboxBotToken }, sender({})).send(many(1));
    expect(results).toEqual([expect.objectContaining({ ok: true })]);
  });
});

describe('verdictOfAnswer', () => {
  const answer = (error_code: number, description: string, parameters?: object) =>
    JSON.stringify({ ok: false, error_code, description, ...(parameters ? { parameters } : {}) });

  it('maps Telegram’s error answers to our verdicts', () => {
    expect(verdictOfAnswer(403, answer(403, 'Forbidden: user is deactivated'))).toMatchObject({
      verdict: 'failed',
      kind: 'permanent',
      code: 'TELEGRAM_BLOCKED',
      recipient: 'blocked',
    });
    const cannotStart = verdictOfAnswer(403, answer(403, "Forbidden: bot can't initiate conversation with a user"));
    expect(cannotStart).toMatchObject({ kind: 'permanent', code: 'TELEGRAM_FORBIDDEN' });
    expect(cannotStart).not.toHaveProperty('recipient');
    expect(
      verdictOfAnswer(400, answer(400, 'Bad Request: group chat was upgraded to a supergroup chat', { migrate_to_chat_id: -1009 })),
    ).toMatchObject({ kind: 'permanent', code: 'TELEGRAM_CHAT_MIGRATED', detail: expect.stringContaining('-1009') });
    expect(verdictOfAnswer(401, answer(401, 'Unauthorized'))).toMatchObject({ verdict: 'fatal', code: 'BOT_BLOCKED' });
    expect(verdictOfAnswer(404, answer(404, 'Not Found'))).toMatchObject({ verdict: 'fatal', code: 'BOT_BLOCKED' });
    expect(verdictOfAnswer(429, answer(429, 'Too Many Requests: retry after 7', { retry_after: 7 }))).toMatchObject({
      kind: 'transient',
      retryAfterMs: 7000,
    });
    expect(verdictOfAnswer(502, '<html>Bad Gateway</html>')).toMatchObject({ kind: 'transient', code: 'TELEGRAM_UNAVAILABLE' });
    // Telegram may have sent a message whose answer we cannot read: only a retry makes sure it is not lost.
    expect(verdictOfAnswer(200, 'not json')).toMatchObject({ kind: 'transient', code: 'TELEGRAM_BAD_RESPONSE' });
    expect(verdictOfAnswer(200, JSON.stringify({ ok: true, result: { message_id: 9 } }))).toEqual({ verdict: 'accepted', messageId: 9 });
  });
});

describe('receipts: blocks learnt from my_chat_member updates', () => {
  it('the sandbox posts a kicked update for a blocked chat; verify passes with the secret and fails without; parse gives the event', async () => {
    const hook = await startRecorder((_n, _req, res) => res.end());
    const { server, config, credentials } = await telegramProvider.startSandbox({
      receiptUrl: () => `${hook.url}/v1/receipts/telegram/snd_1`,
    });
    sandbox = server as TelegramSandboxServer;
    const who = sender({ ...credentials });
    const adapter = telegramProvider.createAdapter(config, who, { receiptUrl: null });
    try {
      const [blocked] = await adapter.send([tg(1, '8000403')]);
      expect(blocked).toMatchObject({ ok: false, kind: 'permanent', recipient: 'blocked' });
      await server.drainReceipts();
      // Only the first block of a chat is an update, as in Telegram: the person blocks once.
      await adapter.send([tg(2, '8000403')]);
      await server.drainReceipts();
    } finally {
      await adapter.close();
    }
    expect(hook.received).toHaveLength(1);
    const update = hook.received[0]!;
    const receipts = telegramProvider.receipts!;
    expect(receipts.verify(update, config, who)).toBe(true);
    expect(receipts.verify(update, config, sender({ ...credentials, webhookSecret: 'another-secret' }))).toBe(false);
    expect(receipts.verify({ ...update, headers: { ...update.headers, 'x-telegram-bot-api-secret-token': undefined } }, config, who)).toBe(
      false,
    );
    const parsed = receipts.parse(update);
    expect(parsed).toEqual({
      ok: true,
      events: [{ type: 'unsubscribed', recipient: 'blocked', address: '8000403', message: null, providerId: null, at: expect.any(Date) }],
    });
  });

  it('setWebhook registers the derived secret for my_chat_member only, and the updates then carry it', async () => {
    const hook = await startRecorder((_n, _req, res) => res.end());
    const sb = await startSandbox();
    const config = sandboxTelegramConfig(sb.url);
    const who = sender({ botToken: sandboxBotToken });
    const secret = webhookSecretOf(config, who)!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(secret).not.toContain(sandboxBotToken.split(':')[1]);

    expect(await setWebhook(config, who, `${hook.url}/v1/receipts/telegram/snd_1`)).toEqual({ ok: true });
    expect(sb.webhookOf(sandboxBotToken)).toEqual({
      url: `${hook.url}/v1/receipts/telegram/snd_1`,
      secretToken: secret,
      allowedUpdates: ['my_chat_member'],
    });
    await adapterFor(sb.url, {}, who).send([tg(1, '9000403')]);
    const update = await hook.nth(1);
    expect(update.headers['x-telegram-bot-api-secret-token']).toBe(secret);
    expect(verifyTelegramUpdate(update, config, who)).toBe(true);
    expect(verifyTelegramUpdate(update, config, sender({ botToken: '7000000001:another-token' }))).toBe(false);
  });

  it('setWebhook answers BOT_BLOCKED as a value for a revoked token', async () => {
    const sb = await startSandbox();
    sb.revoke(sandboxBotToken);
    const result = await setWebhook(sandboxTelegramConfig(sb.url), sender(), 'https://herald.example.com/hook');
    expect(result).toMatchObject({ ok: false, code: 'BOT_BLOCKED' });
    expect(JSON.stringify(result)).not.toContain(sandboxBotToken);
  });

  const member = (chat: object, oldStatus: string, newStatus: string) =>
    Buffer.from(
      JSON.stringify({
        update_id: 1,
        my_chat_member: {
          chat,
          from: { id: 5, is_bot: false, first_name: 'A' },
          date: 1_790_000_000,
          old_chat_member: { status: oldStatus, user: { id: 1, is_bot: true, first_name: 'Bot' } },
          new_chat_member: { status: newStatus, user: { id: 1, is_bot: true, first_name: 'Bot' } },
        },
      }),
    );

  it('parse: unblocking and other updates give no events; the bot removed from a group does; junk is refused', () => {
    const person = { id: 5, type: 'private', first_name: 'A' };
    expect(parseTelegramUpdate(member(person, 'kicked', 'member'))).toEqual({ ok: true, events: [] });
    expect(parseTelegramUpdate(member(person, 'member', 'kicked'))).toMatchObject({
      ok: true,
      events: [{ address: '5', at: new Date(1_790_000_000_000) }],
    });
    expect(parseTelegramUpdate(member({ id: -100777, type: 'supergroup', title: 'G' }, 'member', 'left'))).toMatchObject({
      events: [{ type: 'unsubscribed', address: '-100777' }],
    });
    const message = { update_id: 2, message: { message_id: 1, date: 0, chat: person, text: '/start' } };
    expect(parseTelegramUpdate(Buffer.from(JSON.stringify(message)))).toEqual({ ok: true, events: [] });
    expect(parseTelegramUpdate(Buffer.from('{nope'))).toMatchObject({ ok: false });
    expect(parseTelegramUpdate(Buffer.from('{"my_chat_member":{}}'))).toMatchObject({ ok: false });
  });
});

describe('the Bot API description (telegram_bot_api.paulsonoflars.json)', () => {
  interface SpecField {
    readonly name: string;
    readonly types: readonly string[];
    readonly required: boolean;
  }
  const spec = JSON.parse(readFileSync(specPath('telegram_bot_api.paulsonoflars.json'), 'utf8')) as {
    methods: Record<string, { fields: SpecField[] }>;
    types: Record<string, { fields?: SpecField[] }>;
  };
  const fieldsOf = (where: { fields?: SpecField[] } | undefined) => new Map((where?.fields ?? []).map((f) => [f.name, f]));
  const typeOf = (value: unknown): string =>
    typeof value === 'string' ? 'String' : typeof value === 'boolean' ? 'Boolean' : Number.isInteger(value) ? 'Integer' : 'Object';

  it('sendMessage knows every parameter we send, with its type, and we send every required one', async () => {
    const stub = await startRecorder();
    const m = tg(1, '42', { parseMode: 'MarkdownV2', buttons: [{ text: 'Go', url: 'https://example.com' }] });
    await adapterFor(stub.url, { linkPreviews: false }).send([m]);
    const sent = JSON.parse(stub.received[0]!.rawBody.toString()) as Record<string, unknown>;
    const params = fieldsOf(spec.methods.sendMessage);
    for (const [name, value] of Object.entries(sent)) {
      const field = params.get(name);
      expect(field, name).toBeDefined();
      if (typeof value !== 'object') expect(field!.types, name).toContain(typeOf(value));
    }
    const required = [...params.values()].filter((f) => f.required).map((f) => f.name);
    expect(required.sort()).toEqual(['chat_id', 'text']);
    for (const name of required) expect(sent).toHaveProperty(name);
    expect(params.get('reply_markup')!.types).toContain('InlineKeyboardMarkup');
    expect(params.get('link_preview_options')!.types).toEqual(['LinkPreviewOptions']);
    expect(fieldsOf(spec.types.LinkPreviewOptions).has('is_disabled')).toBe(true);
    expect(fieldsOf(spec.types.InlineKeyboardMarkup).get('inline_keyboard')!.types).toEqual(['Array of Array of InlineKeyboardButton']);
  });

  it('InlineKeyboardButton has the text (required) and url (optional) we send', () => {
    const button = fieldsOf(spec.types.InlineKeyboardButton);
    expect(button.get('text')).toMatchObject({ types: ['String'], required: true });
    expect(button.get('url')).toMatchObject({ types: ['String'], required: false });
    const wire = toWireMessage(tg(1, '1', { buttons: [{ text: 'Go', url: 'https://example.com' }] }), { linkPreviews: true });
    for (const key of Object.keys(wire.reply_markup!.inline_keyboard[0]![0]!)) expect(button.has(key), key).toBe(true);
  });

  it('setWebhook knows what we send it, and the update fields the receipts read exist', async () => {
    const stub = await startRecorder((_n, _req, res) => res.end(JSON.stringify({ ok: true, result: true })));
    expect(await setWebhook(sandboxTelegramConfig(stub.url), sender(), 'https://herald.example.com/hook')).toEqual({ ok: true });
    const sent = JSON.parse(stub.received[0]!.rawBody.toString()) as Record<string, unknown>;
    const params = fieldsOf(spec.methods.setWebhook);
    for (const name of Object.keys(sent)) expect(params.has(name), name).toBe(true);
    expect(sent.allowed_updates).toEqual(['my_chat_member']);
    expect(fieldsOf(spec.types.Update).get('my_chat_member')!.types).toEqual(['ChatMemberUpdated']);
    const changed = fieldsOf(spec.types.ChatMemberUpdated);
    for (const name of ['chat', 'date', 'new_chat_member', 'old_chat_member']) expect(changed.get(name)?.required, name).toBe(true);
    expect(fieldsOf(spec.types.ChatMemberBanned).has('status')).toBe(true);
    expect([...fieldsOf(spec.types.ResponseParameters).keys()].sort()).toEqual(['migrate_to_chat_id', 'retry_after']);
  });
});
