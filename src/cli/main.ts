import { Command, InvalidArgumentError } from 'commander';
import { runDemo } from './demo.js';
import { runMigrate } from './migrate.js';
import { runSandbox } from './sandbox.js';
import { runServe } from './serve.js';
import { runWorker } from './worker.js';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};
const port = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('must be a port number');
  return n;
};

const program = new Command()
  .name('herald')
  .description('Herald: a multi-channel campaign engine. Configuration comes from the environment (see README).')
  .showHelpAfterError();

program
  .command('serve')
  .description('Run the API, the engine and (in sandbox mode) the sandbox SMTP server; PORT sets the port (default 8080)')
  .action(async () => runServe());

program
  .command('worker')
  .description('Run the engine alone, to scale out sending: many workers share one PostgreSQL (DATABASE_URL)')
  .action(async () => runWorker());

program
  .command('migrate')
  .description('Apply pending database migrations (DATABASE_URL, default ./data/herald.db)')
  .action(async () => runMigrate());

program
  .command('sandbox')
  .description('Run the sandbox providers alone: an SMTP server that keeps what it receives, and an HTTP API to read it')
  .option('--smtp-port <port>', 'SMTP port', port, 2525)
  .option('--http-port <port>', 'HTTP port of the mailbox API', port, 8025)
  .option('--host <host>', 'loopback address to bind', '127.0.0.1')
  .action(async (opts: { smtpPort: number; httpPort: number; host: string }) => runSandbox(opts));

program
  .command('demo')
  .description('Create contacts, a list, a template and a campaign, send it through the sandbox with a pause and a resume, and report')
  .option('--contacts <n>', 'how many contacts', positiveInt, 1000)
  .option('--json', 'print one JSON object (the report) on the last line')
  .option('--database <path>', 'database file for the demo (default: DATABASE_URL, else ./data/demo.db)')
  .action(async (opts: { contacts: number; json?: boolean; database?: string }) => {
    process.exitCode = await runDemo({ contacts: opts.contacts, json: opts.json === true, database: opts.database });
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`herald: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
