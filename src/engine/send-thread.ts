/**
 * The entry of one send thread (see send-threads.ts): builds its adapter from the startup
 * data, then renders and sends each batch it is given and answers with what happened.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { renderAndSend } from './render-send.js';
import { type AdapterSpec, type ThreadReply, type ThreadRequest, adapterFromSpec } from './send-threads.js';

const port = parentPort!;
const adapter = adapterFromSpec((workerData as { spec: AdapterSpec }).spec);

port.on('message', (request: ThreadRequest) => {
  if ('close' in request) {
    void adapter.close().finally(() => port.postMessage({ closed: true } satisfies ThreadReply));
    return;
  }
  renderAndSend(adapter, request.content, request.messages).then(
    (result) => port.postMessage({ id: request.id, result } satisfies ThreadReply),
    (err: unknown) =>
      port.postMessage({ id: request.id, error: err instanceof Error ? (err.stack ?? err.message) : String(err) } satisfies ThreadReply),
  );
});
