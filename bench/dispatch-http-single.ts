/**
 * dispatch-http-single: N emails (default 100,000) end to end through Herald to a provider
 * that takes one message a request (Postmark's `POST /email`; the shape of Twilio's
 * Messages API), beside the bare loop (a) doing the same, each against a fresh sink in a
 * process of its own (bench/http-sink.ts).
 *
 * Herald (a `herald worker` process, as dispatch-http runs it) is set as an operator would
 * set it for such a provider: `EMAIL_HTTP_BATCH=1` and `EMAIL_HTTP_CONCURRENCY=C` requests
 * in flight (the engine then claims C messages at a time per send slot). The bare loop keeps the same C requests in flight, each lane
 * rendering one recipient with the same `renderEmail` and posting it through an undici
 * pool, with no database.
 */
import { type WireAnswer, toWireEmail } from '../src/channels/email-http/adapter.js';
import { sandboxHttpEmailConfig } from '../src/channels/email-http/config.js';
import type { Pool } from 'undici';
import { bareLoop, renderRecipient, sendThroughWorker, sinkHeaders } from './dispatch-http.js';
import { mb, round } from './materialise.js';
import type { PhaseContext, Scenario } from './run.js';

const defaultMessages = 100_000;
/** Requests in flight, on both sides (HERALD_BENCH_SINGLE_CONCURRENCY to change it). */
const inFlight = Number(process.env.HERALD_BENCH_SINGLE_CONCURRENCY ?? 16);
const stream = sandboxHttpEmailConfig('http://127.0.0.1:1').messageStream;

/** Herald's `herald worker`, one message a request with the same requests in flight. */
async function herald(n: number, ctx: PhaseContext) {
  const run = await sendThroughWorker(n, ctx, {
    env: { EMAIL_HTTP_BATCH: '1', EMAIL_HTTP_CONCURRENCY: String(inFlight) },
    label: ', one a request,',
  });
  if (run.requests !== n) throw new Error(`Herald sent ${n} messages in ${run.requests} requests, not one a request`);
  return run;
}

/** Posts one message alone, as the adapter does with a batch size of 1, and checks the answer. */
async function postOne(pool: Pool, i: number): Promise<void> {
  const wire = toWireEmail(renderRecipient(i), stream);
  const response = await pool.request({ method: 'POST', path: '/email', headers: sinkHeaders, body: JSON.stringify(wire) });
  const answer = JSON.parse(await response.body.text()) as WireAnswer;
  if (response.statusCode !== 200 || answer.ErrorCode !== 0)
    throw new Error(`sink answered ${response.statusCode}: ${JSON.stringify(answer)}`);
}

function bare(n: number, ctx: PhaseContext) {
  return bareLoop(n, ctx, { lanes: inFlight, take: 1, label: ', one a request,', post: (pool, from) => postOne(pool, from) });
}

export const dispatchHttpSingle: Scenario = {
  name: 'dispatch-http-single',
  phases: ['herald', 'bare'],
  run(phase, ctx) {
    const n = Math.max(1000, Math.round(defaultMessages * ctx.scale));
    return phase === 'herald' ? herald(n, ctx) : bare(n, ctx);
  },
  figures(results) {
    const h = results.herald as Awaited<ReturnType<typeof herald>>;
    const a = results.bare as Awaited<ReturnType<typeof bare>>;
    const bareName = `(a) bare render+POST loop, one message a request, ${inFlight} in flight, no DB; goal ≥ 0.8×`;
    const rate = (m: { n: number; seconds: number }) => round(m.n / m.seconds, 0);
    return [
      { metric: 'throughput', value: rate(h), unit: 'msg/s', baseline: bareName, baseline_value: rate(a), better: 'higher' },
      {
        metric: 'peak_rss',
        value: mb(h.peakRss),
        unit: 'MB',
        baseline: bareName.split(';')[0]!,
        baseline_value: mb(a.peakRss),
        better: 'lower',
      },
    ];
  },
};
