import Fastify from 'fastify';
import { startSandboxSmtp } from '../channels/email-smtp/sandbox.js';

/**
 * `herald sandbox`: the sandbox SMTP server as its own process, with a small HTTP API on
 * its mailbox. Point a Herald at it with HERALD_SANDBOX_SMTP=smtp://127.0.0.1:2525; what
 * it received survives that Herald's crashes, which is how the crash test counts.
 */
export async function runSandbox(opts: { smtpPort: number; httpPort: number; host: string }): Promise<void> {
  if (!['127.0.0.1', 'localhost', '::1'].includes(opts.host)) throw new Error('the sandbox binds to loopback only');
  const smtp = await startSandboxSmtp({ host: opts.host, port: opts.smtpPort });
  const http = Fastify({ logger: false });
  http.get('/v1/sandbox/messages', async (request) => {
    const q = request.query as { limit?: string; campaignId?: string; workspaceId?: string; to?: string };
    const filter = { campaignId: q.campaignId, workspaceId: q.workspaceId, to: q.to };
    const limit = Math.min(Math.max(Number(q.limit ?? 50) || 50, 1), 10_000);
    return { ...smtp.mailbox.summary(filter), data: smtp.mailbox.latest({ ...filter, limit }) };
  });
  http.get('/v1/sandbox/summary', async (request) => {
    const q = request.query as { campaignId?: string; workspaceId?: string };
    return smtp.mailbox.summary({ campaignId: q.campaignId, workspaceId: q.workspaceId });
  });
  http.delete('/v1/sandbox/messages', async () => {
    smtp.mailbox.clear();
    return { cleared: true };
  });
  const address = await http.listen({ port: opts.httpPort, host: opts.host });
  console.log(`Herald sandbox: SMTP on ${smtp.host}:${smtp.port}, mailbox API on ${address}/v1/sandbox/messages`);
  console.log('Messages sent here are kept in memory and reach no real person.');
  const shutdown = async () => {
    await http.close();
    await smtp.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown());
  process.on('SIGTERM', () => void shutdown());
}
