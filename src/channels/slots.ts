/**
 * A counting semaphore: at most `size` requests in flight across every send() of one adapter
 * (the engine may call send() again before an earlier call has finished).
 *
 * @example
 * const slots = new Slots(8);
 * await slots.take();
 * try { await post(); } finally { slots.give(); }
 */
export class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];
  constructor(readonly size: number) {
    this.#free = size;
  }
  /** Resolves once a slot is free and held by the caller. */
  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free--;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }
  /** Hands the slot to the longest waiter, or frees it. */
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free++;
  }
}
