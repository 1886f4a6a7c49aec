/**
 * The catalogue of coded errors. Every failure Herald reports to a person or a
 * program carries one of these codes; the API turns them into RFC 9457 problem
 * documents with the status given here. Codes are never reused for another meaning.
 */
export const errorCatalogue = {
  VALIDATION_FAILED: { status: 400, title: 'The request is not valid' },
  TEMPLATE_INVALID: { status: 400, title: 'The template does not parse' },
  MALFORMED_JSON: { status: 400, title: 'The request body is not valid JSON' },
  UNAUTHENTICATED: { status: 401, title: 'A valid API key is required' },
  NOT_FOUND: { status: 404, title: 'No such resource in this workspace' },
  UNKNOWN_ACTION: { status: 404, title: 'No such campaign action' },
  ACTION_NOT_ALLOWED: { status: 409, title: 'The action is not allowed in the campaign’s current status' },
  VERSION_CONFLICT: { status: 409, title: 'The resource was changed by someone else; reload and try again' },
  FIELD_LOCKED: { status: 409, title: 'These fields cannot be edited in the campaign’s current status' },
  CAMPAIGN_INCOMPLETE: { status: 409, title: 'The campaign is missing what it needs to be sent' },
  SCHEDULE_PASSED: { status: 409, title: 'The send time has passed: send now or pick a new time' },
  NOTHING_TO_RETRY: { status: 409, title: 'No message failed, so there is nothing to retry' },
  ALREADY_SENT: { status: 409, title: 'Messages were sent, so the campaign can only be archived' },
  IN_USE: { status: 409, title: 'The resource is used by a campaign that is not finished' },
  CONFLICT: { status: 409, title: 'The resource conflicts with an existing one' },
  IDEMPOTENCY_IN_PROGRESS: { status: 409, title: 'A request with this Idempotency-Key is still being handled' },
  IDEMPOTENCY_KEY_REUSED: { status: 422, title: 'This Idempotency-Key was used for a different request' },
  PREFLIGHT_FAILED: { status: 422, title: 'The campaign cannot be sent until these problems are fixed' },
  SECRETS_UNAVAILABLE: { status: 409, title: 'Credentials cannot be stored without a secret key' },
  PAYLOAD_TOO_LARGE: { status: 413, title: 'The request is too large' },
  INTERNAL: { status: 500, title: 'Something went wrong on our side' },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof errorCatalogue;

/** An expected failure, as a value: a code, a human sentence and optional structured detail. */
export interface Failure {
  readonly code: ErrorCode;
  readonly detail: string;
  readonly extra?: Readonly<Record<string, unknown>>;
}

export type Result<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: Failure };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = <T = never>(code: ErrorCode, detail: string, extra?: Record<string, unknown>): Result<T> => ({
  ok: false,
  error: extra ? { code, detail, extra } : { code, detail },
});

/** Thrown where a failure must unwind through layers that cannot return it (e.g. a route handler). */
export class HeraldError extends Error {
  readonly code: ErrorCode;
  readonly extra: Readonly<Record<string, unknown>> | undefined;
  constructor(failure: Failure) {
    super(failure.detail);
    this.name = 'HeraldError';
    this.code = failure.code;
    this.extra = failure.extra;
  }
  static of(code: ErrorCode, detail: string, extra?: Record<string, unknown>): HeraldError {
    return new HeraldError(extra ? { code, detail, extra } : { code, detail });
  }
}

/** Unwraps a result or throws its failure as a HeraldError. */
export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new HeraldError(result.error);
}

/** Closes every switch over a union: the compiler proves the case cannot happen. */
export function assertUnreachable(value: never): never {
  throw new Error(`Unreachable case: ${JSON.stringify(value)}`);
}
