/**
 * mulberry32: a tiny seeded PRNG for the sandboxes' fault rates. Math.random cannot be
 * replayed; with a seed, the same requests in the same order meet the same faults, so a test
 * of rates is exact.
 *
 * @example
 * const random = seededRandom(options.seed ?? 1);
 * if (random() < (faults.transientRate ?? 0)) return reply(res, 503, …);
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
