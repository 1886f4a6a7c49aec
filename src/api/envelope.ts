import { type TSchema, Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { HeraldError } from '../domain/errors.js';

/** Query parameters every list endpoint accepts. */
export const PageQuery = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 500, description: 'nextCursor of the previous page' })),
};

/** The envelope of every list response: a page of rows, the next cursor, and the sandbox flag. */
export function pageOf<T>(data: T[], nextCursor: string | null, sandbox: boolean) {
  return { data, nextCursor, meta: { sandbox } };
}

export const Page = <T extends TSchema>(item: T) =>
  Type.Object({
    data: Type.Array(item),
    nextCursor: Type.Union([Type.String(), Type.Null()]),
    meta: Type.Object({ sandbox: Type.Boolean({ description: 'true: messages reach no real person' }) }),
  });

export function badCursor(): HeraldError {
  return HeraldError.of('VALIDATION_FAILED', 'querystring/cursor is not a cursor this API issued', {
    errors: [{ field: 'querystring/cursor', message: 'is not a valid cursor' }],
  });
}

export function notFound(kind: string, id: string | number): HeraldError {
  return HeraldError.of('NOT_FOUND', `No ${kind} ${id} in this workspace.`);
}

/** The id path parameter shared by resource routes. */
export const IdParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 100 }) });

export type WorkspaceRequest = FastifyRequest & { workspaceId: string };
