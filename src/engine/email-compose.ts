import { type LedgerRef, messageTokens } from '../domain/tracking.js';

/**
 * What every email gets besides its template (issue 5, DESIGN §5), applied to the HTML
 * and text after Liquid: an unsubscribe link (a footer when the template has none), the
 * `List-Unsubscribe` and `List-Unsubscribe-Post` headers (RFC 2369, RFC 8058 one-click),
 * links sent through the click redirect and an open pixel. Every URL is signed for its
 * ledger row, once per message (domain/tracking.ts); the public routes are in
 * api/routes/tracking.ts.
 */

/** Where an email's links lead and how they are signed; loaded with the run's content. */
export interface EmailLinks {
  /** Herald's public base URL, no trailing slash: HERALD_PUBLIC_URL, or where it listens. */
  readonly baseUrl: string;
  /** The tracking key, hex (domain/tracking.ts `trackingKey`). */
  readonly key: string;
  /** The open pixel; off for previews and test sends, which have no ledger row. */
  readonly opens: boolean;
  /** Links through the click redirect. */
  readonly clicks: boolean;
}

/** The signed URLs of one message, from one signature (domain/tracking.ts `messageTokens`). */
export interface MessageLinks {
  readonly baseUrl: string;
  /** The recipient's unsubscribe page; a one-click POST to it unsubscribes at once. */
  readonly unsubscribe: string;
  /** The open pixel. */
  readonly pixel: string;
  /** The click redirect to `url`. */
  click(url: string): string;
}

/** Signs one message's links: every URL it will carry, for one HMAC. */
export function messageLinks(links: EmailLinks, ref: LedgerRef): MessageLinks {
  const tokens = messageTokens(links.key, ref);
  const base = links.baseUrl;
  return {
    baseUrl: base,
    unsubscribe: `${base}/u/${tokens.unsubscribe}`,
    pixel: `${base}/t/o/${tokens.open}`,
    click: (url) => `${base}/t/c/${tokens.click(url)}`,
  };
}

/** The headers that let a mail client offer its own unsubscribe button (Gmail and Yahoo require them of bulk senders). */
export function listUnsubscribeHeaders(url: string): Record<string, string> {
  return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}

const escapeAttribute = (s: string) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** Puts `fragment` before the last `</body>`, or at the end of a fragment without one. */
function beforeBodyEnd(html: string, fragment: string): string {
  // A lower-case copy of the whole HTML only when a `</BODY>` of another case is there to
  // find, and a scan for one only when a `</b` or `</B` is there at all (it runs twice a message).
  let at = html.lastIndexOf('</body>');
  if (at === -1 && (html.includes('</b') || html.includes('</B')) && /<\/body>/i.test(html)) at = html.toLowerCase().lastIndexOf('</body>');
  return at === -1 ? `${html}${fragment}` : `${html.slice(0, at)}${fragment}${html.slice(at)}`;
}

/** Adds an unsubscribe footer to HTML that does not already carry the link. */
export function withUnsubscribeFooter(html: string, url: string): string {
  if (html.includes(url)) return html;
  return beforeBodyEnd(
    html,
    `\n<p style="font-family:Arial,Helvetica,sans-serif;font-size:12px;line-height:18px;color:#6b7280;text-align:center;margin:24px 0">` +
      `Don’t want these emails? <a href="${escapeAttribute(url)}" style="color:#6b7280;text-decoration:underline">Unsubscribe</a></p>`,
  );
}

/** Adds an unsubscribe line to a text part that does not already carry the link. */
export function withTextFooter(text: string, url: string): string {
  if (text.includes(url)) return text;
  const kept = text.trimEnd();
  return kept.trimStart() === '' ? `Unsubscribe: ${url}` : `${kept}\n\n--\nUnsubscribe: ${url}`;
}

function decodeAttribute(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#0*39;|&#x0*27;|&apos;/gi, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&#0*38;|&#x0*26;|&amp;/gi, '&')
    .trim();
}

const anchor = /<(?:a|area)\b[^>]*>/gi;
const hrefAttribute = /\shref\s*=\s*(?:"([^"]*)"|'([^']*)')/i;

/**
 * Sends the web links of `html` (`<a href>`, `<area href>`) through the click redirect:
 * each becomes `${baseUrl}/t/c/<token>` with the URL signed inside. mailto:, tel:, #anchors
 * and anything not http(s) stay as they are, and so do the unsubscribe link and Herald's
 * own links.
 */
export function withTrackedLinks(html: string, message: MessageLinks): string {
  const own = [`${message.baseUrl}/u/`, `${message.baseUrl}/t/`];
  return html.replace(anchor, (tag) =>
    tag.replace(hrefAttribute, (whole, double: string | undefined, single: string | undefined) => {
      const url = decodeAttribute(double ?? single ?? '');
      if (!/^https?:\/\/[^\s]/i.test(url) || url === message.unsubscribe || own.some((p) => url.startsWith(p))) return whole;
      return ` href="${message.click(url)}"`;
    }),
  );
}

/** Adds the 1×1 open pixel before `</body>`. */
export function withOpenPixel(html: string, message: MessageLinks): string {
  return beforeBodyEnd(
    html,
    `<img src="${message.pixel}" width="1" height="1" alt="" ` +
      `style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" />`,
  );
}
