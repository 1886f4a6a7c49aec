import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AutomationEvent, EventResult } from '../../domain/automation.js';
import { HeraldError } from '../../domain/errors.js';
import type { AppDeps } from '../app.js';

/** An event's properties are kept on each message it queues, for the template: 16 KiB as JSON. */
const maxPropertiesBytes = 16_384;

/** API events that trigger automations (`trigger: {type: 'event', name}`). */
export const eventRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.post(
      '/events',
      {
        schema: {
          tags: ['automations'],
          summary: 'Record an event for a contact; live automations triggered by its name let the contact in',
          description:
            'The contact is named by `id`, `email` or `externalId`. Each live automation whose trigger is this event name ' +
            'queues a message for the contact when the contact is in its audience (lists, segments) and under its frequency ' +
            'cap, at most once per contact per automation per day. The answer says, per automation, whether a message was queued and if not why. ' +
            'The event is kept with each message it queued: its template reads `{{ event.name }}` and `{{ event.properties.… }}` ' +
            '(at most 16 KiB of properties as JSON).',
          body: AutomationEvent,
          response: { 202: EventResult },
        },
      },
      async (request, reply) => {
        if (!deps.automations) throw HeraldError.of('NOT_FOUND', 'Automations are not running in this process.');
        const size = Buffer.byteLength(JSON.stringify(request.body.properties ?? {}));
        if (size > maxPropertiesBytes)
          throw HeraldError.of(
            'VALIDATION_FAILED',
            `properties are ${size} bytes as JSON; at most ${maxPropertiesBytes} are kept with a message`,
            {
              errors: [{ field: 'body/properties', message: `must be at most ${maxPropertiesBytes} bytes as JSON` }],
            },
          );
        const result = await deps.automations.recordEvent(request.workspaceId, request.body);
        return reply.code(202).send(result);
      },
    );
  };
