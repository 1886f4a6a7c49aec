import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AudienceEstimate } from '../../domain/campaign.js';
import type { AppDeps } from '../app.js';
import { IdParams } from '../envelope.js';

/** A campaign's audience before launch: how many would get a message, who is skipped and why. */
export const campaignAudienceRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    app.get(
      '/campaigns/:id/audience/estimate',
      {
        schema: {
          tags: ['campaigns'],
          summary: 'What a launch would send now: counts and the first few recipients',
          description:
            '`selected` contacts match the audience rules; of them `noAddress` have no address for the channel (no message), ' +
            '`suppressed` are on the suppression list (a `suppressed` row, never sent) and `willSend` get a message. ' +
            'Counted in SQL with the same predicates as the snapshot.',
          params: IdParams,
          querystring: Type.Object(
            { sample: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, default: 10 })) },
            { additionalProperties: false },
          ),
          response: { 200: AudienceEstimate },
        },
      },
      async (request) => deps.campaigns.estimate(request.workspaceId, request.params.id, request.query.sample ?? 10),
    );
  };
