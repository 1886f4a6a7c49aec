import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import type { SecretBox } from '../store/secrets.js';
import type { Providers } from '../engine/providers.js';
import type { Clock } from '../engine/clock.js';
import type { CampaignService } from '../engine/campaign-service.js';
import type { Automations } from '../engine/automations.js';
import type { Db } from '../store/database.js';
import { workspaceForKey } from '../store/workspaces.js';
import { registerIdempotency } from './idempotency.js';
import { errorHandler, problemOf, sendProblem } from './problem.js';
import { attributeRoutes } from './routes/attributes.js';
import { campaignAudienceRoutes } from './routes/campaign-audience.js';
import { campaignRoutes } from './routes/campaigns.js';
import { contactRoutes } from './routes/contacts.js';
import { exportRoutes } from './routes/exports.js';
import { importRoutes } from './routes/imports.js';
import { listRoutes } from './routes/lists.js';
import { receiptRoutes } from './routes/receipts.js';
import { sandboxRoutes } from './routes/sandbox.js';
import { segmentRoutes } from './routes/segments.js';
import { senderRoutes } from './routes/senders.js';
import { suppressionRoutes } from './routes/suppressions.js';
import { templateRoutes } from './routes/templates.js';
import { workspaceRoutes } from './routes/workspace.js';
import { calendarRoutes } from './routes/calendar.js';
import { eventRoutes } from './routes/events.js';
import type { SandboxMailbox } from '../channels/email-smtp/sandbox.js';
import type { ChannelAdapter, OutgoingEmail } from '../channels/channel.js';
import type { ProcessReceipts } from '../channels/provider.js';
import { trackingRoutes } from './routes/tracking.js';

export interface AppDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly campaigns: CampaignService;
  /** Automations: API events and the calendar's expected sends (absent: neither). */
  readonly automations?: Automations;
  /** The sandbox's mailbox when Herald runs in sandbox mode (messages reach no real person). */
  readonly sandbox: {
    /** Null when the sandbox runs as its own process (`herald sandbox`), which has the mailbox. */
    readonly mailbox: SandboxMailbox | null;
    readonly external?: { readonly host: string; readonly port: number } | null;
  } | null;
  /** Seals sender credentials at rest; null when HERALD_SECRET_KEY is unset (credentials are then refused). */
  readonly secrets?: SecretBox | null;
  /** The channel providers, for receipt webhooks and the sandbox inboxes; absent in tests that send no receipts. */
  readonly providers?: Providers;
  /**
   * Receipts of the email provider when it posts webhooks (email over HTTP: `postmark`),
   * which the runtime builds apart from the channel providers; absent or null: none taken.
   */
  readonly emailReceipts?: ProcessReceipts | null;
  /** The email adapter, for test sends from a template; absent or null when no email provider is configured. */
  readonly email?: ChannelAdapter<OutgoingEmail> | null;
  /** The key that signs email links and Herald's public base URL (routes/tracking.ts); absent: those routes answer 404. */
  readonly tracking?: { readonly key: string; readonly baseUrl: () => string };
  /** Where unexpected errors are logged (requests themselves are not logged). */
  readonly log?: FastifyBaseLogger;
}

declare module 'fastify' {
  interface FastifyRequest {
    workspaceId: string;
  }
}

export const sandboxBanner = 'on; messages go to the sandbox provider and reach no real person';

/**
 * Builds the HTTP API without listening (STYLE: buildApp apart from listen), so tests
 * drive it with `inject` and `herald serve` binds it to a port.
 */
export async function buildApp(deps: AppDeps) {
  // Bodies are validated strictly (no type coercion: a string where a number belongs is a
  // 400); query strings arrive as text, so they alone are coerced.
  const strict = addFormats.default(
    new Ajv({ allErrors: true, coerceTypes: false, useDefaults: true, removeAdditional: false, strict: false }),
  );
  const lenient = addFormats.default(
    new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true, removeAdditional: false, strict: false }),
  );

  const app = Fastify({
    ...(deps.log ? { loggerInstance: deps.log } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 8 * 1024 * 1024,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, problemOf('NOT_FOUND', `No route ${request.method} ${request.url}.`, undefined, request.url)),
  );

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Herald API',
        version: '0.1.0',
        description:
          'Multi-channel campaign engine. Errors are RFC 9457 problem documents with a stable `code`. ' +
          'Authenticate with `Authorization: Bearer <API key>`.',
      },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
      security: [{ apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.decorateRequest('workspaceId', '');
  app.addHook('onSend', async (_request, reply) => {
    if (deps.sandbox) reply.header('x-herald-sandbox', sandboxBanner);
  });
  app.addHook('onRequest', async (request, reply) => {
    // Receipt webhooks come from providers, who sign them instead of holding an API key.
    if (!request.url.startsWith('/v1/') || request.url.startsWith('/v1/receipts/')) return;
    const header = request.headers.authorization;
    const key = header?.startsWith('Bearer ') ? header.slice(7).trim() : request.headers['x-api-key'];
    const found = typeof key === 'string' && key !== '' ? await workspaceForKey(deps.db, key) : undefined;
    if (!found) {
      return sendProblem(
        reply,
        problemOf('UNAUTHENTICATED', 'Send your API key as `Authorization: Bearer <key>`.', undefined, request.url),
      );
    }
    request.workspaceId = found.workspaceId;
  });

  registerIdempotency(app, deps);

  app.get('/', { schema: { hide: true } }, async () => ({
    name: 'Herald',
    docs: '/docs',
    sandbox: deps.sandbox !== null,
  }));
  app.get('/healthz', { schema: { hide: true } }, async () => ({ ok: true }));

  await app.register(campaignRoutes(deps), { prefix: '/v1' });
  await app.register(contactRoutes(deps), { prefix: '/v1' });
  await app.register(importRoutes(deps), { prefix: '/v1' });
  await app.register(exportRoutes(deps), { prefix: '/v1' });
  await app.register(attributeRoutes(deps), { prefix: '/v1' });
  await app.register(listRoutes(deps), { prefix: '/v1' });
  await app.register(templateRoutes(deps), { prefix: '/v1' });
  await app.register(senderRoutes(deps), { prefix: '/v1' });
  await app.register(segmentRoutes(deps), { prefix: '/v1' });
  await app.register(suppressionRoutes(deps), { prefix: '/v1' });
  await app.register(campaignAudienceRoutes(deps), { prefix: '/v1' });
  await app.register(sandboxRoutes(deps), { prefix: '/v1' });
  await app.register(receiptRoutes(deps), { prefix: '/v1' });
  await app.register(workspaceRoutes(deps), { prefix: '/v1' });
  // Outside /v1, so without an API key: the links in people's emails (signed tokens).
  await app.register(trackingRoutes(deps));
  await app.register(calendarRoutes(deps), { prefix: '/v1' });
  await app.register(eventRoutes(deps), { prefix: '/v1' });
  return app;
}
