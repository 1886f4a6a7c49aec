import { type IncomingMessage, type RequestListener, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A sandbox's HTTP server, listening. */
export interface LoopbackServer {
  readonly server: Server;
  /** Base URL, e.g. http://127.0.0.1:41234 (an IPv6 host in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Stops listening; idle keep-alive connections are closed so a sender's pool cannot hold it open. */
  close(): Promise<void>;
}

/**
 * Starts a plain node:http server for a sandbox on `host` (default 127.0.0.1) and `port`
 * (default 0: a free one). Plain node:http, not Fastify: a benchmark pushes a million
 * messages through a sandbox, and its cost must stay small beside the sender's.
 *
 * @example
 * const listening = await listenOnLoopback(handle, { host: options.host, port: options.port });
 * return { url: listening.url, close: () => listening.close(), … };
 */
export async function listenOnLoopback(
  handle: RequestListener,
  options: { readonly host?: string | undefined; readonly port?: number | undefined } = {},
): Promise<LoopbackServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer({ keepAliveTimeout: 30_000 }, handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    server,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle keep-alive connections of the sender's pool would otherwise hold close() open.
        server.closeIdleConnections();
      }),
  };
}

/**
 * Reads a request's body, keeping at most `maxBytes` of it (a bigger one is not held in
 * memory); `done` gets what was kept and how many bytes came: more than `maxBytes` means too
 * large, which the sandbox answers as its provider does.
 */
export function collectBody(req: IncomingMessage, maxBytes: number, done: (body: Buffer, bytes: number) => void): void {
  const chunks: Buffer[] = [];
  let bytes = 0;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes <= maxBytes) chunks.push(chunk);
  });
  req.on('end', () => done(Buffer.concat(chunks), bytes));
}
