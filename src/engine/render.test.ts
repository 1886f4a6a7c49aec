import { describe, expect, it } from 'vitest';
import { liquid, liquidScope, textFromHtml } from './render.js';

const contact = (attributes: Record<string, unknown>) => ({
  email: 'ada@example.com',
  phone: '+15550100',
  firstName: 'Ada',
  lastName: 'Lovelace',
  attributes,
  timeZone: null,
});
const campaign = { campaignId: 'cmp_1', campaignName: 'Digest' };

describe('textFromHtml', () => {
  it('keeps the words, a line per block, and where links lead', () => {
    const html =
      '<html><head><style>p{color:red}</style><script>var x = "<p>";</script></head><body>' +
      '<h1>Hi Ada</h1><p>Line one<br>Line two<BR/>three</p><div>A <a class="x" href="https://example.com/a?b=1&amp;c=2">link <b>here</b></a>.</div>' +
      '<ul><li>one</li><li>two</li></ul><table><tr><td>cell</td></tr></table>   \n\n\n\n<p>Fish &amp; chips &lt;3&gt; &quot;x&quot; &#39;y&#39;&nbsp;z</p></body></html>';
    expect(textFromHtml(html)).toBe(
      'Hi Ada\nLine one\nLine two\nthree\nA link here (https://example.com/a?b=1&c=2).\none\ntwo\ncell\n\n' +
        'Fish & chips <3> "x" \'y\' z',
    );
  });

  it('decodes each entity once, as a reader of the HTML would see it', () => {
    expect(textFromHtml('<p>&amp;lt;b&amp;gt; is a tag; &amp;amp; is an ampersand</p>')).toBe('&lt;b&gt; is a tag; &amp; is an ampersand');
  });
});

describe('liquidScope', () => {
  it('gives attributes under contact, the contact’s own fields winning over attributes of the same name', () => {
    const scope = liquidScope(campaign, contact({ plan: 'pro', email: 'spoof@example.com', firstName: 'Eve' }));
    expect(scope.contact).toEqual({ plan: 'pro', email: 'ada@example.com', phone: '+15550100', firstName: 'Ada', lastName: 'Lovelace' });
    expect(Object.keys(scope.contact)).toEqual(['plan', 'email', 'firstName', 'phone', 'lastName']);
    expect(liquid.parseAndRenderSync('{{ contact.firstName }} {{ contact.plan }} {{ campaign.name }}', scope)).toBe('Ada pro Digest');
  });

  it('keeps an attribute named __proto__ as a plain value, not the scope’s prototype', () => {
    const attributes = JSON.parse('{"__proto__": {"polluted": "yes"}, "plan": "team"}') as Record<string, unknown>;
    const scope = liquidScope(campaign, contact(attributes));
    expect(Object.getPrototypeOf(scope.contact)).toBe(Object.prototype);
    expect((scope.contact as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.keys(scope.contact)).toContain('__proto__');
    expect(liquid.parseAndRenderSync('{{ contact.plan }}{{ contact.polluted }}', scope)).toBe('team');
  });
});
