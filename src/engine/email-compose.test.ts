import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { trackingKey, verifyToken } from '../domain/tracking.js';
import { messageLinks, withOpenPixel, withTextFooter, withTrackedLinks, withUnsubscribeFooter } from './email-compose.js';
import { lostLiquid } from './mjml.js';

const links = { baseUrl: 'https://herald.example', key: trackingKey('k'), opens: true, clicks: true };
const ref = { runId: 3, messageId: 41 };
const message = messageLinks(links, ref);
const unsubscribe = message.unsubscribe;

/** The URLs the tracked hrefs of `html` lead to, in order. */
const targets = (html: string) =>
  [...html.matchAll(/href="https:\/\/herald\.example\/t\/c\/([^"]+)"/g)].map((m) => verifyToken(links.key, 'click', m[1]!)?.url);

describe('withTrackedLinks', () => {
  it('sends web links through the redirect and leaves the rest alone', () => {
    const html =
      `<a href="https://example.com/a?x=1&amp;y=2">A</a> <A HREF='http://example.com/b'>B</A> <area shape="rect" href="https://example.com/c">` +
      `<a href="mailto:x@example.com">m</a> <a href="tel:+15550100">t</a> <a href="#top">#</a> <a name="x">n</a>` +
      `<a href="${unsubscribe}">u</a> <a href="https://herald.example/t/o/1.2.x">own</a> <link href="https://example.com/style.css">`;
    const out = withTrackedLinks(html, message);
    expect(targets(out)).toEqual(['https://example.com/a?x=1&y=2', 'http://example.com/b', 'https://example.com/c']);
    for (const kept of [
      'href="mailto:x@example.com"',
      'href="tel:+15550100"',
      'href="#top"',
      '<a name="x">',
      `href="${unsubscribe}"`,
      'href="https://herald.example/t/o/1.2.x"',
      '<link href="https://example.com/style.css">',
    ])
      expect(out).toContain(kept);
  });

  it('changes nothing but the hrefs of web links, whatever the markup around them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.webUrl(), fc.constantFrom('mailto:a@b.c', '#x', 'tel:1')), { maxLength: 5 }),
        fc.string(),
        (urls, filler) => {
          const clean = filler.replace(/[<>"']/g, '');
          const html = urls.map((u) => `<p>${clean}</p><a class="c" href="${u.replace(/&/g, '&amp;')}">${clean}</a>`).join('');
          const out = withTrackedLinks(html, message);
          expect(targets(out)).toEqual(urls.filter((u) => u.startsWith('http')));
          expect(out.replace(/href="[^"]*"/g, 'href')).toBe(html.replace(/href="[^"]*"/g, 'href'));
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe('footers and the pixel', () => {
  it('add the unsubscribe link once, before </body> when there is one', () => {
    const page = '<html><body><p>Hi</p></BODY></html>';
    const footed = withUnsubscribeFooter(page, unsubscribe);
    expect(footed).toMatch(new RegExp(`<p>Hi</p>\\n<p [^>]+>.*href="${unsubscribe}".*</p></BODY></html>$`));
    expect(withUnsubscribeFooter(footed, unsubscribe)).toBe(footed);
    expect(withUnsubscribeFooter('<p>fragment</p>', unsubscribe)).toMatch(/^<p>fragment<\/p>\n<p /);
    expect(withTextFooter('Hi\n\n', unsubscribe)).toBe(`Hi\n\n--\nUnsubscribe: ${unsubscribe}`);
    expect(withTextFooter('', unsubscribe)).toBe(`Unsubscribe: ${unsubscribe}`);
    expect(withTextFooter(`Leave: ${unsubscribe}`, unsubscribe)).toBe(`Leave: ${unsubscribe}`);
  });

  it('put a signed open pixel at the end of the body', () => {
    const out = withOpenPixel('<body>x</body>', message);
    const token = /src="https:\/\/herald\.example\/t\/o\/([^"]+)" width="1" height="1"/.exec(out)![1]!;
    expect(verifyToken(links.key, 'open', token)).toEqual({ ...ref, url: null });
    expect(out).toMatch(/<img [^>]+\/><\/body>$/);
  });
});

describe('lostLiquid', () => {
  it('names the Liquid MJML dropped, with its line, and accepts what it re-encoded', () => {
    const source = 'a {{ x }}\n{% if a > 1 %}\nb {{ x }}\n{% endif %}';
    expect(lostLiquid(source, '<p>a {{ x }}</p>{% if a &gt; 1 %}<p>b {{  x }}</p>{% endif %}')).toEqual([]);
    expect(lostLiquid(source, '<p>a {{ x }}</p><p>b</p>')).toEqual([
      { token: '{% if a > 1 %}', line: 2 },
      { token: '{{ x }}', line: 3 },
      { token: '{% endif %}', line: 4 },
    ]);
  });
});
