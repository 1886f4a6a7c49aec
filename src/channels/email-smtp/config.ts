/** How to reach an SMTP server; read from the environment once, at start (STYLE habit 6). */
export interface SmtpConfig {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS from the first byte (port 465); otherwise STARTTLS when the server offers it. */
  readonly secure: boolean;
  /** Refuse to send without STARTTLS. */
  readonly requireTls: boolean;
  /** Skip STARTTLS even if offered (only for the loopback sandbox). */
  readonly ignoreTls: boolean;
  readonly user: string | null;
  readonly pass: string | null;
  readonly poolSize: number;
}

/** Reads SMTP_HOST, SMTP_PORT, SMTP_SECURE, SMTP_REQUIRE_TLS, SMTP_USER, SMTP_PASS, SMTP_POOL_SIZE; null without a host. */
export function smtpConfigFromEnv(env: NodeJS.ProcessEnv): SmtpConfig | null {
  const host = env.SMTP_HOST?.trim();
  if (!host) return null;
  const secure = env.SMTP_SECURE === 'true' || env.SMTP_SECURE === '1';
  const port = Number(env.SMTP_PORT ?? (secure ? 465 : 587));
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`SMTP_PORT must be a port number, not ${env.SMTP_PORT}`);
  const poolSize = Number(env.SMTP_POOL_SIZE ?? 5);
  if (!Number.isInteger(poolSize) || poolSize < 1) throw new Error(`SMTP_POOL_SIZE must be a positive integer, not ${env.SMTP_POOL_SIZE}`);
  return {
    host,
    port,
    secure,
    requireTls: env.SMTP_REQUIRE_TLS === 'true' || env.SMTP_REQUIRE_TLS === '1',
    ignoreTls: false,
    user: env.SMTP_USER ?? null,
    pass: env.SMTP_PASS ?? null,
    poolSize,
  };
}

/** The loopback sandbox server: plain SMTP, no auth. */
export function sandboxSmtpConfig(host: string, port: number, poolSize = 5): SmtpConfig {
  return { host, port, secure: false, requireTls: false, ignoreTls: true, user: null, pass: null, poolSize };
}
