import { randomInt } from 'node:crypto';
import type { ChannelAdapter, Outgoing, OutgoingEmail, SendResult } from '../channels/channel.js';
import { ProviderFatalError } from '../channels/channel.js';
import { HeraldError } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';
import type { TemplatePreview } from '../domain/resources.js';
import { smsSegments } from '../domain/sms.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import type { SenderRow, TemplateRow } from '../store/schema.js';
import { renderForChannel } from './render-channels.js';
import { type EmailContent, isRenderLimit, renderEmail } from './render.js';

/**
 * Previews and test sends of a template (issue 5): the engine's own renderers, on one
 * contact, with no ledger row. Their links name run 0, which the public routes know as a
 * test (nothing is recorded, the unsubscribe page says so), and they carry no open pixel
 * and no click redirect, so a preview shows where each link really leads.
 */

export type PreviewContact = NonNullable<ClaimedMessage['contact']>;

/** Where email links lead and how they are signed (engine/email-compose.ts). */
export interface LinkBase {
  readonly baseUrl: string;
  readonly key: string;
}

/** A Liquid error while rendering, as TEMPLATE_INVALID; liquidjs names the line in its message. */
function invalid(err: unknown): HeraldError {
  const message = (err as Error).message.split('\n')[0] ?? 'does not render';
  const detail = isRenderLimit(err) ? `The template exceeded its render limits: ${message}` : message;
  return HeraldError.of('TEMPLATE_INVALID', detail, { errors: [{ field: 'template', message: detail }] });
}

function emailContent(
  template: TemplateRow,
  workspaceId: string,
  links: LinkBase | null,
  from: { name: string | null; address: string },
  replyTo: string | null,
): EmailContent {
  return {
    workspaceId,
    campaignId: '',
    campaignName: template.name,
    templateKey: `${template.id}:${template.updated_at}`,
    subject: template.subject ?? '',
    html: template.html,
    text: template.text,
    from,
    replyTo,
    ...(links ? { links: { ...links, opens: false, clicks: false } } : {}),
  };
}

const message = (id: number, address: string, contact: PreviewContact): ClaimedMessage => ({
  id,
  runId: 0,
  contactId: 0,
  address,
  attempts: 1,
  contact,
});

function render(
  template: TemplateRow,
  workspaceId: string,
  contact: PreviewContact,
  to: string,
  id: number,
  links: LinkBase | null,
  sender: SenderRow | null,
): OutgoingEmail | Outgoing {
  const channel = template.channel as Channel;
  try {
    if (channel === 'email') {
      const from = { name: sender?.from_name ?? null, address: sender?.from_email ?? 'preview@herald.invalid' };
      return renderEmail(emailContent(template, workspaceId, links, from, sender?.reply_to ?? null), message(id, to, contact), contact);
    }
    return renderForChannel(
      {
        channel,
        workspaceId,
        campaignId: '',
        campaignName: template.name,
        templateKey: `${template.id}:${template.updated_at}`,
        content: template.content ? (JSON.parse(template.content) as unknown) : {},
        sender: { name: sender?.from_name ?? null, address: sender?.address ?? null, avatarUrl: sender?.avatar_url ?? null },
      },
      message(id, to, contact),
      contact,
    );
  } catch (err) {
    throw invalid(err);
  }
}

/**
 * The template rendered for one contact, as the engine would render it (without tracking):
 * an email's subject, HTML with its unsubscribe footer, text part and headers; another
 * channel's message as its provider gets it, and an SMS's segments and encoding.
 */
export function previewTemplate(args: {
  template: TemplateRow;
  workspaceId: string;
  contact: PreviewContact;
  links: LinkBase | null;
}): TemplatePreview {
  const { template, contact } = args;
  const to = (template.channel === 'email' ? contact.email : contact.phone) ?? '';
  const out = render(template, args.workspaceId, contact, to, 0, args.links, null);
  if (template.channel === 'email') {
    const email = out as OutgoingEmail;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(email.headers)) if (!name.startsWith('X-Herald-')) headers[name] = value;
    return { channel: 'email', subject: email.subject, html: email.html, text: email.text, headers, content: null, sms: null };
  }
  const { messageId: _id, runId: _run, ledgerKey: _key, to: _to, ...content } = out as Exclude<Outgoing, { channel: 'email' }>;
  const sms = content.channel === 'sms' ? smsSegments(content.body) : null;
  return { channel: content.channel, subject: null, html: null, text: null, headers: null, content, sms };
}

/**
 * Sends the template once to `to` through the channel's adapter (in sandbox mode, the
 * sandbox), recorded in no run. The provider's refusal is an answer, not an error.
 */
export async function testSend(args: {
  template: TemplateRow;
  workspaceId: string;
  contact: PreviewContact;
  to: string;
  sender: SenderRow;
  adapter: ChannelAdapter<OutgoingEmail> | ChannelAdapter<Outgoing>;
  links: LinkBase | null;
}): Promise<SendResult> {
  // An id of its own, so a provider (or the sandbox) that drops repeated ids takes every test.
  const id = randomInt(1, 2 ** 31);
  let out = render(args.template, args.workspaceId, args.contact, args.to, id, args.links, args.sender);
  if (args.template.channel === 'email') {
    const email = out as OutgoingEmail;
    const domain = email.from.address.split('@')[1] ?? 'herald.invalid';
    out = {
      ...email,
      headerMessageId: `<herald.test.${id}.${Date.now()}@${domain}>`,
      headers: { ...email.headers, 'X-Herald-Test': 'true' },
    };
  }
  try {
    const [result] = await (args.adapter as ChannelAdapter<OutgoingEmail | Outgoing>).send([out]);
    return result ?? { messageId: id, ok: false, kind: 'transient', code: 'NO_RESULT', detail: 'The provider gave no result.' };
  } catch (err) {
    if (!(err instanceof ProviderFatalError)) throw err;
    return err.results[0] ?? { messageId: id, ok: false, kind: 'permanent', code: err.code, detail: err.message };
  }
}
