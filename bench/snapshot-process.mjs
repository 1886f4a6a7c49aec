/* global process, console, performance */
/**
 * The engine's snapshot step over a whole run, chunk by chunk, in a process of its own, on
 * the compiled code (`npm run bench` builds dist/ first), so that its peak RSS is the
 * snapshot's and not the bench process's (which holds the API, the seed and tsx: 180-220
 * MB before the first chunk). Started by snapshotAll (materialise.ts):
 *
 *   node bench/snapshot-process.mjs LOCATION_JSON RUN_ID CHUNK PARALLEL
 *
 * Prints one line of JSON: the seconds, the steps and the longest step in ms.
 */
import { openDatabase } from '../dist/store/database.js';
import { snapshotChunk } from '../dist/store/ledger/snapshot-audience.js';

const [location, runId, chunk, parallel] = process.argv.slice(2);
const db = openDatabase(JSON.parse(location));
try {
  const t = performance.now();
  let chunks = 0;
  let longest = 0;
  for (let done = false; !done; chunks++) {
    const c0 = performance.now();
    done = (await snapshotChunk(db, Number(runId), Number(chunk), new Date(), { parallel: Number(parallel) })).done;
    longest = Math.max(longest, performance.now() - c0);
  }
  console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, chunks, longest }));
} finally {
  await db.destroy();
}
