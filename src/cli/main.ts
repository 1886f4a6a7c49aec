import { Command, InvalidArgumentError, Option } from 'commander';
import { type Channel, channels } from '../domain/lifecycle.js';

// Each command's module is loaded by its action, not here: loading them all (Fastify, Liquid,
// TypeBox, Kysely, the channels) took `herald --help` from 40 to 115 MB of RSS, and every
// command paid it, `herald import` included.

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
  .action(async () => (await import('./serve.js')).runServe());

program
  .command('worker')
  .description('Run the engine alone, to scale out sending: many workers share one PostgreSQL (DATABASE_URL)')
  .action(async () => (await import('./worker.js')).runWorker());

program
  .command('migrate')
  .description('Apply pending database migrations (DATABASE_URL, default ./data/herald.db)')
  .action(async () => (await import('./migrate.js')).runMigrate());

program
  .command('sandbox')
  .description('Run the sandbox providers alone: an SMTP server that keeps what it receives, and an HTTP API to read it')
  .option('--smtp-port <port>', 'SMTP port', port, 2525)
  .option('--http-port <port>', 'HTTP port of the mailbox API', port, 8025)
  .option('--host <host>', 'loopback address to bind', '127.0.0.1')
  .action(async (opts: { smtpPort: number; httpPort: number; host: string }) => (await import('./sandbox.js')).runSandbox(opts));

program
  .command('demo')
  .description('Create contacts, a list, a template and a campaign, send it through the sandbox with a pause and a resume, and report')
  .option('--contacts <n>', 'how many contacts', positiveInt, 1000)
  .option('--json', 'print one JSON object (the report) on the last line')
  .option('--database <path>', 'database file for the demo (default: DATABASE_URL, else ./data/demo.db)')
  .addOption(
    new Option('--channel <channel>', 'the channel to send on, through its sandbox provider').choices([...channels]).default('email'),
  )
  .action(async (opts: { contacts: number; json?: boolean; database?: string; channel: Channel }) => {
    const { runDemo } = await import('./demo.js');
    process.exitCode = await runDemo({ contacts: opts.contacts, json: opts.json === true, database: opts.database, channel: opts.channel });
  });

const collect = (value: string, previous: string[]) => [...previous, value];

program
  .command('import')
  .description('Import contacts from a CSV file (streamed, in batches): bad lines are skipped and listed; re-running changes nothing')
  .argument('<file>', 'the CSV file; its first line names the columns')
  .option('--list <name>', 'add every imported contact to this list (created when missing)')
  .option(
    '--map <header=field>',
    'map a column: email, phone, firstName, lastName, timeZone, externalId, tags, attributes.<name>, ignore (repeatable)',
    collect,
    [],
  )
  .option('--workspace <id>', 'workspace to import into (default: the first one)')
  .option('--show-errors <n>', 'how many bad lines to print', positiveInt, 100)
  .action(async (file: string, opts: { list?: string; map: string[]; workspace?: string; showErrors: number }) => {
    const { runImportCommand } = await import('./import.js');
    process.exitCode = await runImportCommand(file, opts);
  });

program
  .command('export')
  .description("Export contacts, or a campaign's recipients (its ledger), as CSV to stdout or --out")
  .argument('<what>', 'contacts | recipients')
  .argument('[campaign]', 'recipients: the campaign id')
  .option('--list <name-or-id>', "contacts: only this list's members")
  .option('--segment <id>', 'contacts: only those this segment selects')
  .option('--out <file>', 'write to this file instead of stdout')
  .option('--workspace <id>', 'workspace to export from (default: the first one)')
  .action(
    async (what: string, campaign: string | undefined, opts: { list?: string; segment?: string; out?: string; workspace?: string }) => {
      if (what !== 'contacts' && what !== 'recipients') throw new InvalidArgumentError('what must be contacts or recipients');
      const { runExportCommand } = await import('./export.js');
      process.exitCode = await runExportCommand({ what, campaign, ...opts });
    },
  );

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`herald: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
