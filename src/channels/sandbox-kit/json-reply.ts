import type { ServerResponse } from 'node:http';

/** Answers `body` as JSON with its length; `headers` add to (or override) Content-Type and Content-Length. */
export function replyJson(res: ServerResponse, status: number, body: unknown, headers: Readonly<Record<string, string>> = {}): void {
  replyJsonText(res, status, JSON.stringify(body), headers);
}

/** Answers JSON already written as text (a sandbox that writes some values by hand, as Viber's 64-bit tokens). */
export function replyJsonText(res: ServerResponse, status: number, json: string, headers: Readonly<Record<string, string>> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json), ...headers });
  res.end(json);
}
