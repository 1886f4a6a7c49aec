/** Opaque cursors for keyset pagination: the last row's sort value and id. */
export interface Cursor {
  readonly value: string | number | null;
  readonly id: string | number;
}

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.value, cursor.id])).toString('base64url');
}

/** Decodes a cursor; undefined when it is malformed (the API answers 400). */
export function decodeCursor(raw: string): Cursor | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8'));
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [value, id] = parsed as [unknown, unknown];
    const scalar = (v: unknown) => v === null || typeof v === 'string' || typeof v === 'number';
    if (!scalar(value) || (typeof id !== 'string' && typeof id !== 'number')) return undefined;
    return { value: value as Cursor['value'], id };
  } catch {
    return undefined;
  }
}

export interface Page<T> {
  readonly data: T[];
  readonly nextCursor: string | null;
}
