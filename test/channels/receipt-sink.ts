import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ReceiptRequest } from '../../src/channels/provider.js';

/** A loopback server standing in for Herald's receipt route: it keeps every request whole, as the route hands it to a provider module. */
export interface ReceiptSink {
  /** The base URL and `path`, e.g. http://127.0.0.1:41234/v1/receipts/twilio-sms/snd_1. */
  readonly url: string;
  readonly server: Server;
  /** Each request with its full URL (Twilio signs it), header names in lower case and one value each. */
  readonly received: ReceiptRequest[];
  /** Resolves with the nth request (1-based) once it has arrived. */
  nth(n: number): Promise<ReceiptRequest>;
}

const noContent = (_n: number, _req: IncomingMessage, res: ServerResponse) => void res.writeHead(204).end();

/** Starts a receipt sink on 127.0.0.1; `answer` replies to the nth request (default 204). The caller closes `server`. */
export async function startReceiptSink(
  path = '',
  answer: (n: number, req: IncomingMessage, res: ServerResponse) => void = noContent,
): Promise<ReceiptSink> {
  const received: ReceiptRequest[] = [];
  const waiting: { n: number; resolve: (r: ReceiptRequest) => void }[] = [];
  let base = '';
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: Record<string, string | undefined> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = Array.isArray(value) ? value[0] : value;
      received.push({ url: `${base}${req.url ?? ''}`, method: req.method ?? '', headers, rawBody: Buffer.concat(chunks) });
      for (const w of waiting.filter((w) => w.n <= received.length)) w.resolve(received[w.n - 1]!);
      answer(received.length, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${base}${path}`,
    server,
    received,
    nth: (n) => (received.length >= n ? Promise.resolve(received[n - 1]!) : new Promise((resolve) => waiting.push({ n, resolve }))),
  };
}
