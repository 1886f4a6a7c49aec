/**
 * The latest `size` items, oldest first, in a fixed array: what a sandbox keeps for
 * messages(). Constant work per item, where a shifted array would move 10,000 entries each
 * time, and memory stays flat through a million-message run.
 *
 * @example
 * const kept = new Ring<SandboxMessage>(10_000);
 * kept.push(message);
 * kept.toArray(); // the latest 10,000, newest last
 */
export class Ring<T> {
  readonly #items: T[] = [];
  #start = 0;
  constructor(readonly size: number) {}
  push(item: T): void {
    if (this.#items.length < this.size) this.#items.push(item);
    else {
      this.#items[this.#start] = item;
      this.#start = (this.#start + 1) % this.size;
    }
  }
  toArray(): T[] {
    return [...this.#items.slice(this.#start), ...this.#items.slice(0, this.#start)];
  }
}
