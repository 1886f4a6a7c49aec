import type { Dispatcher } from 'undici';

/** A provider's answer: its status, its body as text and a header reader (lower-case names). */
export interface HttpAnswer {
  readonly ok: true;
  readonly status: number;
  readonly text: string;
  /** The header's first value, or null. */
  header(name: string): string | null;
}

/** No answer: the request or its answer did not get through. */
export interface HttpNoAnswer {
  readonly ok: false;
  /** No headers or no whole body within the timeout (undici's UND_ERR_HEADERS_TIMEOUT / UND_ERR_BODY_TIMEOUT). */
  readonly timedOut: boolean;
  /** What undici threw; `code` names it (ECONNREFUSED, UND_ERR_SOCKET, …), and its message may quote the URL. */
  readonly error: Error & { readonly code?: string };
}

export interface HttpPost {
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Buffer;
  /** For the headers and again for the body. */
  readonly timeoutMs: number;
  /** Read at most this much of the answer's body (the rest is dropped with its connection); default all of it. */
  readonly maxAnswerBytes?: number;
}

/**
 * One POST through an adapter's undici Pool, the answer read whole (or up to maxAnswerBytes).
 * Failing to get an answer is a value, not a throw (STYLE habit 5): each adapter maps it to
 * its own transient codes.
 *
 * @example
 * const answer = await postForAnswer(pool, { path: '/v1/send', headers, body, timeoutMs: 15_000 });
 * if (!answer.ok) return failed('transient', answer.timedOut ? 'X_TIMEOUT' : 'X_NETWORK', …);
 */
export async function postForAnswer(pool: Dispatcher, post: HttpPost): Promise<HttpAnswer | HttpNoAnswer> {
  try {
    const response = await pool.request({
      method: 'POST',
      path: post.path,
      headers: post.headers,
      body: post.body,
      headersTimeout: post.timeoutMs,
      bodyTimeout: post.timeoutMs,
    });
    const text = post.maxAnswerBytes === undefined ? await response.body.text() : await startOf(response.body, post.maxAnswerBytes);
    return {
      ok: true,
      status: response.statusCode,
      text,
      header: (name) => {
        const value = response.headers[name];
        return (Array.isArray(value) ? value[0] : value) ?? null;
      },
    };
  } catch (err) {
    const error = err as Error & { code?: string };
    return { ok: false, timedOut: error.code === 'UND_ERR_HEADERS_TIMEOUT' || error.code === 'UND_ERR_BODY_TIMEOUT', error };
  }
}

/** The first `maxBytes` of a body as UTF-8. */
async function startOf(body: AsyncIterable<Buffer>, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    // Leaving the loop destroys the stream: an endless answer costs us its connection, not our memory.
    if (size >= maxBytes) break;
  }
  return Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8');
}
