import type { IncomingMessage, ServerResponse } from 'node:http';
import { request } from 'undici';
import type { SandboxFaults, SandboxMessage, SandboxOptions, SandboxServer } from '../provider.js';
import { replyJson } from '../sandbox-kit/json-reply.js';
import { collectBody, listenOnLoopback } from '../sandbox-kit/loopback-server.js';
import { Ring } from '../sandbox-kit/ring.js';
import { seededRandom } from '../sandbox-kit/seeded-random.js';
import { botTokenPattern } from './config.js';
import { secretTokenHeader } from './receipts.js';

/**
 * The sandbox Telegram Bot API (DESIGN §1): a loopback server speaking the Bot API's own
 * protocol (`POST /bot<token>/<method>`, JSON in, `{ ok, result }` or
 * `{ ok: false, error_code, description, parameters? }` out) that keeps what it receives
 * instead of delivering it. It serves sendMessage, setWebhook, deleteWebhook,
 * getWebhookInfo and getMe, checks sendMessage's parameters as Telegram does (chat_id,
 * text of 1–4096 characters after entity parsing, parse_mode, HTML and MarkdownV2 that
 * parse, reply_markup's shape) and answers with Telegram's descriptions.
 *
 * Failures on demand, by the chat id's last digits, so a test knows each answer exactly:
 *
 * - `…403` → 403 "Forbidden: bot was blocked by the user", and a `my_chat_member` update
 *            (status `kicked`) posted to the bot's webhook, once per chat
 * - `…400` → 400 "Bad Request: chat not found"
 * - `…429` → 429 "Too Many Requests: retry after N", parameters.retry_after N
 * - `…500` → 500 "Internal Server Error"
 *
 * and by rate (SandboxFaults), drawn from a seeded PRNG, one draw a sendMessage, so a run
 * is repeatable: `transientRate` answers 502 Bad Gateway (a 429 would hold every request
 * of the bot for its retry_after, which the chat trigger shows); `permanentRate` blocks
 * the chat as `…403` does, for good. Telegram has no delivery or read receipts, so
 * `undeliveredRate` and `readRate` have nothing to act on. Telegram does not de-duplicate
 * either: `duplicates` is always 0.
 *
 * Updates go to the URL the bot gave setWebhook, with its secret_token; a bot that never
 * called it posts to `options.receiptUrl()` with the sandbox's webhook secret (the
 * `webhookSecret` credential the provider module hands the sender). Unlike Telegram, an
 * http URL is accepted, because Herald listens on loopback here.
 */

/** The bot token the sandbox accepts unless started with others. */
export const sandboxBotToken = '7000000001:HeraldSandboxBotToken_not-a-real-bot';

/** The secret_token it sends with updates for a bot that never called setWebhook. */
export const sandboxWebhookSecret = 'herald-sandbox-webhook-secret';

export interface TelegramSandboxOptions extends SandboxOptions {
  /** The bot tokens it accepts (default: sandboxBotToken). */
  readonly tokens?: readonly string[];
  /** The secret_token of updates for a bot without a setWebhook (default: sandboxWebhookSecret). */
  readonly webhookSecret?: string;
  /** Seed of the PRNG that draws rate faults (default 1). */
  readonly seed?: number;
  /** retry_after, in seconds, of every 429 (default 1). */
  readonly retryAfterSeconds?: number;
  /** How many of the latest messages and blocked chats it remembers (default 10,000). */
  readonly keep?: number;
}

export interface TelegramWebhook {
  readonly url: string;
  readonly secretToken: string | null;
  readonly allowedUpdates: readonly string[];
}

export interface TelegramSandboxServer extends SandboxServer {
  /** Revokes a bot token, as @BotFather's /revoke does: every later request with it answers 401 Unauthorized. */
  revoke(token: string): void;
  /** The webhook a bot set with setWebhook; null when it has none. */
  webhookOf(token: string): TelegramWebhook | null;
  /** Updates posted to webhooks (whatever the webhook answered). */
  readonly updatesPosted: number;
}

/** Messages and blocked chats it remembers: the latest this many, so a million-message run keeps its memory flat. */
const defaultKeep = 10_000;

/** Telegram's limit on sendMessage's text, in UTF-16 code units after entity parsing. */
const maxTextLength = 4096;

/** A bigger body is refused unread; sendMessage's largest is a 4096-character text and its keyboard. */
const maxBodyBytes = 1024 * 1024;

const parseModes = new Set(['HTML', 'MarkdownV2', 'Markdown']);

/** Tags Telegram's HTML parse mode knows. */
const htmlTags = new Set([
  'b',
  'strong',
  'i',
  'em',
  'u',
  'ins',
  's',
  'strike',
  'del',
  'span',
  'tg-spoiler',
  'a',
  'code',
  'pre',
  'blockquote',
  'tg-emoji',
]);

/** Characters MarkdownV2 reserves that are never markup in running text, so an unescaped one is always an error. */
const markdownReserved = new Set(['.', '!', '#', '+', '-', '=', '{', '}']);

/** Paired MarkdownV2 delimiters, by the entity Telegram names in its error. */
const markdownPairs: ReadonlyMap<string, string> = new Map([
  ['*', 'Bold'],
  ['_', 'Italic'],
  ['~', 'Strikethrough'],
  ['`', 'Code'],
]);

/** The fields of InlineKeyboardButton that give it something to do; a button with none is refused. */
const buttonActions = [
  'url',
  'callback_data',
  'web_app',
  'login_url',
  'switch_inline_query',
  'switch_inline_query_current_chat',
  'switch_inline_query_chosen_chat',
  'copy_text',
  'callback_game',
  'pay',
];

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const okAnswer = (result: unknown, description?: string): Answer => ({
  status: 200,
  body: description ? { ok: true, result, description } : { ok: true, result },
});
const error = (status: number, description: string, parameters?: Record<string, number>): Answer => ({
  status,
  body: parameters ? { ok: false, error_code: status, description, parameters } : { ok: false, error_code: status, description },
});
const badRequest = (what: string) => error(400, `Bad Request: ${what}`);
const notFound = () => error(404, 'Not Found');

const byteOffset = (text: string, index: number) => Buffer.byteLength(text.slice(0, index));

const decodeEntities = (text: string) =>
  text.replace(/&(#\d+|#x[0-9a-f]+|lt|gt|amp|quot);/gi, (_, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) return String.fromCodePoint(parseInt(lower.slice(2), 16));
    if (lower.startsWith('#')) return String.fromCodePoint(Number(lower.slice(1)));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"' } as Record<string, string>)[lower]!;
  });

/** HTML parse mode: known tags, properly nested, no stray `<`; the visible text, or why it does not parse. */
function parseHtml(text: string): { text: string } | { error: string } {
  const open: string[] = [];
  let visible = '';
  let last = 0;
  const tag = /<(\/?)([a-z][a-z0-9-]*)(?:\s[^<>]*)?>|</gi;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    visible += text.slice(last, m.index);
    last = tag.lastIndex;
    const name = m[2]?.toLowerCase();
    if (name === undefined) return { error: `Unexpected end of name token at byte offset ${byteOffset(text, m.index)}` };
    if (!htmlTags.has(name)) return { error: `Unsupported start tag "${name}" at byte offset ${byteOffset(text, m.index)}` };
    if (m[1] === '') open.push(name);
    else if (open.pop() !== name)
      return {
        error: `Unmatched end tag at byte offset ${byteOffset(text, m.index)}, expected "</${open.at(-1) ?? ''}>", found "</${name}>"`,
      };
  }
  if (open.length > 0) return { error: `Can't find end tag corresponding to start tag "${open.at(-1)}"` };
  return { text: decodeEntities(visible + text.slice(last)) };
}

/** MarkdownV2: reserved characters escaped, delimiters paired; the visible text, or why it does not parse. */
function parseMarkdownV2(text: string): { text: string } | { error: string } {
  const linked = text.replace(/\[((?:\\.|[^\]\\])*)\]\((?:\\.|[^)\\])*\)/g, '$1');
  const opened = new Map<string, number>();
  let visible = '';
  for (let i = 0; i < linked.length; i++) {
    const c = linked[i]!;
    if (c === '\\') {
      visible += linked[i + 1] ?? '';
      i++;
    } else if (markdownReserved.has(c)) {
      return { error: `Character '${c}' is reserved and must be escaped with the preceding '\\'` };
    } else if (markdownPairs.has(c)) {
      if (opened.has(c)) opened.delete(c);
      else opened.set(c, i);
    } else if (c !== '|') visible += c;
  }
  for (const [c, at] of opened)
    return { error: `Can't find end of ${markdownPairs.get(c)} entity at byte offset ${byteOffset(linked, at)}` };
  return { text: visible };
}

/** A chat_id as Telegram takes it: an integer (or its decimal string) or `@username`; null when it is neither. */
function chatOf(value: unknown): { id: number | string; numeric: boolean } | null {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return { id: value, numeric: true };
  if (typeof value !== 'string') return null;
  if (/^-?\d{1,16}$/.test(value)) return { id: Number(value), numeric: true };
  if (/^@[A-Za-z][A-Za-z0-9_]{3,31}$/.test(value)) return { id: value, numeric: false };
  return null;
}

/** Checks reply_markup's shape; the description of what is wrong, or null. */
function replyMarkupProblem(markup: unknown): string | null {
  if (markup === null || typeof markup !== 'object' || Array.isArray(markup)) return "can't parse reply keyboard markup JSON object";
  const m = markup as Record<string, unknown>;
  if (m.inline_keyboard === undefined) {
    // The other three kinds (ReplyKeyboardMarkup, ReplyKeyboardRemove, ForceReply) are accepted as they come.
    return Array.isArray(m.keyboard) || m.remove_keyboard === true || m.force_reply === true
      ? null
      : "can't parse reply keyboard markup JSON object";
  }
  const rows = m.inline_keyboard;
  if (!Array.isArray(rows) || !rows.every(Array.isArray))
    return 'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays';
  for (const row of rows as unknown[][])
    for (const button of row) {
      if (button === null || typeof button !== 'object')
        return "can't parse inline keyboard button: InlineKeyboardButton must be an Object";
      const b = button as Record<string, unknown>;
      if (typeof b.text !== 'string' || b.text === '') return "can't parse inline keyboard button: Text must be non-empty";
      if (!buttonActions.some((f) => b[f] !== undefined)) return 'text buttons are unallowed in the inline keyboard';
      if (b.url !== undefined) {
        let protocol = '';
        try {
          protocol = new URL(String(b.url)).protocol;
        } catch {
          // Left empty: reported below.
        }
        if (!['http:', 'https:', 'tg:'].includes(protocol))
          return `inline keyboard button URL '${String(b.url).slice(0, 100)}' is invalid: Unsupported URL protocol`;
      }
    }
  return null;
}

/** The parameters of a request: its query, then a JSON or form body (form values holding JSON are parsed, as Telegram does). */
function paramsOf(query: URLSearchParams, contentType: string, body: string): Record<string, unknown> | null {
  const params: Record<string, unknown> = {};
  const fromForm = (form: URLSearchParams) => {
    for (const [key, value] of form) {
      let parsed: unknown = value;
      if (/^[[{]/.test(value))
        try {
          parsed = JSON.parse(value);
        } catch {
          // Kept as the string it is.
        }
      params[key] = parsed;
    }
  };
  fromForm(query);
  if (body.trim() === '') return params;
  if (contentType.includes('application/json')) {
    try {
      const json: unknown = JSON.parse(body);
      if (json === null || typeof json !== 'object' || Array.isArray(json)) return null;
      return { ...params, ...(json as Record<string, unknown>) };
    } catch {
      return null;
    }
  }
  if (contentType.includes('application/x-www-form-urlencoded')) fromForm(new URLSearchParams(body));
  return params;
}

/** Starts the sandbox Bot API on loopback (port 0 picks a free one). */
export async function startSandboxTelegram(options: TelegramSandboxOptions): Promise<TelegramSandboxServer> {
  const host = options.host ?? '127.0.0.1';
  const tokens = new Set(options.tokens ?? [sandboxBotToken]);
  const revoked = new Set<string>();
  const webhooks = new Map<string, TelegramWebhook>();
  const defaultSecret = options.webhookSecret ?? sandboxWebhookSecret;
  const retryAfterSeconds = options.retryAfterSeconds ?? 1;
  const receiptDelayMs = options.receiptDelayMs ?? 5;
  const keep = options.keep ?? defaultKeep;
  const random = seededRandom(options.seed ?? 1);
  let faults: SandboxFaults = { ...options };
  /** The latest `keep` messages. */
  const recent = new Ring<SandboxMessage>(keep);
  /** `<bot id>:<chat id>` of chats that blocked a bot, oldest first (a Map keeps insertion order). */
  const blocked = new Map<string, true>();
  const pending = new Set<Promise<void>>();
  /** Updates waiting for their delay, and how to settle each unsent when the sandbox closes. */
  const timers = new Map<NodeJS.Timeout, () => void>();
  let accepted = 0;
  let nextMessageId = 0;
  let nextUpdateId = 100_000;
  let updatesPosted = 0;

  const botIdOf = (token: string) => Number(token.slice(0, token.indexOf(':')));
  const botUser = (token: string) => ({ id: botIdOf(token), is_bot: true, first_name: 'Herald Sandbox', username: 'herald_sandbox_bot' });

  /** Posts an Update to the bot's webhook after the receipt delay, as Telegram does when something happens in a chat. */
  const postUpdate = (token: string, update: Record<string, unknown>) => {
    const hook = webhooks.get(token);
    const url = hook ? hook.url : options.receiptUrl();
    const secret = hook ? hook.secretToken : defaultSecret;
    if (!url) return;
    if (hook && hook.allowedUpdates.length > 0 && !hook.allowedUpdates.some((u) => u in update)) return;
    const body = JSON.stringify({ update_id: ++nextUpdateId, ...update });
    let done: () => void = () => undefined;
    const delivered = new Promise<void>((resolve) => (done = resolve));
    pending.add(delivered);
    const timer = setTimeout(async () => {
      timers.delete(timer);
      try {
        const response = await request(url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', ...(secret ? { [secretTokenHeader]: secret } : {}) },
          body,
        });
        await response.body.dump();
      } catch {
        // Telegram retries a failing webhook for a while; the sandbox lets it go.
      } finally {
        updatesPosted++;
        pending.delete(delivered);
        done();
      }
    }, receiptDelayMs);
    timers.set(timer, () => {
      pending.delete(delivered);
      done();
    });
  };

  /** The chat blocks the bot: remembered (bounded), and its `kicked` update posted the first time. */
  const block = (token: string, chatId: number) => {
    const key = `${botIdOf(token)}:${chatId}`;
    if (blocked.has(key)) return;
    blocked.set(key, true);
    if (blocked.size > keep) blocked.delete(blocked.keys().next().value!);
    const person = { id: chatId, is_bot: false, first_name: 'Sandbox' };
    postUpdate(token, {
      my_chat_member: {
        chat: { id: chatId, first_name: 'Sandbox', type: 'private' },
        from: person,
        date: Math.floor(Date.now() / 1000),
        old_chat_member: { user: botUser(token), status: 'member' },
        new_chat_member: { user: botUser(token), status: 'kicked', until_date: 0 },
      },
    });
  };

  const sendMessage = (token: string, p: Record<string, unknown>): Answer => {
    if (p.chat_id === undefined || p.chat_id === '') return badRequest('chat_id is empty');
    const chat = chatOf(p.chat_id);
    if (!chat) return badRequest('chat not found');
    if (typeof p.text !== 'string') return badRequest('message text is empty');
    const parseMode = p.parse_mode === undefined || p.parse_mode === '' ? null : p.parse_mode;
    if (parseMode !== null && (typeof parseMode !== 'string' || !parseModes.has(parseMode))) return badRequest('unsupported parse_mode');
    const parsed = parseMode === 'HTML' ? parseHtml(p.text) : parseMode === 'MarkdownV2' ? parseMarkdownV2(p.text) : { text: p.text };
    if ('error' in parsed) return badRequest(`can't parse entities: ${parsed.error}`);
    const visible = parsed.text.trim();
    if (visible.length === 0) return badRequest('message text is empty');
    if (visible.length > maxTextLength) return badRequest('message is too long');
    if (p.reply_markup !== undefined) {
      const problem = replyMarkupProblem(p.reply_markup);
      if (problem) return badRequest(problem);
    }
    if (p.link_preview_options !== undefined && (p.link_preview_options === null || typeof p.link_preview_options !== 'object'))
      return badRequest("can't parse link preview options JSON object");

    const digits = String(chat.id);
    if (chat.numeric && blocked.has(`${botIdOf(token)}:${chat.id}`)) return error(403, 'Forbidden: bot was blocked by the user');
    if (chat.numeric && digits.endsWith('403')) {
      block(token, chat.id as number);
      return error(403, 'Forbidden: bot was blocked by the user');
    }
    if (chat.numeric && digits.endsWith('400')) return badRequest('chat not found');
    if (chat.numeric && digits.endsWith('429'))
      return error(429, `Too Many Requests: retry after ${retryAfterSeconds}`, { retry_after: retryAfterSeconds });
    if (chat.numeric && digits.endsWith('500')) return error(500, 'Internal Server Error');
    const draw = random();
    const transientRate = faults.transientRate ?? 0;
    if (draw < transientRate) return error(502, 'Bad Gateway');
    if (draw < transientRate + (faults.permanentRate ?? 0)) {
      if (chat.numeric) block(token, chat.id as number);
      return error(403, 'Forbidden: bot was blocked by the user');
    }

    const messageId = ++nextMessageId;
    const date = Math.floor(Date.now() / 1000);
    accepted++;
    recent.push({
      channel: 'telegram',
      to: digits,
      ledgerKey: null,
      providerId: `${digits}:${messageId}`,
      summary: visible.slice(0, 200),
      receivedAt: new Date(date * 1000).toISOString(),
    });
    const chatObject = chat.numeric
      ? { id: chat.id, first_name: 'Sandbox', type: 'private' }
      : { id: -1_000_000_000_000 - messageId, title: 'Sandbox channel', username: digits.slice(1), type: 'channel' };
    const inline = (p.reply_markup as { inline_keyboard?: unknown } | undefined)?.inline_keyboard;
    return okAnswer({
      message_id: messageId,
      from: botUser(token),
      chat: chatObject,
      date,
      text: visible,
      ...(inline ? { reply_markup: { inline_keyboard: inline } } : {}),
    });
  };

  const setWebhook = (token: string, p: Record<string, unknown>): Answer => {
    if (typeof p.url !== 'string') return badRequest('bad webhook: URL must be a string');
    if (p.url === '') {
      webhooks.delete(token);
      return okAnswer(true, 'Webhook was deleted');
    }
    try {
      const protocol = new URL(p.url).protocol;
      if (protocol !== 'https:' && protocol !== 'http:') return badRequest('bad webhook: HTTPS url must be provided for webhook');
    } catch {
      return badRequest('bad webhook: Failed to resolve host: Name or service not known');
    }
    const secret = p.secret_token;
    if (secret !== undefined && (typeof secret !== 'string' || !/^[A-Za-z0-9_-]{1,256}$/.test(secret)))
      return badRequest('secret token contains unallowed characters');
    const allowed = p.allowed_updates;
    if (allowed !== undefined && (!Array.isArray(allowed) || !allowed.every((u) => typeof u === 'string')))
      return badRequest("can't parse allowed updates");
    webhooks.set(token, { url: p.url, secretToken: secret ?? null, allowedUpdates: (allowed as string[] | undefined) ?? [] });
    return okAnswer(true, 'Webhook was set');
  };

  const answerMethod = (token: string, method: string, p: Record<string, unknown>): Answer => {
    switch (method) {
      case 'sendmessage':
        return sendMessage(token, p);
      case 'setwebhook':
        return setWebhook(token, p);
      case 'deletewebhook':
        webhooks.delete(token);
        return okAnswer(true, 'Webhook was deleted');
      case 'getwebhookinfo': {
        const hook = webhooks.get(token);
        return okAnswer({
          url: hook?.url ?? '',
          has_custom_certificate: false,
          pending_update_count: 0,
          ...(hook && hook.allowedUpdates.length > 0 ? { allowed_updates: hook.allowedUpdates } : {}),
        });
      }
      case 'getme':
        return okAnswer({ ...botUser(token), can_join_groups: true, can_read_all_group_messages: false, supports_inline_queries: false });
      default:
        return notFound();
    }
  };

  const reply = (res: ServerResponse, answer: Answer): void => {
    const send = () => replyJson(res, answer.status, answer.body);
    const latency = faults.latencyMs ?? 0;
    if (latency > 0) setTimeout(send, latency);
    else send();
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const route = /^\/bot([^/]*)\/([A-Za-z]+)$/.exec(url.pathname);
    const token = route ? decodeURIComponent(route[1]!) : '';
    if (!route || !botTokenPattern.test(token)) {
      req.resume();
      return reply(res, notFound());
    }
    if (!tokens.has(token) || revoked.has(token)) {
      req.resume();
      return reply(res, error(401, 'Unauthorized'));
    }
    collectBody(req, maxBodyBytes, (body, bytes) => {
      if (bytes > maxBodyBytes) return reply(res, error(413, 'Request Entity Too Large'));
      const params = paramsOf(url.searchParams, req.headers['content-type'] ?? '', body.toString('utf8'));
      if (!params) return reply(res, badRequest("can't parse JSON object"));
      reply(res, answerMethod(token, route[2]!.toLowerCase(), params));
    });
  };

  const listening = await listenOnLoopback(handle, { host, port: options.port });
  return {
    url: listening.url,
    get accepted() {
      return accepted;
    },
    duplicates: 0,
    get updatesPosted() {
      return updatesPosted;
    },
    messages: () => recent.toArray(),
    setFaults: (next) => {
      faults = { ...next };
    },
    revoke: (token) => {
      revoked.add(token);
    },
    webhookOf: (token) => webhooks.get(token) ?? null,
    drainReceipts: async () => {
      while (pending.size > 0) await Promise.all([...pending]);
    },
    close: () => {
      for (const [timer, settle] of timers) {
        clearTimeout(timer);
        settle();
      }
      timers.clear();
      return listening.close();
    },
  };
}
