import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { HeraldError } from '../domain/errors.js';
import type { Clock } from '../engine/clock.js';
import type { Db } from '../store/database.js';
import {
  abandonedAfterMs,
  claimIdempotencyKey,
  completeIdempotencyKey,
  releaseIdempotencyKey,
  touchIdempotencyKey,
} from '../store/idempotency.js';

declare module 'fastify' {
  interface FastifyRequest {
    idempotencyKey: string | null;
    idempotencyHeartbeat: NodeJS.Timeout | null;
  }
}

/**
 * `Idempotency-Key` on POST requests (DESIGN §6): a client that retries a create after a
 * timeout gets the first response again instead of a second campaign. Responses below
 * 500 are stored for 24 hours; a 5xx forgets the key so the retry runs again.
 */
export function registerIdempotency(app: FastifyInstance, deps: { db: Db; clock: Clock; heartbeatMs?: number }): void {
  app.decorateRequest('idempotencyKey', null);
  app.decorateRequest('idempotencyHeartbeat', null);
  const heartbeatMs = deps.heartbeatMs ?? abandonedAfterMs / 3;
  const stopHeartbeat = (request: { idempotencyHeartbeat: NodeJS.Timeout | null }) => {
    if (request.idempotencyHeartbeat) clearInterval(request.idempotencyHeartbeat);
    request.idempotencyHeartbeat = null;
  };

  app.addHook('preHandler', async (request, reply) => {
    const raw = request.headers['idempotency-key'];
    if (request.method !== 'POST' || raw === undefined || !request.workspaceId) return;
    const key = Array.isArray(raw) ? raw[0] : raw;
    if (!key || key.length > 255) {
      throw HeraldError.of('VALIDATION_FAILED', 'The Idempotency-Key header must be 1 to 255 characters.', {
        errors: [{ field: 'headers/idempotency-key', message: 'must be 1 to 255 characters' }],
      });
    }
    const requestHash = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex');
    const claim = await claimIdempotencyKey(deps.db, { workspaceId: request.workspaceId, key, requestHash, now: deps.clock.now() });
    switch (claim.kind) {
      case 'new': {
        request.idempotencyKey = key;
        // While the request runs its placeholder stays fresh, so a retry waits for it (409)
        // however long it takes, instead of taking it for dead and running it again.
        const workspaceId = request.workspaceId;
        request.idempotencyHeartbeat = setInterval(() => {
          touchIdempotencyKey(deps.db, { workspaceId, key, now: deps.clock.now() }).catch((err: unknown) =>
            request.log.error({ err }, 'could not touch an idempotency key'),
          );
        }, heartbeatMs).unref();
        return;
      }
      case 'replay':
        reply.code(claim.statusCode).header('idempotent-replayed', 'true');
        if (claim.contentType) reply.header('content-type', claim.contentType);
        return reply.send(claim.response);
      case 'in_progress':
        throw HeraldError.of('IDEMPOTENCY_IN_PROGRESS', 'The first request with this Idempotency-Key has not finished; retry in a moment.');
      case 'mismatch':
        throw HeraldError.of('IDEMPOTENCY_KEY_REUSED', 'This Idempotency-Key was sent with a different request; use a new key.');
    }
  });

  app.addHook('onSend', async (request, reply, payload) => {
    stopHeartbeat(request);
    const key = request.idempotencyKey;
    if (!key) return payload;
    request.idempotencyKey = null;
    if (reply.statusCode >= 500) {
      await releaseIdempotencyKey(deps.db, request.workspaceId, key);
    } else {
      const contentType = reply.getHeader('content-type');
      await completeIdempotencyKey(deps.db, {
        workspaceId: request.workspaceId,
        key,
        statusCode: reply.statusCode,
        contentType: typeof contentType === 'string' ? contentType : null,
        response: typeof payload === 'string' ? payload : payload == null ? '' : JSON.stringify(payload),
      });
    }
    return payload;
  });

  // A client that hangs up before the answer: the request still finishes and stores it (onSend).
  app.addHook('onResponse', async (request) => stopHeartbeat(request));
}
