import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { assertUnreachable } from './errors.js';
import type { Channel } from './lifecycle.js';

/**
 * What a template holds on each channel other than email (email keeps subject, html and
 * text). Every string is Liquid, rendered per recipient (engine/render-channels.ts).
 * Limits follow the providers': Telegram 4096 characters, Viber 7000, FCM/web push a 4 KB
 * payload, a Twilio SMS body 1600.
 */

const liquid = (maxLength: number, description: string) => Type.String({ minLength: 1, maxLength, description });
const url = (description: string) => Type.String({ minLength: 1, maxLength: 2048, description });
const Button = Type.Object(
  { text: liquid(64, 'The button label'), url: url('Where the button leads (Liquid allowed)') },
  { additionalProperties: false },
);

export const SmsContent = Type.Object(
  { text: liquid(1600, 'The message; its GSM-7/UCS-2 segment count sets its cost') },
  { additionalProperties: false },
);
export const VoiceContent = Type.Object(
  {
    say: Type.Optional(liquid(4000, 'A script read by text-to-speech')),
    audioUrl: Type.Optional(url('A recording to play instead of a script')),
    voice: Type.Optional(Type.String({ maxLength: 64, description: 'TTS voice, e.g. "alice" or "Polly.Amy"' })),
    language: Type.Optional(Type.String({ maxLength: 16, description: 'TTS language, e.g. "en-GB"' })),
  },
  { additionalProperties: false, description: 'Exactly one of say and audioUrl' },
);
export const WebPushContent = Type.Object(
  {
    title: liquid(200, 'Notification title'),
    body: liquid(1000, 'Notification text'),
    url: Type.Optional(url('Opened when the notification is clicked')),
    icon: Type.Optional(url('Icon URL')),
    ttlSeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2_419_200, description: 'How long the push service keeps it (default 1 day)' }),
    ),
  },
  { additionalProperties: false },
);
export const PushContent = Type.Object(
  {
    title: liquid(200, 'Notification title'),
    body: liquid(1000, 'Notification text'),
    imageUrl: Type.Optional(url('Image shown in the notification')),
    data: Type.Optional(Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 1000 }), { description: 'Data for the app' })),
  },
  { additionalProperties: false },
);
export const TelegramContent = Type.Object(
  {
    text: liquid(4096, 'The message'),
    parseMode: Type.Optional(Type.Union([Type.Literal('HTML'), Type.Literal('MarkdownV2')])),
    buttons: Type.Optional(Type.Array(Button, { maxItems: 8, description: 'URL buttons under the message' })),
  },
  { additionalProperties: false },
);
export const ViberContent = Type.Object(
  {
    text: Type.Optional(liquid(7000, 'The message')),
    imageUrl: Type.Optional(url('A picture (JPEG/PNG)')),
    button: Type.Optional(Button),
  },
  { additionalProperties: false, description: 'At least one of text and imageUrl' },
);
export const WebhookContent = Type.Object(
  {
    event: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'The event name posted (default "message")' })),
    data: Type.Optional(
      Type.Record(Type.String({ maxLength: 100 }), Type.String({ maxLength: 10_000 }), { description: 'Liquid strings' }),
    ),
  },
  { additionalProperties: false },
);

export type SmsContent = Static<typeof SmsContent>;
export type VoiceContent = Static<typeof VoiceContent>;
export type WebPushContent = Static<typeof WebPushContent>;
export type PushContent = Static<typeof PushContent>;
export type TelegramContent = Static<typeof TelegramContent>;
export type ViberContent = Static<typeof ViberContent>;
export type WebhookContent = Static<typeof WebhookContent>;

/** Content for one of the channels that are not email. */
export type ChannelContent =
  | { readonly channel: 'sms'; readonly content: SmsContent }
  | { readonly channel: 'voice'; readonly content: VoiceContent }
  | { readonly channel: 'webpush'; readonly content: WebPushContent }
  | { readonly channel: 'push'; readonly content: PushContent }
  | { readonly channel: 'telegram'; readonly content: TelegramContent }
  | { readonly channel: 'viber'; readonly content: ViberContent }
  | { readonly channel: 'webhook'; readonly content: WebhookContent };

/** Any channel's content, for the API schema; checkContent() holds it to its channel. */
export const AnyContent = Type.Union(
  [SmsContent, VoiceContent, WebPushContent, PushContent, TelegramContent, ViberContent, WebhookContent],
  {
    description:
      'The channel’s content: sms {text}; voice {say | audioUrl}; webpush/push {title, body, …}; telegram {text, buttons}; viber {text, imageUrl, button}; webhook {event, data}',
  },
);

function schemaOf(channel: Exclude<Channel, 'email'>): TSchema {
  switch (channel) {
    case 'sms':
      return SmsContent;
    case 'voice':
      return VoiceContent;
    case 'webpush':
      return WebPushContent;
    case 'push':
      return PushContent;
    case 'telegram':
      return TelegramContent;
    case 'viber':
      return ViberContent;
    case 'webhook':
      return WebhookContent;
    default:
      return assertUnreachable(channel);
  }
}

export interface ContentProblem {
  /** The field in the request, named as the API names fields: body/content/text. */
  readonly field: string;
  readonly message: string;
}

/** Checks a template's content against its channel; every problem at once, none when it fits. */
export function checkContent(channel: Exclude<Channel, 'email'>, content: unknown): ContentProblem[] {
  if (content === undefined || content === null) return [{ field: 'body/content', message: `a ${channel} template needs content` }];
  const schema = schemaOf(channel);
  const problems: ContentProblem[] = [...Value.Errors(schema, content)].map((e) => ({
    field: `body/content${e.path}`,
    message: e.message,
  }));
  if (problems.length > 0) return problems;
  if (channel === 'voice') {
    const v = content as VoiceContent;
    if ((v.say === undefined) === (v.audioUrl === undefined))
      problems.push({ field: 'body/content', message: 'a voice template needs exactly one of say and audioUrl' });
  }
  if (channel === 'viber') {
    const v = content as ViberContent;
    if (v.text === undefined && v.imageUrl === undefined)
      problems.push({ field: 'body/content', message: 'a Viber template needs text or imageUrl' });
  }
  return problems;
}

/** The Liquid sources of a content, by JSON pointer, for the template check (TEMPLATE_INVALID names the field and line). */
export function liquidParts(content: unknown, prefix = 'content'): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, path: string) => {
    if (typeof value === 'string') out[path] = value;
    else if (Array.isArray(value)) value.forEach((v, i) => walk(v, `${path}/${i}`));
    else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, `${path}/${k}`);
  };
  walk(content, prefix);
  return out;
}
