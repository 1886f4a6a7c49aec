import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorCode, HeraldError, errorCatalogue } from '../domain/errors.js';

/** An RFC 9457 problem document with Herald's stable machine code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  instance?: string;
  [extension: string]: unknown;
}

export function problemOf(code: ErrorCode, detail: string, extra?: Readonly<Record<string, unknown>>, instance?: string): Problem {
  const entry = errorCatalogue[code];
  // Extensions first: they may never overwrite the members RFC 9457 defines.
  return {
    ...(extra ?? {}),
    type: `https://herald.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    title: entry.title,
    status: entry.status,
    detail,
    code,
    ...(instance ? { instance } : {}),
  };
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply.code(problem.status).type('application/problem+json').send(problem);
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
  keyword?: string;
}

/** Names the offending field of a schema violation as a JSON pointer-ish path (`/audience/listIds/0`). */
function fieldOf(issue: AjvIssue, context: string | undefined): string {
  const base = issue.instancePath || '';
  const extra = issue.params?.additionalProperty ?? issue.params?.missingProperty;
  const path = typeof extra === 'string' ? `${base}/${extra}` : base;
  return `${context ?? 'body'}${path || ''}`;
}

/** Maps every error reaching Fastify to a problem document; unexpected ones are logged and hidden. */
export function errorHandler(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const instance = request.url;
  if (error instanceof HeraldError) return sendProblem(reply, problemOf(error.code, error.message, error.extra, instance));
  if (error.validation) {
    const errors = (error.validation as AjvIssue[]).map((issue) => ({
      field: fieldOf(issue, error.validationContext),
      message:
        issue.keyword === 'additionalProperties'
          ? 'is not a known field'
          : issue.keyword === 'required'
            ? 'is required'
            : (issue.message ?? 'is invalid'),
    }));
    const first = errors[0];
    const detail = first ? `${first.field} ${first.message}` : 'The request is not valid.';
    return sendProblem(reply, problemOf('VALIDATION_FAILED', detail, { errors }, instance));
  }
  if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
    return sendProblem(reply, problemOf('MALFORMED_JSON', error.message, undefined, instance));
  }
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return sendProblem(reply, problemOf('PAYLOAD_TOO_LARGE', error.message, undefined, instance));
  }
  if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
    const problem = problemOf('VALIDATION_FAILED', error.message, undefined, instance);
    return sendProblem(reply, { ...problem, status: error.statusCode });
  }
  request.log.error({ err: error }, 'unhandled error');
  return sendProblem(reply, problemOf('INTERNAL', 'An unexpected error occurred; it has been logged.', undefined, instance));
}
