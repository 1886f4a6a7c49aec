/**
 * The CSV of import-1m, row by row from its index, so the bench can say which lines are
 * bad without keeping the file. Run as a script (`tsx bench/import-csv.ts FILE N`) it writes
 * the file: import-1m starts it as a child process, so that generating a 100 MB file does
 * not count in the importing process's peak RSS.
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const header = 'email,phone,first_name,last_name,time_zone,external_id,tags,plan';
const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'UTC', 'Australia/Sydney'];
const plans = ['free', 'pro', 'team'];

/** Row i (from 1) is bad when i % 100 === 50: one in a hundred, cycling through the three kinds of bad value. */
const isBad = (i: number) => i % 100 === 50;

/** The lines of the bad rows of an n-row file (the header is line 1, row i is line i + 1). */
export function badLines(n: number): number[] {
  const out: number[] = [];
  for (let i = 50; i <= n; i += 100) out.push(i + 1);
  return out;
}

/** The cells of row i, as the CSV holds them (every value unique where the schema wants it unique). */
export function cells(i: number): string[] {
  const kind = isBad(i) ? ((i / 100) % 3) | 0 : -1;
  return [
    kind === 0 ? `user${i}-at-example.test` : `user${i}@example.test`,
    kind === 1 ? `555-${i}` : `+1${String(2_000_000_000 + i)}`,
    `First${i}`,
    `Last${i}`,
    kind === 2 ? 'Mars/Olympus_Mons' : zones[i % zones.length]!,
    `crm-${i}`,
    i % 10 === 0 ? 'vip;news' : 'news',
    plans[i % plans.length]!,
  ];
}

async function writeCsv(path: string, n: number): Promise<void> {
  async function* chunks() {
    yield `${header}\n`;
    let buf = '';
    for (let i = 1; i <= n; i++) {
      buf += `${cells(i).join(',')}\n`;
      if (i % 10_000 === 0) {
        yield buf;
        buf = '';
      }
    }
    yield buf;
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await writeCsv(process.argv[2]!, Number(process.argv[3]));
