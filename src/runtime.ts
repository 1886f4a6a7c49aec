import { pino, type Logger } from 'pino';
import type { buildApp } from './api/app.js';
import type { ChannelAdapter, OutgoingEmail } from './channels/channel.js';
import { channelProviders } from './channels/catalogue.js';
import type { ProcessReceipts, SandboxFaults } from './channels/provider.js';
import { Providers, receiptPath } from './engine/providers.js';
import { SecretBox } from './store/secrets.js';
import { trackingKey } from './domain/tracking.js';
import { type AdapterSpec, SendThreads, adapterFromSpec } from './engine/send-threads.js';
import { sandboxHttpEmailConfig, sandboxHttpEmailWebhookAuth } from './channels/email-http/config.js';
import { httpEmailReceiptProvider, httpEmailReceipts } from './channels/email-http/receipts.js';
import { type SandboxHttpEmailServer, startSandboxHttpEmail } from './channels/email-http/sandbox.js';
import { sandboxSmtpConfig } from './channels/email-smtp/config.js';
import { type SandboxMailbox, type SandboxSmtpServer, startSandboxSmtp } from './channels/email-smtp/sandbox.js';
import type { Config } from './config.js';
import type { Channel } from './domain/lifecycle.js';
import { CampaignService } from './engine/campaign-service.js';
import { type Clock, systemClock } from './engine/clock.js';
import { Engine } from './engine/dispatcher.js';
import { Automations } from './engine/automations.js';
import { RateLimiter } from './engine/rate-limiter.js';
import { abandonedAfterMs, failAbandonedImports } from './import/imports-store.js';
import { retryEarlyReceipts } from './store/ledger/early-receipts.js';
import { type Db, migrate, openDatabase } from './store/database.js';
import { createApiKey, createWorkspace, firstWorkspace } from './store/workspaces.js';
import type { SenderRow } from './store/schema.js';

/** What sends: the engine and all it needs, without the HTTP app (what `herald worker` runs). */
export interface HeraldSender {
  readonly config: Config;
  readonly db: Db;
  readonly log: Logger;
  readonly service: CampaignService;
  readonly engine: Engine;
  readonly automations: Automations;
  /** The in-process sandbox SMTP server, when Herald started one. */
  readonly sandboxSmtp: SandboxSmtpServer | null;
  /** The in-process sandbox HTTP email API (sandbox mode with HERALD_EMAIL_TRANSPORT=http). */
  readonly sandboxHttpEmail: SandboxHttpEmailServer | null;
  readonly mailbox: SandboxMailbox | null;
  /** The providers of the channels other than email, and their sandboxes in sandbox mode. */
  readonly providers: Providers;
  close(): Promise<void>;
}

/** The whole of Herald: the sender and its HTTP app (`herald serve`, the demo, the tests). */
export interface Herald extends HeraldSender {
  readonly app: Awaited<ReturnType<typeof buildApp>>;
  /** The first workspace, and its API key when it was created by this start. */
  readonly workspace: { id: string | null; newKey: string | null };
}

export interface StartOptions {
  clock?: Clock;
  log?: Logger;
  startEngine?: boolean;
  onQuery?: (sql: string) => void;
  /** Faults the channel sandboxes inject (the demo and the tests). */
  sandboxFaults?: SandboxFaults;
}

/** Where the links in emails lead: HERALD_PUBLIC_URL, else where Herald listens, else where it is configured to listen. */
export function emailLinkBaseUrl(config: Pick<Config, 'publicUrl' | 'host' | 'port'>, listeningUrl: string | null): string {
  return config.publicUrl ?? listeningUrl ?? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

export const sandboxWarning =
  'SANDBOX MODE: messages go to the built-in sandbox provider and reach no real person. Set HERALD_SANDBOX=off and SMTP_HOST (or EMAIL_HTTP_URL) to send for real.';

/**
 * Wires the sender together from its configuration: database and migrations, the sandbox
 * servers (in sandbox mode), the channel adapters, the campaign service and the engine (not
 * yet started). `forApp` is what the HTTP app needs of it, and `listening` where the app
 * listens once it does (for receipt callbacks and email links).
 */
async function startSender(config: Config, opts: StartOptions) {
  const log =
    opts.log ?? pino({ level: config.logLevel, redact: ['req.headers.authorization', 'req.headers["x-api-key"]', '*.pass', '*.password'] });
  const clock = opts.clock ?? systemClock;
  const db = openDatabase(config.database, opts.onQuery ? { onQuery: opts.onQuery } : {});
  await migrate(db);
  // Imports a killed process left `running`: now, and once more when one cut short just before this start has gone quiet too.
  const sweepImports = async () => {
    const ids = await failAbandonedImports(db, clock.now());
    if (ids.length > 0) log.warn({ imports: ids }, 'imports left running by a stopped process marked failed');
  };
  await sweepImports();
  const sweepAgain = setTimeout(
    () => void sweepImports().catch((err: unknown) => log.error({ err }, 'import sweep failed')),
    abandonedAfterMs,
  );
  sweepAgain.unref();
  // Receipts that arrived before the record of their send are tried again every few seconds.
  const earlyReceipts = setInterval(() => {
    retryEarlyReceipts(db, clock.now()).catch((err: unknown) => log.error({ err }, 'retrying early receipts failed'));
  }, 2_000);
  earlyReceipts.unref();

  // Herald's own address once the app listens, for receipt callbacks and email links.
  const listening: { url: string | null } = { url: null };
  let sandboxSmtp: SandboxSmtpServer | null = null;
  let sandboxHttp: SandboxHttpEmailServer | null = null;
  let emailSpec: AdapterSpec | null = null;
  // Webhooks of the HTTP email provider (POST /v1/receipts/postmark/default): the sandbox's,
  // or the provider's when EMAIL_HTTP_WEBHOOK_USER/_PASSWORD are set; otherwise none (404).
  let emailReceipts: ProcessReceipts | null = null;
  if (config.sandbox) {
    log.warn(sandboxWarning);
    if (config.emailTransport === 'http') {
      sandboxHttp = await startSandboxHttpEmail({
        receiptUrl: () => {
          const base = config.publicUrl ?? listening.url;
          return base ? `${base}${receiptPath(httpEmailReceiptProvider, null)}` : null;
        },
        webhookAuth: sandboxHttpEmailWebhookAuth,
        ...(opts.sandboxFaults?.readRate !== undefined ? { readRate: opts.sandboxFaults.readRate } : {}),
      });
      emailReceipts = httpEmailReceipts(sandboxHttpEmailWebhookAuth);
      emailSpec = { kind: 'email-http', config: sandboxHttpEmailConfig(sandboxHttp.url) };
      log.info({ url: sandboxHttp.url }, 'sandbox HTTP email API');
    } else {
      const target = config.sandboxSmtp ?? (sandboxSmtp = await startSandboxSmtp({ port: config.sandboxSmtpPort }));
      emailSpec = { kind: 'email-smtp', config: sandboxSmtpConfig(target.host, target.port) };
      log.info({ host: target.host, port: target.port, external: config.sandboxSmtp !== null }, 'sandbox SMTP server');
    }
  } else if (config.emailTransport === 'http') {
    if (config.emailHttp) emailSpec = { kind: 'email-http', config: config.emailHttp };
    if (config.emailHttp && config.emailHttpWebhook) emailReceipts = httpEmailReceipts(config.emailHttpWebhook);
  } else if (config.smtp) {
    emailSpec = { kind: 'email-smtp', config: config.smtp };
  }
  const email: ChannelAdapter<OutgoingEmail> | null = emailSpec && adapterFromSpec(emailSpec);
  // Rendering and provider calls in threads of their own, each with its own adapter from the same spec.
  const emailThreads = emailSpec && config.engine.sendThreads > 0 ? new SendThreads(emailSpec, config.engine.sendThreads) : null;
  // Without HERALD_SECRET_KEY, sandbox mode seals credentials under a key of this start only:
  // the sandbox never uses a sender's own credentials, and real sending requires the key.
  const secrets = config.secrets ?? (config.sandbox ? SecretBox.random() : null);
  // Email links (unsubscribe, open pixel, click redirect) are signed under a key derived from
  // HERALD_SECRET_KEY; without it, one of this start only, so links from before a restart
  // (or from a `herald worker` with another key) stop working.
  const tracking = {
    key: trackingKey(config.secrets ? config.env.HERALD_SECRET_KEY : null),
    // Where people's mail clients reach Herald: as for receipts, and before it listens the
    // address it is configured to listen on.
    baseUrl: () => emailLinkBaseUrl(config, listening.url),
  };
  if (!config.secrets && !config.sandbox)
    log.warn('HERALD_SECRET_KEY is not set: unsubscribe and tracking links in emails stop working when Herald restarts');
  const providers = await Providers.start({
    modules: channelProviders,
    env: config.env,
    sandbox: config.sandbox,
    ...(opts.sandboxFaults ? { sandboxFaults: opts.sandboxFaults } : {}),
    sandboxFailover: config.sandboxFailover,
    breaker: config.failover,
    secrets,
    publicUrl: () => config.publicUrl ?? listening.url,
    log,
  });
  const adapterFor = (channel: Channel, sender: SenderRow | null) => (channel === 'email' ? email : providers.adapterFor(channel, sender));

  const engineRef: { current?: Engine } = {};
  const service = new CampaignService({
    db,
    clock,
    providerConfigured: (channel, sender) => (channel === 'email' ? email !== null : providers.configured(channel, sender)),
    notify: () => engineRef.current?.notify(),
  });
  const limiter = new RateLimiter({ db, clock });
  const automations = new Automations({ db, clock, log });
  const engine = (engineRef.current = new Engine({
    db,
    clock,
    service,
    adapterFor,
    log,
    options: config.engine,
    limiter,
    providerRule: (channel) => (channel === 'email' ? config.emailRateLimit : null),
    renderSendFor: (adapter) => (adapter === email ? emailThreads : null),
    emailLinks: () => ({ baseUrl: tracking.baseUrl(), key: tracking.key }),
    automations,
  }));

  const mailbox = sandboxSmtp?.mailbox ?? sandboxHttp?.mailbox ?? null;
  const sender: HeraldSender = {
    config,
    db,
    log,
    service,
    engine,
    automations,
    sandboxSmtp,
    sandboxHttpEmail: sandboxHttp,
    mailbox,
    providers,
    async close() {
      // The engine first: its in-flight batches finish and are recorded before anything closes.
      clearTimeout(sweepAgain);
      clearInterval(earlyReceipts);
      await engine.stop();
      await email?.close();
      await emailThreads?.close();
      await sandboxSmtp?.close();
      await sandboxHttp?.close();
      await providers.close();
      await db.destroy();
    },
  };
  return { sender, forApp: { secrets, emailReceipts, email, tracking }, listening };
}

/**
 * The sender alone, for `herald worker`: no HTTP app is built, so none of its routes,
 * schemas or serializers load, and it creates no workspace (the first `herald serve` does).
 */
export async function startWorker(config: Config, opts: StartOptions = {}): Promise<HeraldSender> {
  const { sender } = await startSender(config, opts);
  if (opts.startEngine !== false) sender.engine.start();
  return sender;
}

/**
 * Wires Herald together from its configuration: the sender (startSender) and the HTTP app
 * (not yet listening), and the first workspace with its API key on a new database.
 * `herald serve` and `herald demo` both start here.
 */
export async function startHerald(config: Config, opts: StartOptions = {}): Promise<Herald> {
  const { sender, forApp, listening } = await startSender(config, opts);
  // Loaded here, not at the top: a worker never builds the app, and its routes' schemas,
  // validators and serializers cost a process some 20 MB.
  const { buildApp } = await import('./api/app.js');
  const { db, log } = sender;
  const clock = opts.clock ?? systemClock;
  const app = await buildApp({
    db,
    clock,
    campaigns: sender.service,
    automations: sender.automations,
    sandbox: config.sandbox ? { mailbox: sender.mailbox, external: config.sandboxSmtp } : null,
    secrets: forApp.secrets,
    providers: sender.providers,
    emailReceipts: forApp.emailReceipts,
    email: forApp.email,
    tracking: forApp.tracking,
    log,
  });
  // Receipt callbacks need Herald's own address: known once the app listens (herald serve, the demo).
  app.server.on('listening', () => {
    const address = app.server.address();
    if (address && typeof address === 'object') {
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      listening.url = `http://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${address.port}`;
    }
  });

  let workspace = await firstWorkspace(db);
  let newKey: string | null = null;
  if (!workspace) {
    workspace = await createWorkspace(db, { name: 'Default workspace', now: clock.now() });
    newKey = await createApiKey(db, {
      workspaceId: workspace.id,
      name: 'first key',
      now: clock.now(),
      ...(config.apiKey ? { key: config.apiKey } : {}),
    });
  } else if (config.apiKey) {
    await createApiKey(db, { workspaceId: workspace.id, name: 'HERALD_API_KEY', key: config.apiKey, now: clock.now() });
  }

  if (opts.startEngine !== false) sender.engine.start();
  return {
    ...sender,
    app,
    workspace: { id: workspace.id, newKey },
    async close() {
      // The engine first, then the app (its requests may still read), then the rest.
      await sender.engine.stop();
      await app.close();
      await sender.close();
    },
  };
}
