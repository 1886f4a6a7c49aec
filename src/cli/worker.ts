import { loadConfig } from '../config.js';
import { sandboxWarning, startWorker } from '../runtime.js';
import { describeLocation } from '../store/database.js';

/**
 * `herald worker`: the engine alone, to scale out sending. Any number of workers share one
 * PostgreSQL database with `herald serve`; they claim batches with SKIP LOCKED, and one at
 * a time fires schedules. In sandbox mode point them all at one `herald sandbox`
 * (HERALD_SANDBOX_SMTP), or each starts a sandbox of its own.
 */
export async function runWorker(): Promise<void> {
  const config = loadConfig();
  if (config.database.dialect === 'sqlite') {
    console.warn('herald worker on SQLite: fine on one machine, but more than one worker only pays off on PostgreSQL.');
  }
  const herald = await startWorker(config);
  const lines = [`Herald worker ${herald.engine.owner} is sending from ${describeLocation(config.database)}.`];
  if (config.sandbox) lines.push(`*** ${sandboxWarning} ***`);
  console.log(lines.join('\n'));
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    herald.log.info({ signal }, 'worker shutting down: finishing in-flight batches');
    await herald.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
