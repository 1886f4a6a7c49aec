import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import type { ReceiptEventType } from '../../channels/receipts.js';
import { HeraldError } from '../../domain/errors.js';
import { type LedgerRef, type TrackingKind, type VerifiedToken, verifyToken } from '../../domain/tracking.js';
import { applyReceipts } from '../../store/ledger/apply-receipts.js';
import type { AppDeps } from '../app.js';

const TokenParams = Type.Object({ token: Type.String({ minLength: 1, maxLength: 16_384, description: 'A signed token from the email' }) });

/** A transparent 1×1 GIF (43 bytes). */
const pixel = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function page(title: string, body: string): string {
  return (
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">` +
    `<meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>` +
    `<style>body{font-family:system-ui,Arial,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#111827}` +
    `button{font:inherit;padding:.6rem 1.2rem;border:0;border-radius:.4rem;background:#111827;color:#fff;cursor:pointer}</style>` +
    `</head><body><h1>${escapeHtml(title)}</h1>${body}</body></html>`
  );
}

/**
 * The links in people's emails (issue 5), outside /v1 and without an API key: the token in
 * the path is the credential (domain/tracking.ts). A token that does not verify is a 404
 * and changes nothing; in particular the click route never leads to a URL it did not sign.
 * What a link records goes through applyReceipts like a provider's receipt, so the message
 * only moves up its chain, repeats change nothing, the run's counters follow, and an
 * unsubscribe puts the address on the suppression list.
 *
 * Unsubscribing (RFC 8058): a mail client's one-click button POSTs
 * `List-Unsubscribe=One-Click` to the List-Unsubscribe URL, and that POST unsubscribes at
 * once. A GET — the footer link opened in a browser — shows a page with one button that
 * makes the same POST, and does not unsubscribe by itself: mail scanners fetch every link
 * of a message, and RFC 8058 §1 asks for this confirmation step so they unsubscribe no one.
 */
export const trackingRoutes =
  (deps: AppDeps): FastifyPluginAsyncTypebox =>
  async (app) => {
    const tags = ['tracking'];
    // The one-click POST is form-encoded, a browser's form too; the body says nothing the token does not.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: 16 * 1024 }, (_request, body, done) => done(null, body));

    const verified = (kind: TrackingKind, token: string): VerifiedToken | null =>
      deps.tracking ? verifyToken(deps.tracking.key, kind, token) : null;

    /** Records what a link says about its message; run 0 is a test send's, with no ledger row. */
    const record = async (ref: LedgerRef, type: ReceiptEventType) => {
      if (ref.runId === 0) return { applied: 0, unknown: 0 };
      const now = deps.clock.now();
      return applyReceipts(deps.db, { channel: 'email', events: [{ message: ref, providerId: null, type, at: now }], now });
    };

    app.get(
      '/t/o/:token',
      { schema: { tags, summary: 'Open pixel: records the message opened and answers a 1×1 GIF', params: TokenParams, security: [] } },
      async (request, reply) => {
        const ref = verified('open', request.params.token);
        if (!ref) throw HeraldError.of('NOT_FOUND', 'No such link.');
        // The image is shown whatever happens to the record: a broken image helps nobody.
        await record(ref, 'opened').catch((err: unknown) => request.log.error({ err }, 'could not record an open'));
        return reply
          .header('cache-control', 'no-store, no-cache, must-revalidate, private')
          .header('expires', '0')
          .type('image/gif')
          .send(pixel);
      },
    );

    app.get(
      '/t/c/:token',
      {
        schema: {
          tags,
          summary: 'Click redirect: records the message clicked and leads to the signed URL',
          params: TokenParams,
          security: [],
        },
      },
      async (request, reply) => {
        const ref = verified('click', request.params.token);
        if (!ref?.url) throw HeraldError.of('NOT_FOUND', 'No such link.');
        await record(ref, 'clicked').catch((err: unknown) => request.log.error({ err }, 'could not record a click'));
        return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(ref.url, 302);
      },
    );

    const notFound = (reply: FastifyReply) =>
      reply
        .code(404)
        .type('text/html; charset=utf-8')
        .send(page('Link not found', '<p>This unsubscribe link is not valid. Check that it was copied whole.</p>'));

    /** The address and the workspace of a message, for the page; undefined when it is gone. */
    const messageOf = (ref: LedgerRef) =>
      deps.db
        .selectFrom('messages')
        .innerJoin('workspaces', 'workspaces.id', 'messages.workspace_id')
        .select(['messages.address', 'workspaces.name'])
        .where('messages.run_id', '=', ref.runId)
        .where('messages.id', '=', ref.messageId)
        .executeTakeFirst();

    const testMessage = page(
      'Test message',
      '<p>This link comes from a test message or a preview: there is nothing to unsubscribe from.</p>',
    );

    /**
     * The message an unsubscribe link names, with the page's headers set; or the reply already
     * answered: 404 for a token that does not verify, the test page for a test send's link.
     */
    const unsubscribeRef = (token: string, reply: FastifyReply): { ref: VerifiedToken } | { answered: FastifyReply } => {
      const ref = verified('unsubscribe', token);
      if (!ref) return { answered: notFound(reply) };
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-store');
      if (ref.runId === 0) return { answered: reply.send(testMessage) };
      return { ref };
    };

    app.get(
      '/u/:token',
      {
        schema: {
          tags,
          summary: 'Unsubscribe page: asks to confirm with one button (a GET never unsubscribes; mail scanners fetch links)',
          params: TokenParams,
          security: [],
        },
      },
      async (request, reply) => {
        const u = unsubscribeRef(request.params.token, reply);
        if ('answered' in u) return u.answered;
        const { ref } = u;
        const message = await messageOf(ref);
        if (!message) return reply.code(404).send(page('Link not found', '<p>This message is no longer known here.</p>'));
        const who = message.address ? `<strong>${escapeHtml(message.address)}</strong>` : 'You';
        return reply.send(
          page(
            'Unsubscribe',
            `<p>${who} will no longer receive emails from ${escapeHtml(message.name)}.</p>` +
              `<form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click">` +
              `<button type="submit">Unsubscribe</button></form>`,
          ),
        );
      },
    );

    app.post(
      '/u/:token',
      {
        schema: {
          tags,
          summary: 'One-click unsubscribe (RFC 8058): body `List-Unsubscribe=One-Click`; unsubscribes at once, and again harmlessly',
          params: TokenParams,
          security: [],
        },
      },
      async (request, reply) => {
        const u = unsubscribeRef(request.params.token, reply);
        if ('answered' in u) return u.answered;
        const { ref } = u;
        const result = await record(ref, 'unsubscribed');
        if (result.unknown > 0) return reply.code(404).send(page('Link not found', '<p>This message is no longer known here.</p>'));
        return reply.send(page('You are unsubscribed', '<p>You will not receive these emails any more.</p>'));
      },
    );
  };
