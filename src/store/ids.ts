import { randomBytes } from 'node:crypto';

const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

/**
 * A new identifier such as `cmp_01j9x…`: a prefix naming the resource, then 48 bits of
 * time and 80 random bits in Crockford base 32, so ids sort by creation and never collide.
 */
export function newId(prefix: string, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32] + time;
    t = Math.floor(t / 32);
  }
  const bytes = randomBytes(16);
  let rand = '';
  for (let i = 0; i < 16; i++) rand += alphabet[bytes[i]! % 32];
  return `${prefix}_${time}${rand}`;
}
