import { type Static, Type } from '@sinclair/typebox';
import { RateRule } from './pacing.js';

/**
 * Shapes of the audience and content resources, declared once for the API, CLI and UI.
 * (The full audience model — segments, suppression, typed attributes — comes with the
 * audience work; these are the fields a campaign needs today.)
 */

const Email = Type.String({ format: 'email', maxLength: 320 });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const contactFields = {
  email: Type.Optional(Nullable(Email)),
  phone: Type.Optional(Nullable(Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164' }))),
  firstName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  lastName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
  timeZone: Type.Optional(Nullable(Type.String({ maxLength: 64 }))),
  attributes: Type.Optional(
    Type.Record(Type.String({ maxLength: 100 }), Type.Unknown(), {
      description: 'Merged into the stored attributes; a null value removes a key',
    }),
  ),
};

/**
 * A contact's own fields. On upsert an absent or null field keeps the stored value
 * (use PATCH to clear one); emails are matched case-insensitively.
 */
export const ContactFields = Type.Object(contactFields, { additionalProperties: false });
export type ContactFields = Static<typeof ContactFields>;

export const ContactInput = Type.Object(
  {
    ...contactFields,
    listIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'Lists to add the contact to' })),
  },
  { additionalProperties: false },
);
export type ContactInput = Static<typeof ContactInput>;

/** PATCH of a contact: given fields replace the stored ones, null clears one; attributes merge. */
export const ContactPatch = ContactFields;
export type ContactPatch = Static<typeof ContactPatch>;

export const ContactBulk = Type.Object(
  {
    contacts: Type.Array(ContactFields, { minItems: 1, maxItems: 10000 }),
    listIds: Type.Optional(Type.Array(Type.String(), { maxItems: 100, description: 'Lists to add every contact to' })),
  },
  { additionalProperties: false },
);
export type ContactBulk = Static<typeof ContactBulk>;

export const Contact = Type.Object({
  id: Type.Integer(),
  email: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  firstName: Type.Union([Type.String(), Type.Null()]),
  lastName: Type.Union([Type.String(), Type.Null()]),
  timeZone: Type.Union([Type.String(), Type.Null()]),
  attributes: Type.Record(Type.String(), Type.Unknown()),
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

export const TemplateInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(Type.Literal('email')),
    subject: Type.String({ minLength: 1, maxLength: 998, description: 'Liquid, e.g. "Hello {{ contact.firstName }}"' }),
    html: Type.Optional(Nullable(Type.String({ maxLength: 1_000_000 }))),
    text: Type.Optional(Nullable(Type.String({ maxLength: 1_000_000 }))),
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
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Template = Static<typeof Template>;

export const SenderStatus = Type.Union([Type.Literal('active'), Type.Literal('paused')], { description: 'A paused sender sends nothing' });
export type SenderStatus = Static<typeof SenderStatus>;

export const SenderInput = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    channel: Type.Optional(Type.Literal('email')),
    fromEmail: Email,
    fromName: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    replyTo: Type.Optional(Nullable(Email)),
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
  status: SenderStatus,
  rateLimit: Type.Union([RateRule, Type.Null()]),
  createdAt: Type.String(),
  updatedAt: Type.String(),
});
export type Sender = Static<typeof Sender>;
