import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ReceiptRequest } from '../../channels/provider.js';
import type { ReceiptParse } from '../../channels/receipts.js';
import type { Channel } from '../../domain/lifecycle.js';
import type { SenderRow } from '../../store/schema.js';
import { HeraldError } from '../../domain/errors.js';
import { applyReceipts } from '../../store/ledger/apply-receipts.js';
import { holdEarlyReceipts } from '../../store/ledger/early-receipts.js';
import type { AppDeps } from '../app.js';

/** How one receipt request is checked and read, and the sender it is addressed to (null: the environment's or the sandbox's). */
interface Check {
  readonly channel: Channel;
  readonly sender: SenderRow | null;
  verify(request: ReceiptRequest): boolean;
  parse(request: ReceiptRequest): ReceiptParse;
}

/**
 * The check for `provider` and `senderId`: the process's HTTP email provider (AppDeps
 * emailReceipts, `default` only: it has one account per process), else the channel
 * providers' registry; NOT_FOUND for anything else.
 */
async function receiptCheckOf(deps: AppDeps, provider: string, senderId: string): Promise<Check> {
  const email = deps.emailReceipts;
  if (email && provider === email.provider) {
    if (senderId !== 'default')
      throw HeraldError.of(
        'NOT_FOUND',
        `Receipts for ${provider} go to /v1/receipts/${provider}/default: the email provider is configured per process, not per sender.`,
      );
    return { channel: email.channel, sender: null, verify: (r) => email.verify(r), parse: (r) => email.parse(r) };
  }
  const providers = deps.providers;
  if (!providers) throw HeraldError.of('NOT_FOUND', 'This process takes no receipts.');
  const sender =
    senderId === 'default'
      ? null
      : ((await deps.db.selectFrom('senders').selectAll().where('id', '=', senderId).executeTakeFirst()) ?? null);
  if (senderId !== 'default' && !sender) throw HeraldError.of('NOT_FOUND', `No sender ${senderId}.`);
  const check = providers.receiptCheck(provider, sender);
  if (!check) throw HeraldError.of('NOT_FOUND', `No receipts are taken for provider ${provider}.`);
  const handler = check.module.receipts!;
  return {
    channel: check.module.channel,
    sender,
    verify: (r) => handler.verify(r, check.config, check.identity),
    parse: (r) => handler.parse(r),
  };
}

const Params = Type.Object({
  provider: Type.String({
    maxLength: 64,
    description: 'The provider: twilio-sms, twilio-voice, webpush, fcm, telegram, viber, webhook, postmark (email over HTTP)',
  }),
  sender: Type.String({ maxLength: 64, description: 'The sender whose credentials sign the receipts, or `default` for the environment’s' }),
});

const ReceiptAnswer = Type.Object({
  applied: Type.Integer({ description: 'Events that moved a message forward' }),
  ignored: Type.Integer({ description: 'Repeats and late events that would have moved a message backwards' }),
  unknown: Type.Integer({ description: 'Events about messages Herald does not know (logged)' }),
});

/**
 * Receipt webhooks (DESIGN §3): one URL per provider and sender, called by the provider
 * (or a device, for push), not by an API key holder — so these routes sit outside the API
 * key check and trust only the provider's signature, checked over the raw body (and the
 * URL, for Twilio) before anything is parsed. Repeats and reordering are safe: the ledger
 * only moves forward. A request that fails its signature changes nothing and is a 401.
 */
export const receiptRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    // Providers post form data (Twilio), JSON (Viber, Telegram) or text/plain (a service
    // worker avoiding a CORS preflight): every body is kept raw for the signature check.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 1024 * 1024 }, (_request, body, done) => done(null, body));

    app.options('/receipts/:provider/:sender', { schema: { hide: true } }, async (_request, reply) =>
      reply
        .header('access-control-allow-origin', '*')
        .header('access-control-allow-methods', 'POST')
        .header('access-control-allow-headers', 'content-type')
        .code(204)
        .send(),
    );

    app.post(
      '/receipts/:provider/:sender',
      {
        schema: {
          tags: ['receipts'],
          summary: 'A provider’s delivery receipts (signed by the provider; no API key)',
          description:
            'Twilio status callbacks (X-Twilio-Signature), Viber callbacks (X-Viber-Content-Signature), Telegram updates ' +
            '(X-Telegram-Bot-Api-Secret-Token), Herald webhook receipts (Herald-Signature), push receipts posted by a ' +
            'service worker or app (a signed token in the body) and Postmark webhooks for email over HTTP (HTTP basic ' +
            'auth, at /v1/receipts/postmark/default only).',
          params: Params,
          security: [],
          response: { 200: ReceiptAnswer },
        },
      },
      async (request, reply) => {
        reply.header('access-control-allow-origin', '*');
        const { provider, sender: senderId } = request.params;
        const check = await receiptCheckOf(deps, provider, senderId);

        const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(request.headers)) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        const receipt: ReceiptRequest = {
          url: `${deps.providers?.publicUrl() ?? `${request.protocol}://${request.host}`}${request.url}`,
          method: request.method,
          headers,
          rawBody,
        };
        if (!check.verify(receipt)) {
          request.log.warn({ provider, sender: senderId }, 'receipt refused: its signature does not verify');
          throw HeraldError.of('UNAUTHENTICATED', 'The receipt’s signature does not verify.');
        }
        const { sender } = check;
        const parsed = check.parse(receipt);
        if (!parsed.ok) throw HeraldError.of('VALIDATION_FAILED', parsed.detail, { errors: [{ field: 'body', message: parsed.detail }] });
        const channel = check.channel;
        const now = deps.clock.now();
        const result = await applyReceipts(deps.db, { workspaceId: sender?.workspace_id ?? null, channel, events: parsed.events, now });
        let unknown = result.unknown;
        // A provider account of the environment (or the sandbox) serves every workspace: a person
        // blocking its bot blocks it for each workspace that has them as a contact.
        const aboutAddresses = parsed.events.filter((e) => e.message === null && e.providerId === null && e.address !== undefined);
        if (!sender && aboutAddresses.length > 0 && (channel === 'telegram' || channel === 'viber')) {
          const column = channel === 'telegram' ? 'telegram_chat_id' : 'viber_id';
          const workspaces = await deps.db
            .selectFrom('contacts')
            .select('workspace_id')
            .distinct()
            .where(
              column,
              'in',
              aboutAddresses.map((e) => e.address!),
            )
            .execute();
          for (const w of workspaces) await applyReceipts(deps.db, { workspaceId: w.workspace_id, channel, events: aboutAddresses, now });
          if (workspaces.length > 0) unknown -= aboutAddresses.length;
        }
        // A receipt that overtook the record of its own send is kept and tried again (store/ledger/early-receipts.ts).
        const held = await holdEarlyReceipts(deps.db, {
          workspaceId: sender?.workspace_id ?? null,
          channel,
          events: result.unknownEvents,
          now,
        });
        if (unknown > held)
          request.log.info({ provider, unknown: unknown - held }, 'receipts about messages Herald does not know, ignored');
        return { applied: result.applied, ignored: result.ignored, unknown: Math.max(0, unknown) };
      },
    );
  };
