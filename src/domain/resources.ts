import { type Static, Type } from '@sinclair/typebox';
import { channels } from './lifecycle.js';
import { RateRule } from './pacing.js';
import { StringEnum } from './string-enum.js';
import { AnyContent } from './template-content.js';

/**
 * Shapes of the audience and content resources, declared once for the API, CLI and UI.
 * (The full audience model — segments, suppression, typed attributes — comes with the
 * audience work; these are the fields a campaign needs today.)
 */

const Email = Type.String({ format: 'email', maxLength: 320 });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const text = (max: number, description: string) => Type.Optional(Type.Union([Type.String({ maxLength: max, description }), Type.Null()]));

export const WebPushSubscription = Type.Object(
  {
    endpoint: Type.String({ maxLength: 4096, description: 'The https URL of the push service, from PushSubscription.toJSON()' }),
    keys: Type.Object({ p256dh: Type.String({ maxLength: 200 }), auth: Type.String({ maxLength: 200 }) }, { additionalProperties: false }),
    expirationTime: Type.Optional(Type.Union([Type.Number(), Type.Null()], { description: 'Ignored' })),
  },
  { additionalProperties: false, description: 'A web push subscription' },
);
export const MobilePushToken = Type.Object(
  {
    token: Type.String({ maxLength: 4096, description: 'FCM registration token or APNs device token' }),
    platform: Type.Union([Type.Literal('android'), Type.Literal('ios')]),
  },
  { additionalProperties: false, description: 'A mobile push token' },
);
export const DeviceInput = Type.Union([WebPushSubscription, MobilePushToken]);
export type DeviceInput = Static<typeof DeviceInput>;

export const Device = Type.Object({
  id: Type.Integer(),
  kind: Type.Union([Type.Literal('webpush'), Type.Literal('mobilepush')]),
  endpoint: Type.Optional(Type.String({ description: 'Web push: the subscription endpoint' })),
  keys: Type.Optional(Type.Union([Type.Object({ p256dh: Type.String(), auth: Type.String() }), Type.Null()])),
  token: Type.Optional(Type.String({ description: 'Mobile push: the token' })),
  platform: Type.Union([Type.String(), Type.Null()], { description: 'web, android or ios' }),
  status: Type.Union([Type.Literal('active'), Type.Literal('gone'), Type.Literal('invalid')], {
    description: 'gone / invalid: the push service refused it, nothing is sent to it',
  }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Device = Static<typeof Device>;

export const AttributeValue = Type.Union([Type.String({ maxLength: 10_000 }), Type.Number(), Type.Boolean(), Type.Null()]);

const contactFields = {
  email: text(320, 'Matched case-insensitively; stored lower-cased'),
  phone: text(40, 'E.164, e.g. +15550102000; spaces, dots, dashes and parentheses are removed ("+1 (555) 010-2000")'),
  firstName: text(200, 'First name'),
  lastName: text(200, 'Last name'),
  timeZone: text(64, 'IANA time zone, e.g. Europe/Paris; stored in its canonical spelling'),
  externalId: text(200, 'Your own id for the contact, unique in the workspace'),
  telegramChatId: Type.Optional(
    Type.Union([Type.String({ maxLength: 64 }), Type.Integer(), Type.Null()], { description: 'Telegram chat id (an integer) or @channel' }),
  ),
  viberId: text(100, 'Viber user id'),
  tags: Type.Optional(
    Type.Union([Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100 }), Type.Null()], {
      description: 'Upsert adds these tags to the contact’s; PATCH replaces them (null: none)',
    }),
  ),
  attributes: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 100 }), AttributeValue, {
      description:
        'Custom attributes, merged into the stored ones (a null value removes a key). Each must fit its declared type ' +
        '(see /v1/attributes); a name written for the first time is declared with the type of its value. Dates are YYYY-MM-DD.',
    }),
  ),
};

/**
 * A contact's own fields. On upsert an absent or null field keeps the stored value
 * (use PATCH to clear one), tags are added and attributes merge.
 */
export const ContactFields = Type.Object(
  {
    ...contactFields,
    devices: Type.Optional(Type.Array(DeviceInput, { maxItems: 20, description: 'Push devices to register for the contact' })),
  },
  { additionalProperties: false },
);
export type ContactFields = Static<typeof ContactFields>;

export const ContactInput = Type.Object(
  {
    ...ContactFields.properties,
    listIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'Lists to add the contact to' })),
  },
  {
    additionalProperties: false,
    description:
      'Upsert: the contact with the same externalId, else the same email, else (with neither given) the same phone is updated; otherwise one is created.',
  },
);
export type ContactInput = Static<typeof ContactInput>;

/** PATCH of a contact: given fields replace the stored ones, null clears one; attributes merge. */
export const ContactPatch = Type.Object(contactFields, { additionalProperties: false });
export type ContactPatch = Static<typeof ContactPatch>;

export const ContactBulk = Type.Object(
  {
    contacts: Type.Array(ContactFields, { minItems: 1, maxItems: 10000 }),
    listIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'Lists to add every contact to' })),
  },
  { additionalProperties: false },
);
export type ContactBulk = Static<typeof ContactBulk>;

const nullableText = (description?: string) => Type.Union([Type.String(), Type.Null()], description ? { description } : {});

export const Contact = Type.Object({
  id: Type.Integer(),
  email: nullableText(),
  phone: nullableText('E.164'),
  firstName: nullableText(),
  lastName: nullableText(),
  timeZone: nullableText('IANA time zone'),
  externalId: nullableText(),
  telegramChatId: nullableText(),
  viberId: nullableText(),
  tags: Type.Array(Type.String(), { description: 'Sorted, unique' }),
  attributes: Type.Record(Type.String(), Type.Unknown()),
  devices: Type.Optional(Type.Array(Device, { description: 'GET /v1/contacts/{id} only: the push devices, oldest first' })),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Contact = Static<typeof Contact>;

export const ContactBulkResult = Type.Object({
  created: Type.Integer(),
  updated: Type.Integer(),
  ids: Type.Array(Type.Integer(), { description: 'ids[i] is the contact of contacts[i]' }),
  added: Type.Integer({ description: 'List memberships added' }),
  contacts: Type.Optional(Type.Array(Contact, { description: 'Present when at most 100 contacts were sent' })),
});
export type ContactBulkResult = Static<typeof ContactBulkResult>;

export const TagsInput = Type.Object(
  {
    contactIds: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10000 }),
    add: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, description: 'Tags to add' })),
    remove: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 100 }), { maxItems: 100, description: 'Tags to remove' })),
  },
  { additionalProperties: false },
);
export type TagsInput = Static<typeof TagsInput>;

export const TagsResult = Type.Object({
  changed: Type.Integer({ description: 'Contacts whose tags changed' }),
  skipped: Type.Integer({ description: 'Ids unchanged, or not contacts of this workspace' }),
});

export const AttributeTypeName = Type.Union(
  [Type.Literal('string'), Type.Literal('number'), Type.Literal('boolean'), Type.Literal('date')],
  {
    description: 'date: a YYYY-MM-DD string',
  },
);
export const AttributeInput = Type.Object(
  { type: AttributeTypeName, description: Type.Optional(Type.Union([Type.String({ maxLength: 2000 }), Type.Null()])) },
  { additionalProperties: false },
);
export type AttributeInput = Static<typeof AttributeInput>;
export const AttributeDefinition = Type.Object({
  name: Type.String(),
  type: AttributeTypeName,
  description: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String(),
});

export const ContactMessage = Type.Object({
  id: Type.Integer({ description: 'The message (ledger row) id' }),
  campaignId: Type.String(),
  campaignName: Type.String(),
  runNumber: Type.Integer({ description: '1 for the first send, 2 for the first restart…' }),
  channel: Type.String(),
  state: Type.String({ description: 'pending, sending, sent, delivered, opened, clicked, failed, bounced, suppressed, cancelled…' }),
  address: nullableText('The address it was sent to'),
  attempts: Type.Integer(),
  errorCode: nullableText(),
  errorDetail: nullableText(),
  queuedAt: Type.String({ description: 'When the run put it in the ledger' }),
  sentAt: nullableText(),
  updatedAt: Type.String(),
});
export type ContactMessage = Static<typeof ContactMessage>;

export const ListInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    description: Type.Optional(Nullable(Type.String({ maxLength: 2000 }))),
  },
  { additionalProperties: false },
);
export type ListInput = Static<typeof ListInput>;

export const ListPatch = Type.Partial(ListInput, { additionalProperties: false });
export type ListPatch = Static<typeof ListPatch>;

export const List = Type.Object({
  id: Type.String(),
  name: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  memberCount: Type.Integer(),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type List = Static<typeof List>;

export const MembersInput = Type.Object(
  { contactIds: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, maxItems: 10000 }) },
  { additionalProperties: false },
);
export type MembersInput = Static<typeof MembersInput>;

export const MembersResult = Type.Object({
  changed: Type.Integer({ description: 'Members added (or removed)' }),
  skipped: Type.Integer({ description: 'Ids already (or not) members, or not contacts of this workspace' }),
  memberCount: Type.Integer(),
});
export type MembersResult = Static<typeof MembersResult>;

export const EmailTracking = Type.Object(
  {
    opens: Type.Boolean({ description: 'Add the open pixel (default true)' }),
    clicks: Type.Boolean({ description: 'Send links through the click redirect (default true)' }),
  },
  { additionalProperties: false, description: 'Email: open and click tracking of the messages sent with this template' },
);
export type EmailTracking = Static<typeof EmailTracking>;

export const TemplateInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(StringEnum(channels, 'The channel it is written for (default email)')),
    subject: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 998,
        description: 'Email only, and required there: Liquid, e.g. "Hello {{ contact.firstName }}"',
      }),
    ),
    html: Type.Optional(
      Nullable(
        Type.String({
          maxLength: 1_000_000,
          description:
            'Email: HTML with Liquid. `{{ unsubscribe_url }}` is the recipient’s unsubscribe link; without it a footer with the link is added',
        }),
      ),
    ),
    text: Type.Optional(
      Nullable(Type.String({ maxLength: 1_000_000, description: 'Email: the text part (Liquid); made from the HTML when absent' })),
    ),
    mjml: Type.Optional(
      Nullable(
        Type.String({
          maxLength: 1_000_000,
          description:
            'Email written in MJML instead of html (`<mjml>…</mjml>`), Liquid allowed; validated strictly and compiled to `html` when saved. ' +
            'Liquid tags between MJML elements go inside <mj-raw>',
        }),
      ),
    ),
    tracking: Type.Optional(EmailTracking),
    // Checked against its channel by checkContent (domain/template-content.ts), which names the
    // bad field; a union here would answer with every member's complaints at once.
    content: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: `Required for channels other than email. ${AnyContent.description ?? ''}`,
      }),
    ),
  },
  { additionalProperties: false },
);
export type TemplateInput = Static<typeof TemplateInput>;

export const TemplatePatch = Type.Partial(Type.Omit(TemplateInput, ['channel']), { additionalProperties: false });
export type TemplatePatch = Static<typeof TemplatePatch>;

export const Template = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channel: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()]),
  html: Type.Union([Type.String(), Type.Null()]),
  text: Type.Union([Type.String(), Type.Null()]),
  mjml: Type.Union([Type.String(), Type.Null()], { description: 'Email written in MJML: its source (`html` is what it compiled to)' }),
  tracking: EmailTracking,
  content: Type.Union([AnyContent, Type.Null()], { description: 'The content of a template for a channel other than email' }),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Template = Static<typeof Template>;

/** Whom a preview or a test send is personalised for: a stored contact, or fields given inline. */
const PreviewContact = {
  contactId: Type.Optional(Type.Integer({ minimum: 1, description: 'A contact of the workspace' })),
  contact: Type.Optional(
    Type.Object(
      {
        email: Type.Optional(Nullable(Type.String({ maxLength: 320 }))),
        phone: Type.Optional(Nullable(Type.String({ maxLength: 40 }))),
        firstName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
        lastName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
        attributes: Type.Optional(Type.Record(Type.String({ minLength: 1, maxLength: 100 }), AttributeValue)),
      },
      { additionalProperties: false, description: 'A contact given inline, instead of contactId' },
    ),
  ),
};

export const TemplatePreviewInput = Type.Object(PreviewContact, {
  additionalProperties: false,
  description: 'Renders for contactId, or for an inline contact; with neither, for a contact with no fields',
});
export type TemplatePreviewInput = Static<typeof TemplatePreviewInput>;

export const TemplatePreview = Type.Object({
  channel: Type.String(),
  subject: Type.Union([Type.String(), Type.Null()], { description: 'Email' }),
  html: Type.Union([Type.String(), Type.Null()], { description: 'Email, with the unsubscribe footer when the template has no link' }),
  text: Type.Union([Type.String(), Type.Null()], { description: 'Email: the text part, given or made from the HTML' }),
  headers: Type.Union([Type.Record(Type.String(), Type.String()), Type.Null()], {
    description: 'Email: List-Unsubscribe and the other headers the message carries',
  }),
  content: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()], {
    description: 'Other channels: the rendered message as the provider gets it',
  }),
  sms: Type.Union([Type.Object({ segments: Type.Integer(), encoding: Type.String(), characters: Type.Integer() }), Type.Null()], {
    description: 'SMS: what the rendered text costs',
  }),
});
export type TemplatePreview = Static<typeof TemplatePreview>;

export const TemplateTestInput = Type.Object(
  {
    to: Type.String({ minLength: 1, maxLength: 4096, description: 'The address: an email, a phone number, a chat id, a device token…' }),
    senderId: Type.String({ description: 'A sender of the template’s channel' }),
    ...PreviewContact,
  },
  { additionalProperties: false },
);
export type TemplateTestInput = Static<typeof TemplateTestInput>;

export const TemplateTestResult = Type.Object({
  sent: Type.Boolean({ description: 'The provider accepted it (in sandbox mode: the sandbox)' }),
  channel: Type.String(),
  to: Type.String(),
  providerId: Type.Union([Type.String(), Type.Null()]),
  error: Type.Union([Type.Object({ code: Type.String(), detail: Type.String() }), Type.Null()]),
});
export type TemplateTestResult = Static<typeof TemplateTestResult>;

export const SenderStatus = Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('blocked')], {
  description: 'A paused sender sends nothing; blocked: the provider refused its credentials (a revoked bot token) until they change',
});
export type SenderStatus = Static<typeof SenderStatus>;

const SenderAddress = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'SMS/voice: an E.164 number or an alphanumeric sender id (≤ 11); Telegram: the bot username',
});
const Credentials = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 20_000 }), {
  description:
    'Write-only secrets, stored encrypted: sms/voice {accountSid, authToken}; telegram {botToken}; viber {authToken}; webpush {vapidPublicKey, vapidPrivateKey, subject}; push {serviceAccount}; webhook {url, secret}',
});

export const SenderInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(StringEnum(channels, 'The channel it sends on (default email)')),
    fromEmail: Type.Optional(Email),
    fromName: Type.Optional(
      Nullable(Type.String({ maxLength: 200, description: 'The name people see: email From name, Viber sender name (≤ 28)' })),
    ),
    replyTo: Type.Optional(Nullable(Email)),
    address: Type.Optional(Nullable(SenderAddress)),
    avatarUrl: Type.Optional(Nullable(Type.String({ maxLength: 2048, description: 'Viber sender avatar' }))),
    credentials: Type.Optional(Type.Union([Credentials, Type.Null()])),
    rateLimit: Type.Optional(Type.Union([RateRule, Type.Null()], { description: 'This sender’s own limit and warm-up ramp' })),
  },
  { additionalProperties: false },
);
export type SenderInput = Static<typeof SenderInput>;

export const SenderPatch = Type.Partial(
  Type.Object({
    name: SenderInput.properties.name,
    fromEmail: Email,
    fromName: Nullable(Type.String({ maxLength: 200 })),
    replyTo: Nullable(Email),
    address: Nullable(SenderAddress),
    avatarUrl: Nullable(Type.String({ maxLength: 2048 })),
    credentials: Type.Union([Credentials, Type.Null()]),
    status: SenderStatus,
    rateLimit: Type.Union([RateRule, Type.Null()]),
  }),
  { additionalProperties: false },
);
export type SenderPatch = Static<typeof SenderPatch>;

export const Sender = Type.Object({
  id: Type.String(),
  name: Type.String(),
  channel: Type.String(),
  fromEmail: Type.Union([Type.String(), Type.Null()]),
  fromName: Type.Union([Type.String(), Type.Null()]),
  replyTo: Type.Union([Type.String(), Type.Null()]),
  address: Type.Union([Type.String(), Type.Null()]),
  avatarUrl: Type.Union([Type.String(), Type.Null()]),
  hasCredentials: Type.Boolean({ description: 'Credentials are stored (encrypted); they are never returned' }),
  status: SenderStatus,
  rateLimit: Type.Union([RateRule, Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Sender = Static<typeof Sender>;
