import {
  type HttpEmailConfig,
  type HttpEmailWebhookAuth,
  httpEmailConfigFromEnv,
  httpEmailWebhookAuthFromEnv,
} from './channels/email-http/config.js';
import { type SmtpConfig, smtpConfigFromEnv } from './channels/email-smtp/config.js';
import { unwrap } from './domain/errors.js';
import { type RateRule, validateRateRule } from './domain/pacing.js';
import { type DatabaseLocation, parseDatabaseUrl } from './store/database.js';
import { SecretBox } from './store/secrets.js';

/** Everything Herald reads from its environment, validated once at start (STYLE habit 6). */
export interface Config {
  readonly port: number;
  readonly host: string;
  readonly database: DatabaseLocation;
  /** Sandbox mode: every channel without a configured provider goes to the loopback sandbox. */
  readonly sandbox: boolean;
  /** An already running `herald sandbox` to use instead of starting one in-process (host:port). */
  readonly sandboxSmtp: { host: string; port: number } | null;
  /** Port of the in-process sandbox SMTP server (0: any free port). */
  readonly sandboxSmtpPort: number;
  /** Sandbox mode: a second sandbox takes over a channel's sends when the first is down (HERALD_SANDBOX_FAILOVER, default off). */
  readonly sandboxFailover: boolean;
  /** Provider failover's breaker: transient failures in a row that switch, and the cool-down before the primary again. */
  readonly failover: { readonly transientThreshold: number; readonly coolDownMs: number };
  readonly smtp: SmtpConfig | null;
  /** How email leaves: SMTP, or a Postmark-style HTTP batch API. */
  readonly emailTransport: 'smtp' | 'http';
  readonly emailHttp: HttpEmailConfig | null;
  /** Basic auth the HTTP email provider's webhooks must carry (EMAIL_HTTP_WEBHOOK_USER/_PASSWORD); null: no receipt route for it outside sandbox mode. */
  readonly emailHttpWebhook: HttpEmailWebhookAuth | null;
  /** The email provider's own limit, shared by every workspace and worker (e.g. "100/s,5000/h"). */
  readonly emailRateLimit: RateRule | null;
  /** Seals sender credentials (HERALD_SECRET_KEY); null when unset (sandbox mode then uses a key of its own per start). */
  readonly secrets: SecretBox | null;
  /**
   * Herald's public base URL, for providers' receipt callbacks (HERALD_PUBLIC_URL, e.g.
   * https://herald.example.com); null: the address it listens on, which only loopback
   * sandboxes can reach.
   */
  readonly publicUrl: string | null;
  /** The environment, for the channel providers: each reads and checks its own variables at start (src/channels/<provider>/config.ts). */
  readonly env: NodeJS.ProcessEnv;
  /** A fixed API key for the first workspace (otherwise one is generated and printed once). */
  readonly apiKey: string | null;
  readonly logLevel: string;
  readonly engine: {
    /** Messages per batch; null: what the channel's adapter asks for (SMTP 50, HTTP 500). */
    readonly batchSize: number | null;
    readonly concurrency: number;
    readonly leaseMs: number;
    readonly maxAttempts: number;
    readonly retryBaseMs: number;
    /** PostgreSQL: audience snapshot chunks written at once, each on a connection of its own. */
    readonly snapshotParallel: number;
    /** Worker threads that render and call the provider (0: the engine's own thread). */
    readonly sendThreads: number;
  };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer ≥ ${min}, not "${raw}"`);
  return n;
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['on', 'true', '1'].includes(raw)) return true;
  if (['off', 'false', '0'].includes(raw)) return false;
  throw new Error(`${name} must be on or off, not "${env[name]}"`);
}

function loopbackHostPort(name: string, raw: string): { host: string; port: number } {
  const m = /^(?:smtp:\/\/)?([^:/]+):(\d+)\/?$/.exec(raw.trim());
  if (!m) throw new Error(`${name} must look like smtp://127.0.0.1:2525, not "${raw}"`);
  const host = m[1]!;
  // The sandbox must never be a real server: loopback only.
  if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) throw new Error(`${name} must point to loopback, not ${host}`);
  return { host, port: Number(m[2]) };
}

/** Reads a rate limit such as `100/s`, `5000/m,100000/h`; null when unset. */
export function parseRateLimit(name: string, raw: string | undefined): RateRule | null {
  if (!raw?.trim()) return null;
  const rule: Record<string, number> = {};
  const field = { s: 'perSecond', m: 'perMinute', h: 'perHour' } as const;
  for (const part of raw.split(',')) {
    const m = /^\s*(\d+)\s*\/\s*([smh])\s*$/.exec(part);
    if (!m) throw new Error(`${name} must look like 100/s,5000/m,100000/h, not "${raw}"`);
    rule[field[m[2] as 's' | 'm' | 'h']] = Number(m[1]);
  }
  const checked = validateRateRule(rule);
  if (!checked.ok) throw new Error(`${name}: ${checked.error.detail}`);
  return unwrap(checked);
}

function publicUrlOf(raw: string | undefined): string | null {
  if (!raw?.trim()) return null;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new Error(`HERALD_PUBLIC_URL must be a URL such as https://herald.example.com, not "${raw}"`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`HERALD_PUBLIC_URL must be http(s), not "${raw}"`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** Reads and checks the configuration; throws one clear message for the first bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const sandboxRaw = (env.HERALD_SANDBOX ?? 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0'].includes(sandboxRaw))
    throw new Error(`HERALD_SANDBOX must be on or off, not "${env.HERALD_SANDBOX}"`);
  const sandbox = ['on', 'true', '1'].includes(sandboxRaw);
  const transport = (env.HERALD_EMAIL_TRANSPORT ?? 'smtp').toLowerCase();
  if (transport !== 'smtp' && transport !== 'http')
    throw new Error(`HERALD_EMAIL_TRANSPORT must be smtp or http, not "${env.HERALD_EMAIL_TRANSPORT}"`);
  const emailHttp = sandbox ? null : httpEmailConfigFromEnv(env);
  return {
    port: int(env, 'PORT', 8080),
    host: env.HOST?.trim() || '127.0.0.1',
    database: parseDatabaseUrl(env.DATABASE_URL),
    sandbox,
    sandboxSmtp: env.HERALD_SANDBOX_SMTP ? loopbackHostPort('HERALD_SANDBOX_SMTP', env.HERALD_SANDBOX_SMTP) : null,
    sandboxSmtpPort: int(env, 'HERALD_SANDBOX_SMTP_PORT', 0),
    sandboxFailover: onOff(env, 'HERALD_SANDBOX_FAILOVER', false),
    failover: {
      transientThreshold: int(env, 'HERALD_FAILOVER_THRESHOLD', 5, 1),
      coolDownMs: int(env, 'HERALD_FAILOVER_COOLDOWN_MS', 30_000, 0),
    },
    // In sandbox mode a configured SMTP server is ignored: nothing may reach a real person.
    smtp: sandbox ? null : smtpConfigFromEnv(env),
    emailTransport: transport,
    emailHttp,
    // In sandbox mode the sandbox's own webhook credentials are required instead.
    emailHttpWebhook: sandbox ? null : httpEmailWebhookAuthFromEnv(env),
    emailRateLimit: parseRateLimit('HERALD_EMAIL_RATE_LIMIT', env.HERALD_EMAIL_RATE_LIMIT),
    secrets: env.HERALD_SECRET_KEY?.trim() ? SecretBox.fromText('HERALD_SECRET_KEY', env.HERALD_SECRET_KEY) : null,
    publicUrl: publicUrlOf(env.HERALD_PUBLIC_URL),
    env,
    apiKey: env.HERALD_API_KEY?.trim() || null,
    logLevel: env.LOG_LEVEL ?? 'info',
    engine: {
      batchSize: env.HERALD_BATCH_SIZE ? int(env, 'HERALD_BATCH_SIZE', 50, 1) : null,
      concurrency: int(env, 'HERALD_CONCURRENCY', 2, 1),
      leaseMs: int(env, 'HERALD_LEASE_MS', 30_000, 100),
      maxAttempts: int(env, 'HERALD_MAX_ATTEMPTS', 5, 1),
      retryBaseMs: int(env, 'HERALD_RETRY_BASE_MS', 2_000, 0),
      snapshotParallel: int(env, 'HERALD_SNAPSHOT_PARALLEL', 2, 1),
      sendThreads: int(env, 'HERALD_SEND_THREADS', 0, 0),
    },
  };
}
