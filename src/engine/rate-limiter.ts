import { type RateRule, parseRetryAfter } from '../domain/pacing.js';
import type { Db } from '../store/database.js';
import { type RateLimitKey, blockUntil, settleTokens, takeTokensAcross } from '../store/rate-limits.js';
import type { Clock } from './clock.js';

/** The workspace id under which shared keys are kept: one state for the whole deployment. */
export const sharedScope = '*';

export interface RateLimitGrant {
  /** Messages that may be sent now: claim at most this many. */
  readonly granted: number;
  /** When to ask again for the rest; null when all that was wanted was granted. */
  readonly retryAt: Date | null;
  /** When the grant was made, and from which keys: what settle needs. */
  readonly at: Date;
  readonly keys: readonly RateLimitKey[];
}

/** A pause after a 429 without a Retry-After that parses. */
const defaultPauseMs = 60_000;

/**
 * The dispatcher's view of rate limits (DESIGN §4, §8): before claiming a batch it asks how
 * many messages may go under every key the batch passes (its sender, its provider), and
 * after a 429 it pauses the key. The state is in the database, so it holds across
 * restarts and across worker processes.
 *
 * @example
 * const limiter = new RateLimiter({ db, clock });
 * const grant = await limiter.take({ workspaceId, keys: ['sender:snd_1'], shared: ['provider:smtp'], rules, want: 50 });
 */
export class RateLimiter {
  readonly #db: Db;
  readonly #clock: Clock;

  constructor(deps: { readonly db: Db; readonly clock: Clock }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
  }

  /**
   * Takes up to `want` messages from all keys at once: the smallest allowance, charged to
   * every key. `keys` belong to the workspace; `shared` keys are limited across all
   * workspaces (a provider account the deployment shares). A key without a rule is
   * limited only by a provider's pause.
   */
  async take(ask: {
    readonly workspaceId: string;
    readonly keys: readonly string[];
    readonly shared?: readonly string[];
    readonly rules: Readonly<Record<string, RateRule | undefined>>;
    readonly want: number;
  }): Promise<RateLimitGrant> {
    const at = this.#clock.now();
    const keys = [
      ...ask.keys.map((key) => ({ workspaceId: ask.workspaceId, key })),
      ...(ask.shared ?? []).map((key) => ({ workspaceId: sharedScope, key })),
    ];
    const limits = keys.map((k) => ({ ...k, rule: ask.rules[k.key] ?? null }));
    return { ...(await takeTokensAcross(this.#db, { limits, want: ask.want, now: at })), at, keys };
  }

  /**
   * Settles a grant once its batch is answered: what was not sent goes back, and the sent
   * messages count from now rather than from the grant, so a slow request never lets its
   * messages land in the same second as the next second's (see domain/pacing.ts `settle`).
   */
  async settle(grant: RateLimitGrant, sent: number, answeredAt: Date | null = null): Promise<void> {
    const now = this.#clock.now();
    await settleTokens(this.#db, {
      keys: grant.keys,
      grantedAt: grant.at,
      granted: grant.granted,
      sent,
      answeredAt: answeredAt ?? now,
      now,
    });
  }

  /**
   * Pauses a key after a provider's 429: until its Retry-After (seconds or HTTP date), else
   * for a minute. Returns when the pause ends.
   */
  async pause(ask: {
    readonly workspaceId: string;
    readonly key: string;
    readonly shared?: boolean;
    readonly retryAfter?: string | number;
  }): Promise<Date> {
    const now = this.#clock.now();
    const parsed = ask.retryAfter === undefined ? null : parseRetryAfter(ask.retryAfter, now.getTime());
    const until = new Date(parsed ?? now.getTime() + defaultPauseMs);
    const workspaceId = ask.shared ? sharedScope : ask.workspaceId;
    await blockUntil(this.#db, { workspaceId, key: ask.key, until, now });
    return until;
  }
}
