/**
 * A small seeded PRNG for the fleet simulation: the same seed gives the same run, on any machine.
 * sfc32 (a 128-bit state chaotic generator), its state filled from the seed by splitmix32.
 */

/** Returns uniform numbers in [0, 1), deterministic for a given seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  const split = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  // The first outputs of a fresh state are weakly mixed: discard a few.
  for (let i = 0; i < 12; i++) next();
  return next;
}

/** An exponential wait with the given mean: the gap between two events of a Poisson process. */
export function exponential(random: () => number, meanMs: number): number {
  return -Math.log(1 - random()) * meanMs;
}
