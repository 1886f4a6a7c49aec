import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { channels } from '../../domain/lifecycle.js';
import { HeraldError } from '../../domain/errors.js';
import { BalanceEntry, ChannelPrices, Currency, Micros, TopUp, formatMoney } from '../../domain/money.js';
import { listBalanceEntries, readMoney, setPricing, topUp } from '../../store/balance.js';
import { defaultGraceMinutes, isTimeZone } from '../../domain/schedule.js';
import { getWorkspace, workspaceSettings } from '../../store/workspaces.js';
import type { AppDeps } from '../app.js';
import { Page, PageQuery, badCursor, pageOf } from '../envelope.js';

const Policies = Type.Object(
  Object.fromEntries(
    channels.map((c) => [
      c,
      Type.Optional(
        Type.Object(
          {
            restartAfterStop: Type.Optional(Type.Boolean({ description: 'false: a stopped campaign can only be cloned (seeds 001, 002)' })),
          },
          { additionalProperties: false },
        ),
      ),
    ]),
  ),
  { additionalProperties: false },
);

const WorkspacePatch = Type.Object(
  {
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone, e.g. Europe/Paris' })),
    policies: Type.Optional(Policies),
    currency: Type.Optional(Currency),
    prices: Type.Optional(ChannelPrices),
    scheduleGraceMinutes: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 10_080,
        description:
          'How late a schedule missed while Herald was not running may still start; past it a one-time send fails with SCHEDULE_PASSED and a recurring one skips to its next occurrence (default 60)',
      }),
    ),
  },
  { additionalProperties: false },
);

const Workspace = Type.Object({
  id: Type.String(),
  name: Type.String(),
  timeZone: Type.String({ description: 'IANA zone in which send times without an offset are read and shown' }),
  policies: Policies,
  scheduleGraceMinutes: Type.Integer(),
  sandbox: Type.Boolean(),
  createdAt: Type.String(),
  balance: Micros('What sending may still spend, in micro-units of `currency` (1 USD = 1000000)'),
  balanceText: Type.String({ description: 'The balance for people, e.g. "12.50 USD"' }),
  currency: Currency,
  prices: Type.Object(Object.fromEntries(channels.map((c) => [c, Type.Integer({ minimum: 0 })])), {
    description: 'Micro-units per segment (sms), call (voice) or message (the rest); 0: free, never metered',
  }),
});

/** The caller's workspace: its name, time zone and channel policy overrides. */
export const workspaceRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const view = async (id: string) => {
      const ws = await getWorkspace(deps.db, id);
      const money = await readMoney(deps.db, id);
      if (!ws || !money) throw HeraldError.of('NOT_FOUND', 'The workspace no longer exists.');
      return {
        id: ws.id,
        name: ws.name,
        timeZone: ws.time_zone,
        policies: workspaceSettings(ws).policies ?? {},
        scheduleGraceMinutes: workspaceSettings(ws).scheduleGraceMinutes ?? defaultGraceMinutes,
        sandbox: deps.sandbox !== null,
        createdAt: ws.created_at,
        balance: money.balance,
        balanceText: formatMoney(money.balance, money.currency),
        currency: money.currency,
        prices: money.prices,
      };
    };

    app.get(
      '/workspace',
      { schema: { tags: ['workspace'], summary: 'The workspace of the API key', response: { 200: Workspace } } },
      async (request) => view(request.workspaceId),
    );

    app.patch(
      '/workspace',
      {
        schema: {
          tags: ['workspace'],
          summary:
            'Rename, set the time zone and the schedule grace window, override channel policies, set the currency and per-channel prices',
          description:
            'Prices are micro-units per cost unit and merge into the current ones (give a channel 0 to make it free). ' +
            'The currency labels every amount, so it can change only while the balance is 0.',
          body: WorkspacePatch,
          response: { 200: Workspace },
        },
      },
      async (request) => {
        const { name, timeZone, policies, scheduleGraceMinutes, currency, prices } = request.body;
        if (timeZone !== undefined && !isTimeZone(timeZone)) {
          throw HeraldError.of('VALIDATION_FAILED', `body/timeZone "${timeZone}" is not an IANA time zone`, {
            errors: [{ field: 'body/timeZone', message: 'is not an IANA time zone' }],
          });
        }
        if (currency !== undefined) {
          const money = await readMoney(deps.db, request.workspaceId);
          if (money && currency !== money.currency && money.balance !== 0)
            throw HeraldError.of(
              'CONFLICT',
              `The balance is ${formatMoney(money.balance, money.currency)}: the currency can change only while it is 0.`,
            );
        }
        await deps.db.transaction().execute(async (trx) => {
          const ws = await getWorkspace(trx, request.workspaceId);
          if (!ws) throw HeraldError.of('NOT_FOUND', 'The workspace no longer exists.');
          const settings = workspaceSettings(ws);
          const set = {
            ...(name !== undefined ? { name } : {}),
            ...(timeZone !== undefined ? { time_zone: timeZone } : {}),
            ...(policies !== undefined || scheduleGraceMinutes !== undefined
              ? {
                  settings: JSON.stringify({
                    ...settings,
                    ...(policies !== undefined ? { policies } : {}),
                    ...(scheduleGraceMinutes !== undefined ? { scheduleGraceMinutes } : {}),
                  }),
                }
              : {}),
          };
          // An empty SET is not SQL: a patch of prices alone (or of nothing) leaves these as they are.
          if (Object.keys(set).length > 0) await trx.updateTable('workspaces').set(set).where('id', '=', request.workspaceId).execute();
        });
        if (currency !== undefined || prices !== undefined) await setPricing(deps.db, request.workspaceId, { currency, prices });
        return view(request.workspaceId);
      },
    );

    app.post(
      '/workspace/balance/top-ups',
      {
        schema: {
          tags: ['workspace'],
          summary: 'Add money to the balance',
          description:
            'Adds `amount` micro-units and records a `top_up` entry in the balance ledger. Send an `Idempotency-Key` ' +
            'so a retried top-up is not counted twice.',
          body: TopUp,
          response: { 201: BalanceEntry },
        },
      },
      async (request, reply) => {
        const entry = await topUp(deps.db, {
          workspaceId: request.workspaceId,
          amount: request.body.amount,
          note: request.body.note ?? null,
          now: deps.clock.now(),
        });
        if (!entry) throw HeraldError.of('NOT_FOUND', 'The workspace no longer exists.');
        return reply.code(201).send(entry);
      },
    );

    app.get(
      '/workspace/balance/entries',
      {
        schema: {
          tags: ['workspace'],
          summary: 'The balance ledger, newest first',
          description:
            'Every top-up, every batch debit (reserved before the batch went to the provider) and every refund (what did ' +
            'not go out), with the balance after it: the balance is the sum of these amounts.',
          querystring: Type.Object(
            { ...PageQuery, campaignId: Type.Optional(Type.String({ maxLength: 100 })) },
            { additionalProperties: false },
          ),
          response: { 200: Page(BalanceEntry) },
        },
      },
      async (request) => {
        const { limit = 50, cursor, campaignId } = request.query;
        const page = await listBalanceEntries(deps.db, request.workspaceId, { limit, cursor, campaignId });
        if (page === 'bad_cursor') throw badCursor();
        return pageOf(page.data, page.nextCursor, deps.sandbox !== null);
      },
    );
  };
