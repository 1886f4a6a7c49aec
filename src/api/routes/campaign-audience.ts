import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AudienceEstimate } from '../../domain/campaign.js';
import { CostEstimate } from '../../domain/money.js';
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
            'Counted in SQL with the same predicates as the snapshot. `cost` is what sending would cost against the balance ' +
            '(micro-units; `shortfall` > 0 means a launch fails preflight with INSUFFICIENT_BALANCE); null when no list is live.',
          params: IdParams,
          querystring: Type.Object(
            { sample: Type.Optional(Type.Integer({ minimum: 0, maximum: 50, default: 10 })) },
            { additionalProperties: false },
          ),
          response: {
            200: Type.Composite([AudienceEstimate, Type.Object({ cost: Type.Union([CostEstimate, Type.Null()]) })]),
          },
        },
      },
      async (request) => deps.campaigns.estimate(request.workspaceId, request.params.id, request.query.sample ?? 10),
    );
  };
