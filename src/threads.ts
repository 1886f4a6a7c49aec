import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on the module `name` (without extension) next to `from` (the
 * caller's import.meta.url): `name.js` once compiled; under tsx or Vitest, where the caller
 * is TypeScript, `name.ts` through tsx's loader registered inside the worker — on Node 20
 * `execArgv: ['--import', 'tsx']` does not reach a worker's entry module. tsx is a
 * devDependency; the compiled program never loads it.
 */
export function startWorker(
  from: string,
  name: string,
  workerData: unknown,
  options: Omit<WorkerOptions, 'workerData' | 'eval'> = {},
): Worker {
  if (!from.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, from), { ...options, workerData });
  const entry = JSON.stringify(new URL(`./${name}.ts`, from).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); });`, {
    ...options,
    eval: true,
    workerData,
  });
}
