import { Type } from '@sinclair/typebox';

/** A string schema limited to `values`, typed as their union (a plain `enum` in the OpenAPI document). */
export const StringEnum = <T extends readonly string[]>(values: T, description?: string) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...(description ? { description } : {}) });
