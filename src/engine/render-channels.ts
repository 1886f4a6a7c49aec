import type { Template } from 'liquidjs';
import type { Outgoing } from '../channels/channel.js';
import { assertUnreachable } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';
import { smsSegments } from '../domain/sms.js';
import type {
  PushContent,
  SmsContent,
  TelegramContent,
  ViberContent,
  VoiceContent,
  WebPushContent,
  WebhookContent,
} from '../domain/template-content.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import { liquid, liquidScope } from './render.js';

/** What a run on a channel other than email sends, loaded once per run (the email twin is EmailContent). */
export interface ChannelRunContent {
  readonly channel: Exclude<Channel, 'email'>;
  readonly workspaceId: string;
  readonly campaignId: string;
  readonly campaignName: string;
  /** Template id and version: parsed Liquid is cached under it. */
  readonly templateKey: string;
  /** The template's content for its channel (domain/template-content.ts), already checked. */
  readonly content: unknown;
  readonly sender: { readonly name: string | null; readonly address: string | null; readonly avatarUrl: string | null };
}

type Contact = NonNullable<ClaimedMessage['contact']>;

const parsedCache = new Map<string, Map<string, Template[]>>();

/** Renders one Liquid string of a content, parsed once per template version. */
function renderer(content: ChannelRunContent, scope: object): (path: string, source: string) => string {
  let cache = parsedCache.get(content.templateKey);
  if (!cache) {
    if (parsedCache.size > 500) parsedCache.clear();
    parsedCache.set(content.templateKey, (cache = new Map()));
  }
  const templates = cache;
  return (path, source) => {
    let parsed = templates.get(path);
    if (!parsed) templates.set(path, (parsed = liquid.parse(source)));
    return liquid.renderSync(parsed, scope) as string;
  };
}

/**
 * Renders one claimed message for its channel into the adapter's shape. Throws on a
 * template error (the caller fails that recipient) or past the render bounds (the caller
 * fails the campaign), as renderEmail does.
 */
export function renderForChannel(content: ChannelRunContent, m: ClaimedMessage, contact: Contact): Outgoing {
  const r = renderer(content, liquidScope(content, contact, m.event));
  const common = { messageId: m.id, runId: m.runId, ledgerKey: `${m.runId}.${m.id}`, to: m.address };
  const opt = (path: string, source: string | undefined) => (source === undefined ? null : r(path, source));
  switch (content.channel) {
    case 'sms': {
      const c = content.content as SmsContent;
      const body = r('text', c.text);
      const { segments, encoding } = smsSegments(body);
      return { ...common, channel: 'sms', from: content.sender.address ?? '', body, segments, encoding };
    }
    case 'voice': {
      const c = content.content as VoiceContent;
      return {
        ...common,
        channel: 'voice',
        from: content.sender.address ?? '',
        say: opt('say', c.say),
        audioUrl: opt('audioUrl', c.audioUrl),
        voice: c.voice ?? null,
        language: c.language ?? null,
      };
    }
    case 'webpush': {
      const c = content.content as WebPushContent;
      return {
        ...common,
        channel: 'webpush',
        title: r('title', c.title),
        body: r('body', c.body),
        url: opt('url', c.url),
        icon: opt('icon', c.icon),
        ttlSeconds: c.ttlSeconds ?? 86_400,
      };
    }
    case 'push': {
      const c = content.content as PushContent;
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(c.data ?? {})) data[k] = r(`data/${k}`, v);
      return {
        ...common,
        channel: 'push',
        title: r('title', c.title),
        body: r('body', c.body),
        imageUrl: opt('imageUrl', c.imageUrl),
        data,
      };
    }
    case 'telegram': {
      const c = content.content as TelegramContent;
      const buttons = (c.buttons ?? []).map((b, i) => ({ text: r(`buttons/${i}/text`, b.text), url: r(`buttons/${i}/url`, b.url) }));
      return { ...common, channel: 'telegram', text: r('text', c.text), parseMode: c.parseMode ?? null, buttons };
    }
    case 'viber': {
      const c = content.content as ViberContent;
      return {
        ...common,
        channel: 'viber',
        senderName: content.sender.name ?? '',
        senderAvatar: content.sender.avatarUrl,
        text: opt('text', c.text),
        imageUrl: opt('imageUrl', c.imageUrl),
        button: c.button ? { text: r('button/text', c.button.text), url: r('button/url', c.button.url) } : null,
      };
    }
    case 'webhook': {
      const c = content.content as WebhookContent;
      const data: Record<string, string> = {};
      for (const [k, v] of Object.entries(c.data ?? {})) data[k] = r(`data/${k}`, v);
      return {
        ...common,
        channel: 'webhook',
        payload: {
          event: c.event ?? 'message',
          message: common.ledgerKey,
          workspaceId: content.workspaceId,
          campaign: { id: content.campaignId, name: content.campaignName },
          contact: {
            id: m.contactId,
            email: contact.email,
            phone: contact.phone,
            firstName: contact.firstName,
            lastName: contact.lastName,
            attributes: contact.attributes,
          },
          data,
        },
      };
    }
    default:
      return assertUnreachable(content.channel);
  }
}
