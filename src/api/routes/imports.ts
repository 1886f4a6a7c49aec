import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { HeraldError } from '../../domain/errors.js';
import { Import, ImportError } from '../../domain/import.js';
import { createImport, getImport, listByName, listImportErrors, listImports } from '../../import/imports-store.js';
import { parseOverrides } from '../../import/mapping.js';
import { runImport } from '../../import/pipeline.js';
import { getList } from '../../store/lists.js';
import type { AppDeps } from '../app.js';
import { IdParams, Page, PageQuery, badCursor, notFound, pageOf } from '../envelope.js';

/** The parsed body of a CSV upload: the request stream itself, never buffered. */
interface Upload {
  readonly stream: Readable;
  /** What the Idempotency-Key hook hashes: the stream is not JSON. */
  toJSON(): unknown;
}

const csvTypes = ['text/csv', 'application/csv'];

/**
 * CSV imports (DESIGN §5): `POST /v1/imports` takes the file as the request body
 * (`Content-Type: text/csv`), streams it to a temporary file (never into memory), answers
 * 202 with the import, and imports it in the background, one batch per transaction; the
 * import resource shows the progress, `/errors` the refused lines.
 *
 * The upload is spooled rather than imported while it arrives so that a client's upload
 * takes as long as the network needs, not as long as the database needs, and a client
 * that goes away after the 202 does not stop the import.
 */
export const importRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['imports'];
    const running = new Set<Promise<unknown>>();
    const stopping = new AbortController();

    // Encapsulated in this plugin: other routes keep refusing text/csv with 415.
    for (const type of csvTypes) {
      app.addContentTypeParser(type, (_request, payload, done) => {
        const upload: Upload = { stream: payload, toJSON: () => ({ upload: type }) };
        done(null, upload);
      });
    }
    // Shutdown: running imports stop after their current batch and are marked failed.
    app.addHook('onClose', async () => {
      stopping.abort();
      await Promise.allSettled([...running]);
    });

    app.post(
      '/imports',
      {
        schema: {
          tags,
          summary: 'Import contacts from a CSV file sent as the body (text/csv); 202, then poll the import',
          description:
            'Headers map to fields automatically (email, phone, first_name, last_name, time_zone, external_id, tags, ' +
            'telegram_chat_id, viber_id; any other header is a custom attribute); `map=header=field` overrides one. ' +
            'Re-importing the same file changes nothing.',
          consumes: csvTypes,
          querystring: Type.Object(
            {
              listId: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Add every imported contact to this list' })),
              list: Type.Optional(
                Type.String({ minLength: 1, maxLength: 200, description: 'The same by list name; created when missing' }),
              ),
              map: Type.Optional(
                Type.Union([Type.String({ maxLength: 300 }), Type.Array(Type.String({ maxLength: 300 }), { maxItems: 200 })], {
                  description:
                    'header=field, repeatable: field is email, phone, firstName, lastName, timeZone, externalId, tags, ' +
                    'telegramChatId, viberId, attributes.<name> or ignore',
                }),
              ),
              filename: Type.Optional(Type.String({ maxLength: 300 })),
            },
            { additionalProperties: false },
          ),
          response: { 202: Import },
        },
      },
      async (request, reply) => {
        const body = request.body as Upload | undefined;
        if (!body || typeof (body as Partial<Upload>).stream?.pipe !== 'function') {
          throw HeraldError.of('VALIDATION_FAILED', 'Send the CSV file as the request body with Content-Type: text/csv.', {
            errors: [{ field: 'headers/content-type', message: 'must be text/csv' }],
          });
        }
        const q = request.query;
        const pairs = q.map === undefined ? [] : Array.isArray(q.map) ? q.map : [q.map];
        const overrides = parseOverrides(pairs);
        if (!overrides.ok) {
          throw HeraldError.of('VALIDATION_FAILED', overrides.error.detail, {
            errors: [{ field: 'querystring/map', message: overrides.error.detail }],
          });
        }
        if (q.listId && q.list) throw HeraldError.of('VALIDATION_FAILED', 'Give listId or list, not both.');
        const now = deps.clock.now();
        let listId: string | null = null;
        if (q.listId) {
          if (!(await getList(deps.db, request.workspaceId, q.listId))) throw notFound('list', q.listId);
          listId = q.listId;
        }

        const dir = await mkdtemp(join(tmpdir(), 'herald-import-'));
        const file = join(dir, 'upload.csv');
        try {
          await pipeline(body.stream, createWriteStream(file));
        } catch (err) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        }
        if (q.list) listId = (await listByName(deps.db, request.workspaceId, q.list, now)).id;
        const created = await createImport(deps.db, { workspaceId: request.workspaceId, listId, filename: q.filename ?? null, now });

        const job = runImport(createReadStream(file), {
          db: deps.db,
          workspaceId: request.workspaceId,
          importId: created.id,
          listId,
          overrides: overrides.value,
          now: () => deps.clock.now(),
          signal: stopping.signal,
        })
          .catch((err: unknown) => request.log.error({ err, importId: created.id }, 'import failed'))
          .finally(() => rm(dir, { recursive: true, force: true }));
        running.add(job);
        void job.finally(() => running.delete(job));
        return reply.code(202).header('location', `/v1/imports/${created.id}`).send(created);
      },
    );

    app.get(
      '/imports',
      {
        schema: {
          tags,
          summary: 'List imports, oldest first',
          querystring: Type.Object(PageQuery, { additionalProperties: false }),
          response: { 200: Page(Import) },
        },
      },
      async (request) => {
        const { limit = 50, cursor } = request.query;
        const page = await listImports(deps.db, request.workspaceId, { limit, cursor });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data, page.nextCursor, deps.sandbox !== null);
      },
    );

    app.get(
      '/imports/:id',
      {
        schema: {
          tags,
          summary: 'An import and its progress: rows read, imported, invalid; status',
          params: IdParams,
          response: { 200: Import },
        },
      },
      async (request) => {
        const found = await getImport(deps.db, request.workspaceId, request.params.id);
        if (!found) throw notFound('import', request.params.id);
        return found;
      },
    );

    app.get(
      '/imports/:id/errors',
      {
        schema: {
          tags,
          summary: 'The lines an import refused, in line order, with the field and the reason',
          params: IdParams,
          querystring: Type.Object(
            {
              limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
              cursor: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$', description: 'nextCursor of the previous page' })),
            },
            { additionalProperties: false },
          ),
          response: { 200: Page(ImportError) },
        },
      },
      async (request) => {
        const found = await getImport(deps.db, request.workspaceId, request.params.id);
        if (!found) throw notFound('import', request.params.id);
        const { limit = 100, cursor } = request.query;
        const page = await listImportErrors(deps.db, found.id, { limit, afterLine: cursor === undefined ? undefined : Number(cursor) });
        return pageOf(page.data, page.nextLine === null ? null : String(page.nextLine), deps.sandbox !== null);
      },
    );
  };
