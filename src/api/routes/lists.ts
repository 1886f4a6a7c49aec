import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Contact, List, ListInput, ListPatch, MembersInput, MembersResult } from '../../domain/resources.js';
import { contactOf } from '../../store/contacts.js';
import {
  addMembers,
  countMembers,
  createList,
  getList,
  listLists,
  listMembers,
  listOf,
  removeMembers,
  softDeleteList,
  updateList,
} from '../../store/lists.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

const Query = Type.Object(PageQuery, { additionalProperties: false });

/** Lists: CRUD (delete is soft) and membership by contact id. */
export const listRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['lists'];

    /** The list, live and in this workspace, or a 404. */
    const liveList = async (workspaceId: string, id: string) => {
      const list = await getList(deps.db, workspaceId, id);
      if (!list) throw notFound('list', id);
      return list;
    };

    app.post('/lists', { schema: { tags, summary: 'Create a list', body: ListInput, response: { 201: List } } }, async (request, reply) => {
      const list = await createList(deps.db, request.workspaceId, request.body, deps.clock.now());
      return reply.code(201).send(listOf(list));
    });

    app.get(
      '/lists',
      { schema: { tags, summary: 'List lists with their member counts, oldest first', querystring: Query, response: { 200: Page(List) } } },
      async (request) => {
        const { limit = 50, cursor } = request.query;
        const page = await listLists(deps.db, request.workspaceId, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(listOf), page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get('/lists/:id', { schema: { tags, summary: 'Get a list', params: IdParams, response: { 200: List } } }, async (request) =>
      listOf(await liveList(request.workspaceId, request.params.id)),
    );

    app.patch(
      '/lists/:id',
      { schema: { tags, summary: 'Rename or re-describe a list', params: IdParams, body: ListPatch, response: { 200: List } } },
      async (request) => {
        const list = await updateList(deps.db, request.workspaceId, request.params.id, request.body, deps.clock.now());
        if (!list) throw notFound('list', request.params.id);
        return listOf(list);
      },
    );

    app.delete(
      '/lists/:id',
      {
        schema: {
          tags,
          summary: 'Delete a list (its members stay for the history of past campaigns)',
          params: IdParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        if (!(await softDeleteList(deps.db, request.workspaceId, request.params.id, deps.clock.now()))) {
          throw notFound('list', request.params.id);
        }
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/lists/:id/members',
      {
        schema: {
          tags,
          summary: 'Add contacts to a list; ids of unknown contacts or existing members are skipped',
          params: IdParams,
          body: MembersInput,
          response: { 200: MembersResult },
        },
      },
      async (request) => {
        const list = await liveList(request.workspaceId, request.params.id);
        const ids = [...new Set(request.body.contactIds)];
        const added = await addMembers(deps.db, request.workspaceId, list.id, ids, deps.clock.now());
        return { changed: added, skipped: ids.length - added, memberCount: await countMembers(deps.db, request.workspaceId, list.id) };
      },
    );

    app.delete(
      '/lists/:id/members',
      {
        schema: {
          tags,
          summary: 'Remove contacts from a list; ids that are not members are skipped',
          params: IdParams,
          body: MembersInput,
          response: { 200: MembersResult },
        },
      },
      async (request) => {
        const list = await liveList(request.workspaceId, request.params.id);
        const ids = [...new Set(request.body.contactIds)];
        const removed = await removeMembers(deps.db, request.workspaceId, list.id, ids);
        return { changed: removed, skipped: ids.length - removed, memberCount: await countMembers(deps.db, request.workspaceId, list.id) };
      },
    );

    app.get(
      '/lists/:id/members',
      {
        schema: {
          tags,
          summary: 'List the contacts of a list in id order',
          params: IdParams,
          querystring: Query,
          response: { 200: Page(Contact) },
        },
      },
      async (request) => {
        const list = await liveList(request.workspaceId, request.params.id);
        const { limit = 50, cursor } = request.query;
        const page = await listMembers(deps.db, request.workspaceId, list.id, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data.map(contactOf), page.nextCursor, deps.sandbox !== null);
      },
    );
  };
