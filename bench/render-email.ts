/**
 * `npx tsx bench/render-email.ts [messages]`: the per-message email work of dispatch-http on
 * its own, no database and no network: `renderEmail` on the bench template for recipient
 * after recipient, plain (the template's Liquid only) and tracked (the unsubscribe link and
 * footer, List-Unsubscribe headers, open pixel and tracked links every email of Herald's
 * carries), as µs a message; then the JSON the adapter would post for it.
 *
 * The two are timed in alternating rounds of `messages` recipients (default 20,000), in CPU
 * time (user + system: on the shared 2-core machine wall-clock time stretches with the load
 * average, CPU time far less), and the median round is printed, so a neighbour's burst lands
 * on both. Run it at two commits for a before and after.
 */
import { toWireEmail } from '../src/channels/email-http/adapter.js';
import type { EmailContent } from '../src/engine/render.js';
import { baselineContent, heraldHttpShape, renderRecipient, untrackedContent } from './dispatch-http.js';

const messages = Number(process.argv[2] ?? 20_000);
const rounds = 9;
const stream = heraldHttpShape().messageStream;

/** CPU µs a message to render `messages` recipients (different ones each round, as a send would). */
function round(content: EmailContent, first: number): number {
  const t0 = process.cpuUsage();
  for (let i = first; i < first + messages; i++) renderRecipient(i, content);
  const spent = process.cpuUsage(t0);
  return (spent.user + spent.system) / messages;
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!;

// Warm up the JIT and Liquid's parse cache on both before timing.
round(untrackedContent, 1);
round(baselineContent, 1);
const plain: number[] = [];
const tracked: number[] = [];
for (let r = 0; r < rounds; r++) {
  plain.push(round(untrackedContent, 1 + r * messages));
  tracked.push(round(baselineContent, 1 + r * messages));
}
const size = (content: EmailContent) => {
  const m = renderRecipient(123_456, content);
  return { html: m.html?.length ?? 0, text: m.text.length, json: JSON.stringify(toWireEmail(m, stream)).length };
};
const p = median(plain);
const t = median(tracked);
const out = (label: string, us: number, s: ReturnType<typeof size>) =>
  `${label.padEnd(8)} ${us.toFixed(1).padStart(6)} µs CPU a message   html ${s.html} B, text ${s.text} B, wire JSON ${s.json} B`;
process.stdout.write(
  `renderEmail, bench template, ${messages.toLocaleString('en-US')} recipients a round, median of ${rounds} rounds (${process.version})\n` +
    `${out('plain', p, size(untrackedContent))}\n` +
    `${out('tracked', t, size(baselineContent))}\n` +
    `tracking adds ${(t - p).toFixed(1)} µs a message (${(t / p).toFixed(2)}× plain)\n`,
);
