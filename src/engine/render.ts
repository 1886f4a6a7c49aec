import { Liquid, type Template } from 'liquidjs';
import type { OutgoingEmail } from '../channels/channel.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import {
  type EmailLinks,
  listUnsubscribeHeaders,
  messageLinks,
  withOpenPixel,
  withTextFooter,
  withTrackedLinks,
  withUnsubscribeFooter,
} from './email-compose.js';

/** What a run sends, loaded once per run and reused for every batch. */
export interface EmailContent {
  readonly workspaceId: string;
  readonly campaignId: string;
  readonly campaignName: string;
  readonly templateKey: string;
  readonly subject: string;
  readonly html: string | null;
  readonly text: string | null;
  readonly from: { readonly name: string | null; readonly address: string };
  readonly replyTo: string | null;
  /**
   * The unsubscribe link and headers, open pixel and click redirect (email-compose.ts).
   * The engine always sets it; only benchmarks of bare rendering leave it out.
   */
  readonly links?: EmailLinks;
}

// Templates are data from users: no file system or includes (liquidjs renders only what it is
// given), and bounds on parse size, render time and output so one template cannot stall
// the process that sends for every workspace (a 10-million-step loop took 7 s a message unbounded).
export const liquid = new Liquid({
  strictFilters: true,
  ownPropertyOnly: true,
  cache: false,
  parseLimit: 1_000_000,
  // Wall-clock milliseconds: generous, so a GC pause or a loaded host never trips it.
  renderLimit: 1_000,
  memoryLimit: 10_000_000,
});

/** Whether a render failed on the bounds above rather than on the template's content. */
export function isRenderLimit(err: unknown): boolean {
  return err instanceof Error && /limit exceeded/i.test(err.message);
}

/** Checks that each part of a template parses; the failure names the part and Liquid's line. */
export function checkTemplate(parts: Readonly<Record<string, string | null | undefined>>): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  for (const [field, source] of Object.entries(parts)) {
    if (!source) continue;
    try {
      liquid.parse(source);
    } catch (err) {
      problems.push({ field: `body/${field}`, message: (err as Error).message.split('\n')[0] ?? 'does not parse' });
    }
  }
  return problems;
}

interface Parsed {
  subject: Template[];
  html: Template[] | null;
  text: Template[] | null;
}
const parsedCache = new Map<string, Parsed>();

function parsed(content: EmailContent): Parsed {
  let entry = parsedCache.get(content.templateKey);
  if (!entry) {
    entry = {
      subject: liquid.parse(content.subject),
      html: content.html ? liquid.parse(content.html) : null,
      text: content.text ? liquid.parse(content.text) : null,
    };
    if (parsedCache.size > 500) parsedCache.clear();
    parsedCache.set(content.templateKey, entry);
  }
  return entry;
}

const scriptOrStyle = /<(script|style)[^>]*>[\s\S]*?<\/\1>/gi;
const lineEnd = /<br\s*\/?>|<\/(?:p|div|h[1-6]|li|tr)>/gi;
const anchorText = /<a\s[^>]*href="([^"]*)"[^>]*>([\s\S]*?)<\/a>/gi;
const tag = /<[^>]+>/g;
const entity = /&(nbsp|amp|lt|gt|quot|#39);/g;
const entityText: Readonly<Record<string, string>> = { nbsp: ' ', amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" };
const spaceAtLineEnd = /[ \t]+\n/g;
const blankLines = /\n{3,}/g;

/**
 * A readable text part from HTML, for templates that have none (every email gets one). It
 * runs for every message (the HTML is rendered per recipient), so it is eight passes over
 * the HTML where it was thirteen, and the entities are decoded in one pass (so `&amp;lt;`
 * reads `&lt;`, as in the HTML, not `<`).
 */
export function textFromHtml(html: string): string {
  let text = html.replace(scriptOrStyle, '').replace(lineEnd, '\n').replace(anchorText, '$2 ($1)').replace(tag, '');
  if (text.includes('&')) text = text.replace(entity, (_, name: string) => entityText[name]!);
  return text.replace(spaceAtLineEnd, '\n').replace(blankLines, '\n\n').trim();
}

/**
 * The Liquid scope every channel shares: `{{ contact.firstName }}`, custom attributes,
 * `{{ campaign.name }}`, and for a message an API event queued, `{{ event.name }}` and
 * `{{ event.properties.total }}`.
 */
export function liquidScope(
  content: { campaignId: string; campaignName: string },
  contact: NonNullable<ClaimedMessage['contact']>,
  event?: ClaimedMessage['event'],
) {
  // One shape for every message (no spread on the send path): Liquid reads an undefined
  // `event` as it reads a missing one.
  return {
    event: event ?? undefined,
    contact: contactScope(contact),
    campaign: { id: content.campaignId, name: content.campaignName },
  };
}

/**
 * `{ ...contact.attributes, email, phone, firstName, lastName }`, property for property (the
 * same keys in the same order, the contact's own fields winning), built by hand: Node 20
 * takes ≈ 9 µs for that object literal with a spread, ≈ 0.1 µs for this.
 */
function contactScope(contact: NonNullable<ClaimedMessage['contact']>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const attributes = contact.attributes;
  for (const key of Object.keys(attributes)) {
    // A JSON attribute named __proto__ is an own property, as the spread made it, not the prototype.
    if (key === '__proto__')
      Object.defineProperty(out, key, { value: attributes[key], enumerable: true, writable: true, configurable: true });
    else out[key] = attributes[key];
  }
  out.email = contact.email;
  out.phone = contact.phone;
  out.firstName = contact.firstName;
  out.lastName = contact.lastName;
  return out;
}

/** The Message-ID of a ledger row: the same on every attempt, so a provider can drop repeats. */
export function headerMessageId(m: { runId: number; id: number }, fromAddress: string): string {
  const domain = fromAddress.split('@')[1] ?? 'herald.invalid';
  return `<herald.${m.runId}.${m.id}@${domain}>`;
}

/**
 * Renders one claimed message with Liquid: `{{ contact.firstName }}`, `{{ campaign.name }}`,
 * custom attributes, and `{{ unsubscribe_url }}`. Then what every email gets: the
 * unsubscribe footer where the template has no link, a text part (made from the HTML when
 * the template has none), the List-Unsubscribe headers, tracked links and the open pixel.
 */
export function renderEmail(content: EmailContent, m: ClaimedMessage, contact: NonNullable<ClaimedMessage['contact']>): OutgoingEmail {
  const t = parsed(content);
  const ref = { runId: m.runId, messageId: m.id };
  const links = content.links;
  const message = links ? messageLinks(links, ref) : null;
  const unsubscribe = message?.unsubscribe ?? null;
  const scope: Record<string, unknown> = liquidScope(content, contact, m.event);
  scope.unsubscribe_url = unsubscribe ?? '';
  const subject = liquid.renderSync(t.subject, scope) as string;
  let html = t.html ? (liquid.renderSync(t.html, scope) as string) : null;
  if (html !== null && unsubscribe) html = withUnsubscribeFooter(html, unsubscribe);
  // The text part is made before links are tracked, so it shows where they lead.
  let text = t.text ? (liquid.renderSync(t.text, scope) as string) : html ? textFromHtml(html) : '';
  if (unsubscribe) text = withTextFooter(text, unsubscribe);
  if (html !== null && links && message) {
    if (links.clicks) html = withTrackedLinks(html, message);
    if (links.opens) html = withOpenPixel(html, message);
  }
  return {
    messageId: m.id,
    runId: m.runId,
    headerMessageId: headerMessageId(m, content.from.address),
    from: content.from,
    replyTo: content.replyTo,
    to: m.address,
    subject: subject.replace(/[\r\n]+/g, ' ').trim(),
    html,
    text,
    headers: {
      'X-Herald-Workspace': content.workspaceId,
      'X-Herald-Campaign': content.campaignId,
      'X-Herald-Message': `${m.runId}.${m.id}`,
      ...(unsubscribe ? listUnsubscribeHeaders(unsubscribe) : {}),
    },
  };
}
