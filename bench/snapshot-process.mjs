/* global process, console, performance */
/**
 * A materialise phase's timed work in a process of its own, on the compiled code (`npm run
 * bench` builds dist/ first), so that its peak RSS is its own and not the bench process's
 * (which holds the API, the seed and tsx: 180-234 MB before the first chunk), and so that
 * Herald's snapshot and the bare copy both start on a fresh connection. Started by
 * inProcessOfItsOwn (materialise.ts):
 *
 *   node bench/snapshot-process.mjs LOCATION_JSON snapshot RUN_ID CHUNK PARALLEL [WARM_UP_RUN_ID]
 *     the engine's snapshot step over a whole run, chunk by chunk; first, untimed, over a
 *     small run of the same campaign's shape, so that the code is compiled as in an engine
 *     that has been running (a cold process spent ≈ 0.5 s more CPU than the wall time on its
 *     JIT at 1,000,000 contacts)
 *   node bench/snapshot-process.mjs LOCATION_JSON statement SQL PARAMETERS_JSON
 *     one compiled statement (the bare copy)
 *
 * Prints one line of JSON: the seconds, and for a snapshot its steps and longest step in ms.
 */
import { CompiledQuery } from 'kysely';
import { openDatabase } from '../dist/store/database.js';
import { snapshotChunk } from '../dist/store/ledger/snapshot-audience.js';

const [location, what, ...args] = process.argv.slice(2);
const db = openDatabase(JSON.parse(location));
try {
  if (what === 'snapshot') {
    const [runId, chunk, parallel, warmUp] = args.map(Number);
    if (warmUp) while (!(await snapshotChunk(db, warmUp, chunk, new Date(), { parallel })).done);
    const t = performance.now();
    let chunks = 0;
    let longest = 0;
    for (let done = false; !done; chunks++) {
      const c0 = performance.now();
      done = (await snapshotChunk(db, runId, chunk, new Date(), { parallel })).done;
      longest = Math.max(longest, performance.now() - c0);
    }
    console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, chunks, longest }));
  } else {
    const t = performance.now();
    await db.executeQuery(CompiledQuery.raw(args[0], JSON.parse(args[1])));
    console.log(JSON.stringify({ seconds: (performance.now() - t) / 1000, chunks: 1, longest: performance.now() - t }));
  }
} finally {
  await db.destroy();
}
