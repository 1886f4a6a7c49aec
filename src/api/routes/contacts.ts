import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type ContactDraft, type FieldError, type NormalisedContact, normaliseContacts, normaliseDevice } from '../../domain/contact.js';
import { type Failure, HeraldError } from '../../domain/errors.js';
import {
  Contact,
  ContactBulk,
  ContactBulkResult,
  ContactInput,
  ContactMessage,
  ContactPatch,
  Device,
  DeviceInput,
  TagsInput,
  TagsResult,
} from '../../domain/resources.js';
import { attributeTypes } from '../../store/attributes.js';
import { contactMessages } from '../../store/contact-messages.js';
import { contactOf, deleteContact, getContact, listContacts, retagContacts, updateContact, upsertContacts } from '../../store/contacts.js';
import { deleteDevice, deviceOf, listDevices, saveDevices } from '../../store/devices.js';
import type { Db } from '../../store/database.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Bulk answers carry the contacts themselves only up to this many; beyond, counts and ids. */
const echoLimit = 100;
const integerId = /^[1-9][0-9]{0,14}$/;

/** Contact ids are integers; any other path id names no contact (404, not a database error). */
function contactId(raw: string): number {
  if (!integerId.test(raw)) throw notFound('contact', raw);
  return Number(raw);
}

/** A domain field name (`attributes.birthday`, `devices.0.keys.auth`) as a JSON pointer under `base`, as problem.ts names fields. */
export function pointerOf(base: string, field: string): string {
  const escape = (s: string) => s.replaceAll('~', '~0').replaceAll('/', '~1');
  const path = field.startsWith('attributes.') ? `attributes/${escape(field.slice('attributes.'.length))}` : field.replaceAll('.', '/');
  return `${base}/${path}`;
}

function invalid(errors: readonly { field: string; message: string }[]): HeraldError {
  const first = errors[0]!;
  return HeraldError.of('VALIDATION_FAILED', `${first.field} ${first.message}`, { errors });
}

/**
 * Checks drafts with the workspace's attribute types (`normaliseContacts`, the same check
 * CSV import runs) and throws a 400 naming every bad field; `base(i)` is the pointer of draft i.
 */
async function checked(
  db: Db,
  workspaceId: string,
  drafts: readonly ContactDraft[],
  base: (i: number) => string,
): Promise<NormalisedContact[]> {
  const result = normaliseContacts(drafts, await attributeTypes(db, workspaceId));
  if (result.failed > 0) {
    throw invalid(
      result.errors.flatMap((errs, i) => errs.map((e: FieldError) => ({ field: pointerOf(base(i), e.field), message: e.reason }))),
    );
  }
  return result.values as NormalisedContact[];
}

/** A store failure with per-input detail (attribute types, key conflicts) as a problem naming the fields. */
function rethrow(failure: Failure, base: (i: number) => string): never {
  const items = (failure.extra?.issues ?? failure.extra?.conflicts) as
    { index: number; field: string; reason: string; contactId?: number }[] | undefined;
  if (!items) throw new HeraldError(failure);
  const errors = items.map((x) => ({
    field: pointerOf(base(x.index), x.field),
    message: x.reason,
    ...(x.contactId ? { contactId: x.contactId } : {}),
  }));
  throw HeraldError.of(failure.code, `${errors[0]!.field} ${errors[0]!.message}`, { errors });
}

const ContactQuery = Type.Object(
  {
    ...PageQuery,
    q: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Substring of the email or name, or the start of the phone number' }),
    ),
    email: Type.Optional(Type.String({ maxLength: 320, description: 'Exact email (any case)' })),
    phone: Type.Optional(Type.String({ maxLength: 40, description: 'Exact phone, E.164 (formatting ignored)' })),
    externalId: Type.Optional(Type.String({ maxLength: 200 })),
    tag: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Contacts with this tag' })),
    listId: Type.Optional(Type.String({ maxLength: 100, description: 'Members of this list' })),
  },
  { additionalProperties: false },
);
const DeviceParams = Type.Object({
  id: Type.String({ minLength: 1, maxLength: 100 }),
  deviceId: Type.String({ minLength: 1, maxLength: 20 }),
});

/** Contacts: upsert (single and bulk), search, read, patch, delete, tags, devices and message history. */
export const contactRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['contacts'];

    /** The contact, in this workspace, or a 404. */
    const existing = async (workspaceId: string, raw: string) => {
      const row = await getContact(deps.db, workspaceId, contactId(raw));
      if (!row) throw notFound('contact', raw);
      return row;
    };

    app.post(
      '/contacts',
      {
        schema: {
          tags,
          summary: 'Create a contact, or update the one with the same externalId, email or phone',
          description:
            'Matches by externalId, else email (case-insensitive), else — when neither is given — phone. Absent or null fields ' +
            'keep their stored value; tags are added; attributes merge and must fit their declared types. A bad email, phone, ' +
            'time zone or attribute value is a 400 naming the field, and nothing is stored.',
          body: ContactInput,
          response: { 201: Contact },
        },
      },
      async (request, reply) => {
        const { listIds, ...fields } = request.body;
        const [contact] = await checked(deps.db, request.workspaceId, [fields], () => 'body');
        const result = await upsertContacts(deps.db, request.workspaceId, [contact!], deps.clock.now(), listIds);
        if (!result.ok) rethrow(result.error, () => 'body');
        return reply.code(201).send(contactOf(result.value.contacts[0]!));
      },
    );

    app.post(
      '/contacts/bulk',
      {
        schema: {
          tags,
          summary: 'Upsert up to 10,000 contacts and add them to lists, all or nothing',
          description: 'Each contact is matched as in POST /v1/contacts. Any bad contact fails the call, naming every bad field.',
          body: ContactBulk,
          response: { 200: ContactBulkResult },
        },
      },
      async (request) => {
        const { contacts, listIds } = request.body;
        const base = (i: number) => `body/contacts/${i}`;
        const values = await checked(deps.db, request.workspaceId, contacts, base);
        const result = await upsertContacts(deps.db, request.workspaceId, values, deps.clock.now(), listIds);
        if (!result.ok) rethrow(result.error, base);
        const { created, updated, added, contacts: rows } = result.value;
        return {
          created,
          updated,
          added,
          ids: rows.map((c) => c.id),
          ...(contacts.length <= echoLimit ? { contacts: rows.map(contactOf) } : {}),
        };
      },
    );

    app.get(
      '/contacts',
      {
        schema: {
          tags,
          summary: 'Search contacts in id order by text, email, phone, external id, tag or list',
          querystring: ContactQuery,
          response: { 200: Page(Contact) },
        },
      },
      async (request) => {
        const { limit = 50, ...filters } = request.query;
        const page = await listContacts(deps.db, request.workspaceId, { limit, ...filters });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(contactOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.post(
      '/contacts/tags',
      {
        schema: {
          tags,
          summary: 'Add and remove tags on up to 10,000 contacts',
          description: 'Ids of other workspaces or unknown ids are skipped. A tag both added and removed is removed.',
          body: TagsInput,
          response: { 200: TagsResult },
        },
      },
      async (request) => {
        const { contactIds, add, remove } = request.body;
        const change = await checked(deps.db, request.workspaceId, [{ tags: add ?? [] }, { tags: remove ?? [] }], (i) =>
          i === 0 ? 'body/add' : 'body/remove',
        );
        const { changed } = await retagContacts(
          deps.db,
          request.workspaceId,
          contactIds,
          { add: change[0]!.tags ?? [], remove: change[1]!.tags ?? [] },
          deps.clock.now(),
        );
        return { changed, skipped: new Set(contactIds).size - changed };
      },
    );

    app.get(
      '/contacts/:id',
      { schema: { tags, summary: 'Get a contact', params: IdParams, response: { 200: Contact } } },
      async (request) => {
        const row = await existing(request.workspaceId, request.params.id);
        // One contact's devices come with it; lists leave them out (one query per page would not stay one).
        const devices = await listDevices(deps.db, request.workspaceId, row.id);
        return { ...contactOf(row), devices: devices.map(deviceOf) };
      },
    );

    app.patch(
      '/contacts/:id',
      {
        schema: {
          tags,
          summary: 'Change a contact: given fields replace, null clears a field, tags are replaced, attributes merge',
          params: IdParams,
          body: ContactPatch,
          response: { 200: Contact },
        },
      },
      async (request) => {
        const id = contactId(request.params.id);
        const [patch] = await checked(deps.db, request.workspaceId, [request.body], () => 'body');
        const result = await updateContact(deps.db, request.workspaceId, id, patch!, deps.clock.now());
        if (!result.ok) rethrow(result.error, () => 'body');
        return contactOf(result.value);
      },
    );

    app.delete(
      '/contacts/:id',
      {
        schema: { tags, summary: 'Delete a contact, its list memberships and devices', params: IdParams, response: { 204: Type.Null() } },
      },
      async (request, reply) => {
        if (!(await deleteContact(deps.db, request.workspaceId, contactId(request.params.id)))) {
          throw notFound('contact', request.params.id);
        }
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/contacts/:id/messages',
      {
        schema: {
          tags,
          summary: 'The contact’s messages across campaigns and runs, newest first',
          description: 'One entry per run that included the contact: campaign, channel, ledger state, attempts, error and times.',
          params: IdParams,
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(ContactMessage) },
        },
      },
      async (request) => {
        const contact = await existing(request.workspaceId, request.params.id);
        const { limit = 50, cursor } = request.query;
        const page = await contactMessages(deps.db, request.workspaceId, contact.id, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data, page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get(
      '/contacts/:id/devices',
      {
        schema: {
          tags,
          summary: 'The contact’s push devices',
          params: IdParams,
          response: { 200: Type.Object({ data: Type.Array(Device) }) },
        },
      },
      async (request) => {
        const contact = await existing(request.workspaceId, request.params.id);
        return { data: (await listDevices(deps.db, request.workspaceId, contact.id)).map(deviceOf) };
      },
    );

    app.post(
      '/contacts/:id/devices',
      {
        schema: {
          tags,
          summary: 'Register a web push subscription or a mobile push token for the contact',
          description: 'A token already registered (to this contact or another) moves to this contact and becomes active again.',
          params: IdParams,
          body: DeviceInput,
          response: { 201: Device },
        },
      },
      async (request, reply) => {
        const contact = await existing(request.workspaceId, request.params.id);
        const errors: { field: string; message: string }[] = [];
        const device = normaliseDevice(request.body, 'device', (field, reason) =>
          errors.push({ field: field === 'device' ? 'body' : pointerOf('body', field.slice('device.'.length)), message: reason }),
        );
        if (!device) throw invalid(errors);
        const [row] = await saveDevices(deps.db, request.workspaceId, [{ contactId: contact.id, device }], deps.clock.now());
        return reply.code(201).send(deviceOf(row!));
      },
    );

    app.delete(
      '/contacts/:id/devices/:deviceId',
      { schema: { tags, summary: 'Forget one of the contact’s devices', params: DeviceParams, response: { 204: Type.Null() } } },
      async (request, reply) => {
        const id = contactId(request.params.id);
        const deviceId = request.params.deviceId;
        if (!integerId.test(deviceId) || !(await deleteDevice(deps.db, request.workspaceId, id, Number(deviceId)))) {
          throw notFound('device', deviceId);
        }
        return reply.code(204).send(null);
      },
    );
  };
