import { ProviderFatalError, type SendResult } from './channel.js';
import type { Slots } from './slots.js';

/** What sending one message came to: its result, or a failure that stops the whole campaign. */
export type SendOutcome = { readonly result: SendResult } | { readonly fatal: { readonly code: string; readonly detail: string } };

/**
 * Sends each message of a batch in its own request, at most `slots.size` at once (the slots
 * are the adapter's, shared by every send()), and answers one result per message in input
 * order. After a fatal outcome no further request starts; the ProviderFatalError carries the
 * results of the requests that had completed (what the provider accepted must be recorded as
 * sent), and none for the rest.
 *
 * @example
 * return sendEach(batch, this.#slots, (m) => this.#sendOne(m));
 */
export async function sendEach<M>(batch: readonly M[], slots: Slots, sendOne: (m: M) => Promise<SendOutcome>): Promise<SendResult[]> {
  const answered: (SendResult | undefined)[] = [];
  let fatal: { code: string; detail: string } | undefined;
  let next = 0;
  const lane = async () => {
    while (next < batch.length && !fatal) {
      const index = next++;
      await slots.take();
      try {
        if (fatal) return;
        const outcome = await sendOne(batch[index]!);
        if ('fatal' in outcome) fatal ??= outcome.fatal;
        else answered[index] = outcome.result;
      } finally {
        slots.give();
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(slots.size, batch.length) }, lane));
  const results = answered.filter((r): r is SendResult => r !== undefined);
  if (fatal) throw new ProviderFatalError(fatal.code, fatal.detail, results);
  return results;
}
