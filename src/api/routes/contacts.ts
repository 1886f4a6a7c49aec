import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { unwrap } from '../../domain/errors.js';
import { Contact, ContactBulk, ContactBulkResult, ContactInput, ContactPatch } from '../../domain/resources.js';
import { contactOf, deleteContact, getContact, listContacts, updateContact, upsertContacts } from '../../store/contacts.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** Bulk answers carry the contacts themselves only up to this many; beyond, counts and ids. */
const echoLimit = 100;

/** Contact ids are integers; any other path id names no contact (404, not a database error). */
function contactId(raw: string): number {
  if (!/^[1-9][0-9]{0,14}$/.test(raw)) throw notFound('contact', raw);
  return Number(raw);
}

/** Contacts: single and bulk upsert by email, search, read, patch and delete. */
export const contactRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['contacts'];

    app.post(
      '/contacts',
      {
        schema: {
          tags,
          summary: 'Create a contact, or update the one with the same email',
          body: ContactInput,
          response: { 201: Contact },
        },
      },
      async (request, reply) => {
        const { listIds, ...fields } = request.body;
        const result = unwrap(await upsertContacts(deps.db, request.workspaceId, [fields], deps.clock.now(), listIds));
        return reply.code(201).send(contactOf(result.contacts[0]!));
      },
    );

    app.post(
      '/contacts/bulk',
      {
        schema: {
          tags,
          summary: 'Upsert up to 10,000 contacts by email and add them to lists, all or nothing',
          body: ContactBulk,
          response: { 200: ContactBulkResult },
        },
      },
      async (request) => {
        const { contacts, listIds } = request.body;
        const result = unwrap(await upsertContacts(deps.db, request.workspaceId, contacts, deps.clock.now(), listIds));
        return {
          created: result.created,
          updated: result.updated,
          added: result.added,
          ids: result.contacts.map((c) => c.id),
          ...(contacts.length <= echoLimit ? { contacts: result.contacts.map(contactOf) } : {}),
        };
      },
    );

    app.get(
      '/contacts',
      {
        schema: {
          tags,
          summary: 'List contacts in id order, optionally searching email and name',
          querystring: Type.Object(
            { ...PageQuery, q: Type.Optional(Type.String({ minLength: 1, maxLength: 200, description: 'Substring of email or name' })) },
            { additionalProperties: false },
          ),
          response: { 200: Page(Contact) },
        },
      },
      async (request) => {
        const { limit = 50, cursor, q } = request.query;
        const page = await listContacts(deps.db, request.workspaceId, { limit, cursor, q });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(contactOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get(
      '/contacts/:id',
      { schema: { tags, summary: 'Get a contact', params: IdParams, response: { 200: Contact } } },
      async (request) => {
        const row = await getContact(deps.db, request.workspaceId, contactId(request.params.id));
        if (!row) throw notFound('contact', request.params.id);
        return contactOf(row);
      },
    );

    app.patch(
      '/contacts/:id',
      {
        schema: {
          tags,
          summary: 'Change a contact: null clears a field, attributes merge',
          params: IdParams,
          body: ContactPatch,
          response: { 200: Contact },
        },
      },
      async (request) => {
        const id = contactId(request.params.id);
        return contactOf(unwrap(await updateContact(deps.db, request.workspaceId, id, request.body, deps.clock.now())));
      },
    );

    app.delete(
      '/contacts/:id',
      { schema: { tags, summary: 'Delete a contact and its list memberships', params: IdParams, response: { 204: Type.Null() } } },
      async (request, reply) => {
        if (!(await deleteContact(deps.db, request.workspaceId, contactId(request.params.id)))) {
          throw notFound('contact', request.params.id);
        }
        return reply.code(204).send(null);
      },
    );
  };
