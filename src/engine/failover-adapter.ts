import type { Logger } from 'pino';
import { type ChannelAdapter, ProviderFatalError, type SendResult } from '../channels/channel.js';

/** When the breaker sends to the secondary instead of the primary. */
export interface BreakerOptions {
  /** Consecutive transient failures of the primary that switch to the secondary (default 5). */
  readonly transientThreshold: number;
  /** How long the secondary serves before the primary is tried again, in milliseconds (default 30 s). */
  readonly coolDownMs: number;
}

export const defaultBreaker: BreakerOptions = { transientThreshold: 5, coolDownMs: 30_000 };

/**
 * Provider failover (DESIGN §8, Novu #2859): one channel adapter made of two providers, with
 * a circuit breaker in front of the primary. Closed, every batch goes to the primary; a fatal
 * answer (bad credentials, a suspended account) or `transientThreshold` transient failures in
 * a row open it, and for `coolDownMs` every batch goes to the secondary. Then it is half-open:
 * the primary gets the next batch, and a single transient or fatal answer opens it again,
 * while a success closes it.
 *
 * What the primary did not take when the breaker opened (no result after a fatal answer, or
 * a transient failure) goes to the secondary within the same send(), so the switch costs a
 * message neither an attempt nor a delay; what the primary answered for good (sent, or a
 * permanent refusal of that recipient) stands. Results from the secondary carry its name in
 * `via`. Only a fatal answer from the secondary too fails the campaign.
 *
 * Receipts need nothing from here: each adapter asks its own provider for callbacks to its own
 * receipt path, and those carry the ledger key (a Twilio StatusCallback's `?m=`).
 */
export class FailoverAdapter<M extends { readonly messageId: number }> implements ChannelAdapter<M> {
  readonly name: string;
  readonly channel: ChannelAdapter<M>['channel'];
  readonly capabilities: ChannelAdapter<M>['capabilities'];
  readonly #primary: ChannelAdapter<M>;
  readonly #secondary: ChannelAdapter<M>;
  readonly #secondaryName: string;
  readonly #opts: BreakerOptions;
  readonly #log: Logger | null;
  readonly #now: () => number;
  #transientInARow = 0;
  /** Until when (epoch ms) the secondary serves; 0 while closed. */
  #openUntil = 0;

  constructor(args: {
    primary: ChannelAdapter<M>;
    secondary: ChannelAdapter<M>;
    /** The secondary's name in logs and `via`, e.g. twilio-sms-failover. */
    secondaryName: string;
    options?: Partial<BreakerOptions>;
    log?: Logger;
    now?: () => number;
  }) {
    this.#primary = args.primary;
    this.#secondary = args.secondary;
    this.#secondaryName = args.secondaryName;
    this.#opts = { ...defaultBreaker, ...args.options };
    this.#log = args.log ?? null;
    this.#now = args.now ?? Date.now;
    // Rate limits and receipts key on the channel's provider name; the pair keeps the primary's.
    this.name = args.primary.name;
    this.channel = args.primary.channel;
    this.capabilities = args.primary.capabilities;
  }

  /** Whether the secondary serves now (for tests and logs). */
  get open(): boolean {
    return this.#openUntil > this.#now();
  }

  async send(batch: readonly M[]): Promise<SendResult[]> {
    if (this.open) return this.#viaSecondary(batch, []);
    const halfOpen = this.#openUntil !== 0;
    let results: readonly SendResult[];
    try {
      results = await this.#primary.send(batch);
    } catch (err) {
      if (!(err instanceof ProviderFatalError)) throw err;
      this.#trip(`the primary refused the campaign (${err.code}: ${err.message})`);
      return this.#handOver(batch, err.results);
    }
    for (const r of results) {
      if (r.ok || r.kind === 'permanent') {
        this.#transientInARow = 0;
        continue;
      }
      this.#transientInARow += 1;
      // Half-open, one failure is enough: the primary has not shown it is back.
      if (halfOpen || this.#transientInARow >= this.#opts.transientThreshold) {
        this.#trip(`${halfOpen ? 'a' : this.#transientInARow} transient failure(s) in a row (${r.code})`);
        return this.#handOver(batch, results);
      }
    }
    if (halfOpen && results.some((r) => r.ok)) {
      this.#openUntil = 0;
      this.#log?.info({ channel: this.channel, provider: this.name }, 'provider failover: the primary is back');
    }
    return [...results];
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#primary.close(), this.#secondary.close()]);
  }

  #trip(why: string): void {
    this.#transientInARow = 0;
    this.#openUntil = this.#now() + this.#opts.coolDownMs;
    this.#log?.warn(
      { channel: this.channel, primary: this.name, secondary: this.#secondaryName, coolDownMs: this.#opts.coolDownMs },
      `provider failover: ${why}; the secondary takes over`,
    );
  }

  /** Keeps what the primary settled for good and sends the rest of the batch to the secondary. */
  #handOver(batch: readonly M[], fromPrimary: readonly SendResult[]): Promise<SendResult[]> {
    const settled = fromPrimary.filter((r) => r.ok || r.kind === 'permanent');
    const done = new Set(settled.map((r) => r.messageId));
    return this.#viaSecondary(
      batch.filter((m) => !done.has(m.messageId)),
      settled,
    );
  }

  /** Sends through the secondary; results carry `via`, and a fatal answer keeps what was settled before it. */
  async #viaSecondary(batch: readonly M[], settled: readonly SendResult[]): Promise<SendResult[]> {
    if (batch.length === 0) return [...settled];
    const tag = (rs: readonly SendResult[]) => rs.map((r) => ({ ...r, via: this.#secondaryName }));
    try {
      const results = tag(await this.#secondary.send(batch));
      this.#log?.debug(
        { channel: this.channel, provider: this.#secondaryName, messages: batch.length, sent: results.filter((r) => r.ok).length },
        'sent through the failover provider',
      );
      return [...settled, ...results];
    } catch (err) {
      if (!(err instanceof ProviderFatalError)) throw err;
      throw new ProviderFatalError(err.code, `${this.#secondaryName}: ${err.message}`, [...settled, ...tag(err.results)]);
    }
  }
}
