import { loadConfig } from '../config.js';
import { sandboxWarning, startHerald } from '../runtime.js';
import { describeLocation } from '../store/database.js';

/** `herald serve`: the API, the engine and the sandbox, until SIGINT or SIGTERM. */
export async function runServe(): Promise<void> {
  const config = loadConfig();
  const herald = await startHerald(config);
  const address = await herald.app.listen({ port: config.port, host: config.host });
  const lines = [`Herald is serving on ${address.replace('127.0.0.1', 'localhost')} (API under /v1, OpenAPI at /docs).`];
  lines.push(`Database: ${describeLocation(config.database)}`);
  if (config.sandbox) lines.push(`*** ${sandboxWarning} ***`);
  if (herald.workspace.newKey) {
    lines.push(`Created the first workspace ${herald.workspace.id}. Its API key (shown only this once):`);
    lines.push(`  ${herald.workspace.newKey}`);
    lines.push(`Try: curl -H "Authorization: Bearer ${herald.workspace.newKey}" ${address}/v1/campaigns`);
  }
  console.log(lines.join('\n'));

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    herald.log.info({ signal }, 'shutting down: finishing in-flight batches');
    await herald.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
}
