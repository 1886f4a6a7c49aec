/**
 * A provider's "not before": Retry-After read from an answer, and the gate every request of
 * one adapter passes so a pause the provider asked for is kept by all of them.
 */

/** Retry-After as milliseconds from now: delta-seconds or an HTTP date (RFC 9110 §10.2.3); null when absent or unreadable. */
export function retryAfterMs(header: string | null, now: number): number | null {
  if (!header) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A pause too long to hold a request for: how long is left, and until when (ISO 8601). */
export interface LongPause {
  readonly waitMs: number;
  readonly until: string;
}

/**
 * The time before which the provider asked not to be called. A request waits out a pause of
 * up to `maxWaitMs`; a longer one is answered instead (the caller reports a transient failure
 * with retryAfterMs), because longer waits belong to the engine's retry schedule, not to a
 * held batch.
 *
 * @example
 * const pause = await gate.pass();
 * if (pause) return failed('transient', 'X_THROTTLED', `X asked for no requests before ${pause.until}`, pause.waitMs);
 * // … request; on a 429:
 * gate.pauseFor(retryAfterMs(header, Date.now()) ?? 0);
 */
export class RetryAfterGate {
  readonly #maxWaitMs: number;
  readonly #now: () => number;
  #notBefore = 0;

  /** `now` is the clock the pause is read by (tests pass a controllable one). */
  constructor(maxWaitMs: number, now: () => number = Date.now) {
    this.#maxWaitMs = maxWaitMs;
    this.#now = now;
  }

  /** Resolves once the pause (if any) is over; a pause longer than maxWaitMs resolves at once with what is left of it. */
  async pass(): Promise<LongPause | null> {
    const wait = this.#notBefore - this.#now();
    if (wait > this.#maxWaitMs) return { waitMs: wait, until: new Date(this.#notBefore).toISOString() };
    if (wait > 0) await sleep(wait);
    return null;
  }

  /** No request for `delayMs` from now; a pause already longer stays. */
  pauseFor(delayMs: number): void {
    this.pauseUntil(this.#now() + delayMs);
  }

  /** No request before `at` (epoch ms); a pause already longer stays. */
  pauseUntil(at: number): void {
    this.#notBefore = Math.max(this.#notBefore, at);
  }
}
