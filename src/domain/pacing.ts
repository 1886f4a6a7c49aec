import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { type Result, fail, ok } from './errors.js';

/**
 * Rate limits of a sender or a provider (DESIGN §4, §8): messages per second, minute and
 * hour over sliding windows, an optional warm-up ramp for a new email sender, and a pause
 * a provider asks for with 429 / Retry-After. Pure: time is a parameter (epoch ms).
 *
 * Why a compacted sliding-window log and not GCRA / a token bucket: a bucket of depth L
 * refilled at L per window lets up to 2L − 1 messages through in one window (a full burst
 * just before the bucket refills, another just after), and a depth small enough to hold
 * every window to L (depth 1) forbids the batches the dispatcher sends. So each window
 * keeps its recent grants as [time, count] pairs and grants only what keeps every window
 * of its length at or under the limit. Grants within one hundredth of the window share a
 * pair stamped with the latest of their times: at most 101 pairs per window, and since a
 * pair only ever expires later than its grants would, the limit still holds exactly; the
 * price is throughput, at most 1% below the limit when grants are spread thinly.
 */

/** Epoch ms. */
type Millis = number;

const Limit = (what: string) =>
  Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000, description: `At most this many messages ${what}` }));

export const Warmup = Type.Object(
  {
    startPerHour: Type.Integer({ minimum: 1, maximum: 100_000_000, description: 'Messages per hour in the first period' }),
    growth: Type.Number({ minimum: 1, maximum: 100, description: 'Factor applied each period: 2 doubles' }),
    periodHours: Type.Number({ exclusiveMinimum: 0, maximum: 8760, description: 'Length of one step of the ramp, e.g. 24' }),
    since: Type.String({
      pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:?\\d{2})?)?$',
      description: 'ISO 8601 date or date-time when the first period starts',
    }),
  },
  { additionalProperties: false, description: 'A warm-up ramp: startPerHour × growth^(periods since `since`), capped by perHour' },
);
export type Warmup = Static<typeof Warmup>;

/** A rate rule: at least one limit. Every window slides (any second, any minute, any hour). */
export const RateRule = Type.Object(
  {
    perSecond: Limit('in any one second'),
    perMinute: Limit('in any one minute'),
    perHour: Limit('in any one hour'),
    warmup: Type.Optional(Warmup),
  },
  { additionalProperties: false, minProperties: 1, description: 'Rate limits of a sender or provider; at least one is required' },
);
export type RateRule = Static<typeof RateRule>;

/** Checks a rule from outside (API, configuration): the schema, and a `since` that is a real date. */
export function validateRateRule(input: unknown): Result<RateRule> {
  const first = Value.Errors(RateRule, input).First();
  if (first) return fail('VALIDATION_FAILED', `rate rule ${first.path || '/'}: ${first.message}`);
  const rule = input as RateRule;
  if (rule.warmup && Number.isNaN(Date.parse(rule.warmup.since)))
    return fail('VALIDATION_FAILED', 'rate rule /warmup/since: not a valid date');
  return ok(rule);
}

export const windows = ['second', 'minute', 'hour'] as const;
export type WindowName = (typeof windows)[number];
export const windowMs: Readonly<Record<WindowName, number>> = Object.freeze({ second: 1000, minute: 60_000, hour: 3_600_000 });

/** Grants of one window merge into pairs per 1/100 of the window (see the top of the file). */
const slotsPerWindow = 100;

/** Recent grants of one window, oldest first: [time of the latest grant of the pair, count]. */
const Grants = Type.Array(Type.Tuple([Type.Number(), Type.Integer({ minimum: 0 })]));
type Grants = readonly (readonly [Millis, number])[];

/** What the limiter remembers per key; stored as JSON and surviving restarts. */
export const PacingState = Type.Object({
  /** No message goes before this time (a provider's Retry-After); 0 when not paused. */
  blockedUntil: Type.Number(),
  second: Grants,
  minute: Grants,
  hour: Grants,
});
export interface PacingState {
  readonly blockedUntil: Millis;
  readonly second: Grants;
  readonly minute: Grants;
  readonly hour: Grants;
}

export const emptyPacingState: PacingState = Object.freeze({ blockedUntil: 0, second: [], minute: [], hour: [] });

/** Reads a stored state; throws on anything that is not one (the store writes only valid ones). */
export function parsePacingState(json: string): PacingState {
  const value: unknown = JSON.parse(json);
  if (!Value.Check(PacingState, value)) throw new Error(`rate limit state is corrupt: ${json.slice(0, 200)}`);
  return value;
}

/** The per-hour limit the warm-up ramp allows at `now`: startPerHour × growth^(whole periods since `since`). */
export function warmupPerHour(warmup: Warmup, now: Millis): number {
  const periods = Math.floor((now - Date.parse(warmup.since)) / (warmup.periodHours * 3_600_000));
  const limit = warmup.startPerHour * warmup.growth ** Math.max(0, periods);
  return Math.min(Number.MAX_SAFE_INTEGER, Math.floor(limit));
}

/** When the ramp next steps up after `now`. */
function nextWarmupStep(warmup: Warmup, now: Millis): Millis {
  const since = Date.parse(warmup.since);
  const period = warmup.periodHours * 3_600_000;
  return now < since ? since + period : since + (Math.floor((now - since) / period) + 1) * period;
}

/** The limit of each window a rule constrains, at `now` (the ramp makes the hour's limit move). */
export function limitsAt(rule: RateRule | null, now: Millis): { window: WindowName; limit: number }[] {
  if (!rule) return [];
  const out: { window: WindowName; limit: number }[] = [];
  if (rule.perSecond !== undefined) out.push({ window: 'second', limit: rule.perSecond });
  if (rule.perMinute !== undefined) out.push({ window: 'minute', limit: rule.perMinute });
  const hour = Math.min(rule.perHour ?? Infinity, rule.warmup ? warmupPerHour(rule.warmup, now) : Infinity);
  if (hour !== Infinity) out.push({ window: 'hour', limit: hour });
  return out;
}

export interface Allowance {
  /** Messages that may go at `now`. */
  readonly available: number;
  /** Earliest time at which one message may go: `now` when available > 0. */
  readonly nextAt: Millis;
}

/** Grants still inside the window ending at `now`: every one stamped after now − window. */
function live(grants: Grants, now: Millis, length: number): Grants {
  return grants.filter(([t]) => t > now - length);
}

/**
 * How many messages may go at `now` under a rule (null: no limit, only a pause), and if
 * none, when the next may.
 *
 * @example allowance({ perSecond: 10 }, emptyPacingState, Date.now()) // { available: 10, nextAt: now }
 */
export function allowance(rule: RateRule | null, state: PacingState, now: Millis): Allowance {
  if (now < state.blockedUntil) return { available: 0, nextAt: state.blockedUntil };
  let available = Number.MAX_SAFE_INTEGER;
  let nextAt = now;
  for (const { window, limit } of limitsAt(rule, now)) {
    const length = windowMs[window];
    const recent = live(state[window], now, length);
    const used = recent.reduce((sum, [, n]) => sum + n, 0);
    available = Math.min(available, Math.max(0, limit - used));
    if (used < limit) continue;
    // The window frees a place when enough of its oldest grants have slid out of it.
    let freed = 0;
    let at = now;
    for (const [t, n] of recent) {
      freed += n;
      at = t + length;
      if (used - freed < limit) break;
    }
    // A ramp that steps up may free places sooner; the caller just asks again then.
    if (window === 'hour' && rule?.warmup && (rule.perHour === undefined || limit < rule.perHour))
      at = Math.min(at, nextWarmupStep(rule.warmup, now));
    nextAt = Math.max(nextAt, at);
  }
  return { available, nextAt };
}

/** Adds `n` grants at `now` to one window's log, dropping what slid out and merging within a slot. */
function appendGrant(grants: Grants, now: Millis, length: number, n: number): Grants {
  const kept = live(grants, now, length);
  // Stamps never go backwards, so the grant lands last; a later stamp is the safe side.
  return insertGrant(kept, Math.max(now, kept[kept.length - 1]?.[0] ?? -Infinity), length, n);
}

/** Records `n` messages granted at `now` in every window the rule constrains. */
export function record(rule: RateRule | null, state: PacingState, now: Millis, n: number): PacingState {
  if (n <= 0) return state;
  let next: PacingState = state;
  for (const { window } of limitsAt(rule, now)) next = { ...next, [window]: appendGrant(next[window], now, windowMs[window], n) };
  return next;
}

export interface Take {
  /** How many of the wanted messages may go now: 0..want. */
  readonly granted: number;
  /** The state after the grant, one per key, in the order given. */
  readonly states: readonly PacingState[];
  /** When to ask again for the rest; null when all that was wanted was granted. */
  readonly retryAt: Millis | null;
}

/**
 * Takes up to `want` messages at `now` from every key at once: the grant is the smallest
 * allowance, and each key records only that, so no key gives tokens another key then refuses.
 *
 * @example takeAcross([{ rule: { perSecond: 5 }, state: emptyPacingState }], now, 8) // granted 5, retryAt now + 1000
 */
export function takeAcross(keys: readonly { rule: RateRule | null; state: PacingState }[], now: Millis, want: number): Take {
  const wanted = Math.max(0, Math.floor(want));
  const granted = keys.reduce((n, k) => Math.min(n, allowance(k.rule, k.state, now).available), wanted);
  const states = keys.map((k) => record(k.rule, k.state, now, granted));
  if (granted === wanted) return { granted, states, retryAt: null };
  const retryAt = keys.reduce((at, k, i) => Math.max(at, allowance(k.rule, states[i]!, now).nextAt), now);
  return { granted, states, retryAt };
}

/** takeAcross for one key. */
export function take(rule: RateRule | null, state: PacingState, now: Millis, want: number): Take & { readonly state: PacingState } {
  const result = takeAcross([{ rule, state }], now, want);
  return { ...result, state: result.states[0]! };
}

/**
 * Gives back `n` messages granted at `grantedAt` that were never sent (the batch came up
 * short). They come off the pair of the grant's own slot, never off a later pair: a later
 * pair's grants went out later, so shrinking it would let a window fill twice. When that
 * pair is gone (slid out of the window) there is nothing to give back.
 */
export function refund(state: PacingState, grantedAt: Millis, n: number): PacingState {
  if (n <= 0) return state;
  const out: { -readonly [K in keyof PacingState]: PacingState[K] } = { ...state };
  for (const window of windows) {
    const slot = windowMs[window] / slotsPerWindow;
    const i = state[window].findIndex(([t]) => Math.floor(t / slot) === Math.floor(grantedAt / slot));
    const pair = state[window][i];
    if (!pair) continue;
    const grants = state[window].slice();
    grants[i] = [pair[0], Math.max(0, pair[1] - n)];
    out[window] = grants.filter(([, count]) => count > 0);
  }
  return out;
}

/**
 * Settles a grant once its batch was answered: the `granted` messages come off the grant's
 * pair (as {@link refund} does) and the `sent` ones go back in stamped `answeredAt`, in
 * every window. A provider counts arrivals, and a message arrives somewhere between its
 * grant and the answer; stamping it at the answer keeps it in the window until a full
 * window after it can have arrived, so no window of *arrivals* holds more than the limit
 * however the requests' latencies vary (stamped at the grant, a slow first request and the
 * next second's grants landed together: 110 in a second at a 100/s limit). The price is
 * each request's latency, once per window. The grant's own pair may have slid out of a long
 * wait's window; the sent ones go in anyway, which only errs on the safe side.
 */
export function settle(state: PacingState, grantedAt: Millis, granted: number, sent: number, answeredAt: Millis): PacingState {
  const refunded = refund(state, grantedAt, granted);
  if (sent <= 0) return refunded;
  const out: { -readonly [K in keyof PacingState]: PacingState[K] } = { ...refunded };
  for (const window of windows) {
    // Only the windows in use have a log; a rule's windows are the ones its grants went into.
    if (state[window].length === 0) continue;
    out[window] = insertGrant(live(refunded[window], answeredAt, windowMs[window]), answeredAt, windowMs[window], sent);
  }
  return out;
}

/** Adds `n` at `at` to a sorted log, merged into a pair of the same slot (stamped with the later time). */
function insertGrant(grants: Grants, at: Millis, length: number, n: number): Grants {
  const slot = length / slotsPerWindow;
  const out = grants.slice();
  const same = out.findIndex(([t]) => Math.floor(t / slot) === Math.floor(at / slot));
  if (same >= 0) {
    out[same] = [Math.max(out[same]![0], at), out[same]![1] + n];
    return out;
  }
  const after = out.findIndex(([t]) => t > at);
  out.splice(after < 0 ? out.length : after, 0, [at, n]);
  return out;
}

/** The longest pause a Retry-After can impose; a farther date is more likely a broken header than a plan. */
export const maxRetryAfterMs = 24 * 3_600_000;

/**
 * The time a provider's Retry-After asks us to wait until: delay-seconds ("120") or an
 * HTTP date ("Wed, 21 Oct 2026 07:28:00 GMT"); null when it is neither. Capped at 24 hours.
 */
export function parseRetryAfter(value: string | number, now: Millis): Millis | null {
  let until: number;
  if (typeof value === 'number') until = now + value * 1000;
  else if (/^\s*\d+(\.\d+)?\s*$/.test(value)) until = now + Number(value) * 1000;
  else until = Date.parse(value);
  if (!Number.isFinite(until)) return null;
  return Math.min(Math.max(until, now), now + maxRetryAfterMs);
}

/** Pauses the key until `until` (a pause already longer stays). */
export function blockUntil(state: PacingState, until: Millis): PacingState {
  return until > state.blockedUntil ? { ...state, blockedUntil: until } : state;
}

/**
 * Applies a provider's 429: pauses until its Retry-After, or for `fallbackMs` when it gave
 * none that parses.
 */
export function applyRetryAfter(
  state: PacingState,
  retryAfter: string | number | undefined,
  now: Millis,
  fallbackMs = 60_000,
): PacingState {
  const until = retryAfter === undefined ? null : parseRetryAfter(retryAfter, now);
  return blockUntil(state, until ?? now + fallbackMs);
}
