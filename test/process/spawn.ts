import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/**
 * Runs the Herald CLI as real child processes for the process tests: `node --import tsx
 * src/cli/main.ts …` from the repository root, so no build is needed. Every child is
 * tracked so `killAll()` (in afterAll) and the exit hook below leave nothing behind.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const live = new Set<ChildProcess>();

// If the test worker itself goes away, take the children with it (SIGKILL is synchronous to send).
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

export interface CliExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface CliProcess {
  readonly pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** The exit, once it happens (null while the process runs). */
  exit(): CliExit | null;
  readonly exited: Promise<CliExit>;
  /** Resolves with the exit; rejects (with the stderr tail) if it takes longer than timeoutMs. */
  exitWithin(timeoutMs: number): Promise<CliExit>;
  /** Resolves with the first stdout line matching `pattern`; rejects on timeout or exit first. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string>;
  /** Sends a signal and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<CliExit>;
  /** A short description with the stderr tail, for assertion messages. */
  describe(): string;
}

const tail = (text: string, chars = 2000) => (text.length > chars ? `…${text.slice(-chars)}` : text);

/**
 * Starts `herald <args>` with the given environment added to this process's: from the
 * sources through tsx, or with `built`, as `node bin/herald.js` runs the compiled CLI
 * (dist/, as deployed: no loader thread or transpiled sources in its memory).
 */
export function startCli(args: readonly string[], env: Record<string, string> = {}, opts: { built?: boolean } = {}): CliProcess {
  const entry = opts.built ? ['bin/herald.js'] : ['--import', 'tsx', 'src/cli/main.ts'];
  const child = spawn(process.execPath, [...entry, ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`could not start herald ${args.join(' ')}`);
  live.add(child);

  let out = '';
  let err = '';
  let exit: CliExit | null = null;
  const lineWaiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    for (const check of [...lineWaiters]) check();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<CliExit>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      live.delete(child);
      for (const check of [...lineWaiters]) check();
      resolve(exit);
    });
  });

  const name = `herald ${args.join(' ')} (pid ${child.pid})`;
  const describe = () => {
    const state = exit ? `exited with code ${exit.code} signal ${exit.signal}` : 'running';
    return `${name} ${state}\n--- stderr ---\n${tail(err)}\n--- stdout ---\n${tail(out)}`;
  };

  return {
    pid: child.pid,
    stdout: () => out,
    stderr: () => err,
    exit: () => exit,
    exited,
    describe,
    exitWithin(timeoutMs) {
      return new Promise<CliExit>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms: ${describe()}`)), timeoutMs);
        void exited.then((e) => {
          clearTimeout(timer);
          resolve(e);
        });
      });
    },
    waitForLine(pattern, timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const check = () => {
          const line = out.split('\n').find((l) => pattern.test(l));
          if (line !== undefined) return finish(() => resolve(line));
          if (exit) finish(() => reject(new Error(`waiting for ${pattern}: ${describe()}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`no line matching ${pattern} within ${timeoutMs} ms: ${describe()}`))),
          timeoutMs,
        );
        const finish = (settle: () => void) => {
          clearTimeout(timer);
          lineWaiters.delete(check);
          settle();
        };
        lineWaiters.add(check);
        check();
      });
    },
    async kill(signal = 'SIGKILL') {
      if (!exit) child.kill(signal);
      return exited;
    },
  };
}

/** A port that was free a moment ago: listen on 0, read it, close. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      if (address === null || typeof address === 'string') return reject(new Error('no port'));
      server.close(() => resolve(address.port));
    });
  });
}

/** SIGKILLs every child still running and waits for them to be gone. */
export async function killAll(): Promise<void> {
  const children = [...live];
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}
