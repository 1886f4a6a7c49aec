import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { contactLimits } from '../../domain/contact.js';
import { unwrap } from '../../domain/errors.js';
import { AttributeDefinition, AttributeInput } from '../../domain/resources.js';
import { attributeOf, deleteAttribute, listAttributes, putAttribute } from '../../store/attributes.js';
import type { AppDeps } from '../app.js';
import { notFound } from '../envelope.js';

const NameParams = Type.Object({
  name: Type.String({ minLength: 1, maxLength: contactLimits.attributeKey, description: 'The attribute key, as in attributes.<key>' }),
});

/** Declared types of custom contact attributes: string, number, boolean or date (YYYY-MM-DD). */
export const attributeRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['attributes'];

    app.get(
      '/attributes',
      {
        schema: {
          tags,
          summary: 'List the workspace’s declared contact attributes, by name',
          response: { 200: Type.Object({ data: Type.Array(AttributeDefinition) }) },
        },
      },
      async (request) => ({ data: (await listAttributes(deps.db, request.workspaceId)).map(attributeOf) }),
    );

    app.put(
      '/attributes/:name',
      {
        schema: {
          tags,
          summary: 'Declare a contact attribute’s type, or change its description',
          description:
            'Contacts written afterwards must give values of this type (else 400 naming attributes.<name>). Changing the type ' +
            'is refused (409) while a stored value does not fit the new one. An attribute written without a declaration is ' +
            'declared with the type of its first value.',
          params: NameParams,
          body: AttributeInput,
          response: { 200: AttributeDefinition, 201: AttributeDefinition },
        },
      },
      async (request, reply) => {
        const { row, created } = unwrap(
          await putAttribute(deps.db, request.workspaceId, request.params.name, request.body, deps.clock.now()),
        );
        return reply.code(created ? 201 : 200).send(attributeOf(row));
      },
    );

    app.delete(
      '/attributes/:name',
      {
        schema: {
          tags,
          summary: 'Remove a declaration (stored values stay; the next write declares the type again)',
          params: NameParams,
          response: { 204: Type.Null() },
        },
      },
      async (request, reply) => {
        if (!(await deleteAttribute(deps.db, request.workspaceId, request.params.name))) throw notFound('attribute', request.params.name);
        return reply.code(204).send(null);
      },
    );
  };
