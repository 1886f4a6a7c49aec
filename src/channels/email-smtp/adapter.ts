import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPPool from 'nodemailer/lib/smtp-pool/index.js';
import { type ChannelAdapter, type OutgoingEmail, ProviderFatalError, type SendResult } from '../channel.js';
import type { SmtpConfig } from './config.js';

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

/**
 * Maps an SMTP failure to our outcome kinds (RFC 5321 §4.2.1): 5yz replies are permanent
 * for that recipient, 4yz and lost connections are transient, a refused login stops the
 * whole campaign because no message can go out.
 */
export function classifySmtpError(err: SmtpError): { fatal: boolean; kind: 'transient' | 'permanent'; code: string; detail: string } {
  const detail = (err.response ?? err.message).slice(0, 500);
  if (err.code === 'EAUTH' || err.code === 'ENOAUTH') return { fatal: true, kind: 'permanent', code: 'SMTP_AUTH', detail };
  if (err.responseCode !== undefined) {
    const code = `SMTP_${err.responseCode}`;
    return { fatal: false, kind: err.responseCode >= 500 ? 'permanent' : 'transient', code, detail };
  }
  if (err.code === 'EENVELOPE' || err.code === 'EMESSAGE') return { fatal: false, kind: 'permanent', code: err.code, detail };
  return { fatal: false, kind: 'transient', code: err.code ?? 'SMTP_ERROR', detail };
}

/** Email over SMTP with a pooled nodemailer transport: one connection pool, messages sent concurrently. */
export class SmtpEmailAdapter implements ChannelAdapter<OutgoingEmail> {
  readonly name = 'smtp';
  readonly channel = 'email' as const;
  readonly capabilities;
  readonly #transport: Transporter<SMTPPool.SentMessageInfo>;

  constructor(config: SmtpConfig) {
    this.capabilities = { batchSize: 50, concurrency: config.poolSize * 4, idempotent: false, costUnit: 'message' as const };
    this.#transport = nodemailer.createTransport({
      pool: true,
      host: config.host,
      port: config.port,
      secure: config.secure,
      requireTLS: config.requireTls,
      ignoreTLS: config.ignoreTls,
      maxConnections: config.poolSize,
      maxMessages: Infinity,
      auth: config.user ? { user: config.user, pass: config.pass ?? '' } : undefined,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    } as SMTPPool.Options);
  }

  async send(batch: readonly OutgoingEmail[]): Promise<SendResult[]> {
    let fatal: { code: string; detail: string } | undefined;
    const results = await Promise.all(
      batch.map(async (m): Promise<SendResult> => {
        try {
          const info = await this.#transport.sendMail({
            messageId: m.headerMessageId,
            from: m.from.name ? { name: m.from.name, address: m.from.address } : m.from.address,
            replyTo: m.replyTo ?? undefined,
            to: m.to,
            subject: m.subject,
            html: m.html ?? undefined,
            text: m.text,
            headers: { ...m.headers },
          });
          return { messageId: m.messageId, ok: true, providerId: info.messageId ?? m.headerMessageId };
        } catch (err) {
          const c = classifySmtpError(err as SmtpError);
          if (c.fatal) fatal ??= c;
          return { messageId: m.messageId, ok: false, kind: c.kind, code: c.code, detail: c.detail };
        }
      }),
    );
    if (fatal) throw new ProviderFatalError(fatal.code, fatal.detail, results);
    return results;
  }

  async close(): Promise<void> {
    this.#transport.close();
  }
}
