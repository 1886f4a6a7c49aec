import { afterEach, describe, expect, it } from 'vitest';
import { parseHeaders } from '../../src/channels/email-smtp/sandbox.js';
import { dialects } from '../dialects.js';
import { type TestHerald, act, seedCampaign, startTestHerald, waitFor } from '../harness.js';

let t: TestHerald;
afterEach(async () => {
  await t?.close();
});

const finished = (c: { status: string }) => ['completed', 'failed', 'stopped'].includes(c.status);

const welcome = `<mjml>
  <mj-head><mj-title>{{ campaign.name }}</mj-title></mj-head>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ contact.firstName }}, your plan is {{ contact.plan | default: "free" }}.</mj-text>
        <mj-raw>{% if contact.vip %}</mj-raw>
        <mj-text>Thank you for being a VIP.</mj-text>
        <mj-raw>{% endif %}</mj-raw>
        <mj-button href="https://shop.example/{{ contact.plan }}?ref=mail">Shop</mj-button>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>`;

/** The body of one MIME part of a raw message (quoted-printable or base64 undone). */
function mimePart(raw: string, type: 'text/html' | 'text/plain'): string {
  const at = raw.indexOf(`Content-Type: ${type}`);
  if (at === -1) throw new Error(`no ${type} part in:\n${raw}`);
  const rest = raw.slice(at);
  const head = rest.slice(0, rest.search(/\r?\n\r?\n/));
  const body = rest.slice(head.length).replace(/^\r?\n\r?\n/, '');
  const end = body.search(/\r?\n--/);
  const encoded = end === -1 ? body : body.slice(0, end);
  if (/base64/i.test(head)) return Buffer.from(encoded.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (/quoted-printable/i.test(head))
    return Buffer.from(
      encoded.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8');
  return encoded;
}

/** A link's path on Herald, for inject: http://127.0.0.1:8080/t/o/… → /t/o/… */
const pathOf = (url: string) => new URL(url).pathname;

describe.each(dialects)('email content through the API (%s)', (dialect) => {
  it('compiles an MJML template once and renders it with each contact’s Liquid', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const created = await t.api('POST', '/v1/templates', { name: 'Welcome', subject: 'Hi {{ contact.firstName }}', mjml: welcome });
    expect(created.status).toBe(201);
    expect(created.body.mjml).toBe(welcome);
    // Compiled once, at save: HTML with the Liquid left in place for each recipient.
    expect(created.body.html).toMatch(/^<!doctype html>/i);
    expect(created.body.html).not.toContain('<mj-');
    expect(created.body.html).toContain('{{ contact.firstName }}');
    expect(created.body.html).toContain('href="https://shop.example/{{ contact.plan }}?ref=mail"');
    expect(created.body.tracking).toEqual({ opens: true, clicks: true });

    const vip = await t.api('POST', `/v1/templates/${created.body.id}/preview`, {
      contact: { firstName: 'Ada', email: 'ada@example.test', attributes: { plan: 'pro', vip: true } },
    });
    expect(vip.status).toBe(200);
    expect(vip.body.subject).toBe('Hi Ada');
    expect(vip.body.html).toContain('Hello Ada, your plan is pro.');
    expect(vip.body.html).toContain('Thank you for being a VIP.');
    expect(vip.body.html).toContain('href="https://shop.example/pro?ref=mail"');
    // No unsubscribe link in the template: a footer carries one, in both parts, and the headers.
    const unsubscribe = vip.body.headers['List-Unsubscribe'].slice(1, -1) as string;
    expect(unsubscribe).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/u\/0\.0\.[A-Za-z0-9_-]{22}$/);
    expect(vip.body.headers['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
    expect(vip.body.html).toContain(`<a href="${unsubscribe}"`);
    expect(vip.body.text).toContain('Hello Ada, your plan is pro.');
    expect(vip.body.text).toContain(unsubscribe);

    const plain = await t.api('POST', `/v1/templates/${created.body.id}/preview`, { contact: { firstName: 'Bo' } });
    expect(plain.body.html).toContain('Hello Bo, your plan is free.');
    expect(plain.body.html).not.toContain('VIP');

    // A template that uses {{ unsubscribe_url }} gets no footer.
    const own = await t.api('PATCH', `/v1/templates/${created.body.id}`, {
      mjml: welcome.replace('<mj-button', '<mj-text><a href="{{ unsubscribe_url }}">Leave</a></mj-text><mj-button'),
    });
    expect(own.status).toBe(200);
    const ownPreview = (await t.api('POST', `/v1/templates/${created.body.id}/preview`, {})).body;
    expect(ownPreview.html.match(/\/u\/0\.0\./g)).toHaveLength(1);
    expect(ownPreview.html).toContain('>Leave</a>');

    // Sending plain HTML again turns it into an HTML template.
    const html = await t.api('PATCH', `/v1/templates/${created.body.id}`, { html: '<p>Plain {{ contact.firstName }}</p>' });
    expect(html.body).toMatchObject({ mjml: null, html: '<p>Plain {{ contact.firstName }}</p>' });
  });

  it('refuses bad MJML as TEMPLATE_INVALID naming the line, and changes nothing', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const post = (body: Record<string, unknown>) => t.api('POST', '/v1/templates', { name: 'Bad', subject: 'S', ...body });

    const illegal = await post({ mjml: welcome.replace('<mj-text>Thank', '<mj-text colour="red">Thank') });
    expect(illegal.status).toBe(400);
    expect(illegal.body.code).toBe('TEMPLATE_INVALID');
    expect(illegal.body.detail).toContain('line 8 (mj-text): Attribute colour is illegal');

    const dropped = await post({ mjml: welcome.replace('<mj-raw>{% if contact.vip %}</mj-raw>', '{% if contact.vip %}') });
    expect(dropped.status).toBe(400);
    expect(dropped.body.detail).toMatch(/line 7: MJML drops the Liquid \{% if contact\.vip %\}.*<mj-raw>/);

    const liquid = await post({ mjml: welcome.replace('{% endif %}', '{% endiff %}') });
    expect(liquid.status).toBe(400);
    expect(liquid.body.code).toBe('TEMPLATE_INVALID');
    expect(liquid.body.detail).toMatch(/body\/mjml: .*line:\d+/);

    expect((await post({ html: welcome })).body).toMatchObject({
      code: 'VALIDATION_FAILED',
      detail: expect.stringContaining('send it as mjml'),
    });
    expect((await post({ html: '<p>x</p>', mjml: welcome })).body.code).toBe('VALIDATION_FAILED');
    expect((await post({ mjml: '<p>not mjml</p>' })).body.code).toBe('TEMPLATE_INVALID');
    expect((await t.api('GET', '/v1/templates')).body.data).toEqual([]);
  });

  it('sends every campaign email with List-Unsubscribe headers, and a one-click POST unsubscribes once', async () => {
    t = await startTestHerald({ dialect });
    const { campaign, templateId } = await seedCampaign(t.api, { contacts: 3 });
    await t.api('PATCH', `/v1/templates/${templateId}`, {
      html: '<html><body><p>Hello {{ contact.firstName }}</p><a href="https://example.com/offer?x=1&amp;y=2">Offer</a> <a href="mailto:help@example.test">Help</a></body></html>',
    });
    await act(t.api, campaign.id, 'launch');
    expect(await waitFor(t.api, campaign.id, finished)).toMatchObject({ status: 'completed', counts: { sent: 3 } });

    const received = t.herald.mailbox!.latest({ campaignId: campaign.id, limit: 10 });
    expect(received).toHaveLength(3);
    const byAddress = new Map<string, string>();
    for (const m of received) {
      const headers = parseHeaders(m.raw!);
      expect(headers.get('list-unsubscribe')).toMatch(/^<http:\/\/127\.0\.0\.1:\d+\/u\/\d+\.\d+\.[A-Za-z0-9_-]{22}>$/);
      expect(headers.get('list-unsubscribe-post')).toBe('List-Unsubscribe=One-Click');
      byAddress.set(m.to[0]!, headers.get('list-unsubscribe')!.slice(1, -1));
    }

    const address = 'reader1@example.test';
    const url = byAddress.get(address)!;
    // Opening the link in a browser shows a confirmation and unsubscribes no one (mail scanners fetch links).
    const page = await t.herald.app.inject({ method: 'GET', url: pathOf(url) });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    expect(page.body).toContain(address);
    expect(page.body).toContain('<form method="post">');
    expect((await t.api('GET', `/v1/campaigns/${campaign.id}`)).body.counts.unsubscribed).toBe(0);

    for (let i = 0; i < 2; i++) {
      const oneClick = await t.herald.app.inject({
        method: 'POST',
        url: pathOf(url),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
      expect(oneClick.statusCode).toBe(200);
      expect(oneClick.body).toContain('You are unsubscribed');
    }
    const gone = (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?state=unsubscribed`)).body.data;
    expect(gone.map((m: { address: string }) => m.address)).toEqual([address]);
    expect((await t.api('GET', `/v1/campaigns/${campaign.id}`)).body.counts).toMatchObject({ sent: 3, unsubscribed: 1 });
    expect((await t.api('GET', `/v1/suppressions/${address}`)).body).toMatchObject({ reason: 'unsubscribe', source: campaign.id });

    // A forged token: 404, nothing changes.
    const forged = url.replace(/\/u\/(\d+)\.(\d+)\./, (_m, run: string, id: string) => `/u/${run}.${Number(id) + 1}.`);
    const refused = await t.herald.app.inject({ method: 'POST', url: pathOf(forged), payload: 'List-Unsubscribe=One-Click' });
    expect(refused.statusCode).toBe(404);
    expect((await t.api('GET', `/v1/campaigns/${campaign.id}`)).body.counts.unsubscribed).toBe(1);
  });

  it('records opens by the pixel and clicks by the redirect; forged tokens are 404 and change nothing', async () => {
    t = await startTestHerald({ dialect });
    const { campaign, templateId } = await seedCampaign(t.api, { contacts: 2 });
    await t.api('PATCH', `/v1/templates/${templateId}`, {
      html: '<html><body><p>Hi {{ contact.firstName }}</p><a href="https://example.com/offer?x=1&amp;y=2">Offer</a> <a href="mailto:help@example.test">Help</a> <a href="#top">Top</a></body></html>',
    });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, finished);
    const [message] = t.herald.mailbox!.latest({ campaignId: campaign.id, to: 'reader0@example.test', limit: 1 });
    const html = mimePart(message!.raw!, 'text/html');
    const text = mimePart(message!.raw!, 'text/plain');
    // Links untouched where they must be; the text part shows where links lead.
    expect(html).toContain('href="mailto:help@example.test"');
    expect(html).toContain('href="#top"');
    expect(html).not.toContain('https://example.com/offer');
    expect(text).toContain('Offer (https://example.com/offer?x=1&y=2)');
    const pixel = /<img src="([^"]+\/t\/o\/[^"]+)"/.exec(html)![1]!;
    const click = /<a href="([^"]+\/t\/c\/[^"]+)">Offer<\/a>/.exec(html)![1]!;
    const state = async () =>
      (await t.api('GET', `/v1/campaigns/${campaign.id}/messages?limit=10`)).body.data.find(
        (m: { address: string }) => m.address === 'reader0@example.test',
      ).state;

    // Forged first: a click token with another URL, an open token of another message.
    const parts = pathOf(click).split('.');
    parts[2] = Buffer.from('https://evil.example/').toString('base64url');
    const evil = await t.herald.app.inject({ method: 'GET', url: parts.join('.') });
    expect(evil.statusCode).toBe(404);
    expect(evil.headers.location).toBeUndefined();
    const otherOpen = pathOf(pixel).replace(/\/t\/o\/(\d+)\.(\d+)\./, (_m, run: string, id: string) => `/t/o/${run}.${Number(id) + 1}.`);
    expect((await t.herald.app.inject({ method: 'GET', url: otherOpen })).statusCode).toBe(404);
    expect(await state()).toBe('sent');

    const opened = await t.herald.app.inject({ method: 'GET', url: pathOf(pixel) });
    expect(opened.statusCode).toBe(200);
    expect(opened.headers['content-type']).toBe('image/gif');
    expect(opened.rawPayload.subarray(0, 6).toString()).toBe('GIF89a');
    expect(await state()).toBe('opened');

    const clicked = await t.herald.app.inject({ method: 'GET', url: pathOf(click) });
    expect(clicked.statusCode).toBe(302);
    expect(clicked.headers.location).toBe('https://example.com/offer?x=1&y=2');
    expect(await state()).toBe('clicked');
    // Again: still a redirect, still one click.
    expect((await t.herald.app.inject({ method: 'GET', url: pathOf(click) })).statusCode).toBe(302);
    expect((await t.api('GET', `/v1/campaigns/${campaign.id}`)).body.counts).toMatchObject({ sent: 2, clicked: 1 });
  });

  it('leaves tracking out when the template says so', async () => {
    t = await startTestHerald({ dialect });
    const { campaign, templateId } = await seedCampaign(t.api, { contacts: 1 });
    const patched = await t.api('PATCH', `/v1/templates/${templateId}`, {
      html: '<p>Hi</p><a href="https://example.com/a">A</a>',
      tracking: { opens: false, clicks: false },
    });
    expect(patched.body.tracking).toEqual({ opens: false, clicks: false });
    await act(t.api, campaign.id, 'launch');
    await waitFor(t.api, campaign.id, finished);
    const [message] = t.herald.mailbox!.latest({ campaignId: campaign.id, limit: 1 });
    const html = mimePart(message!.raw!, 'text/html');
    expect(html).toContain('href="https://example.com/a"');
    expect(html).not.toContain('/t/o/');
    expect(html).toContain('/u/');
  });

  it('previews for a stored contact, previews SMS with its segments, and names a render error', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const contact = await t.api('POST', '/v1/contacts', { email: 'zoe@example.test', firstName: 'Zoë', attributes: { city: 'Köln' } });
    const email = await t.api('POST', '/v1/templates', {
      name: 'E',
      subject: '{{ contact.firstName }} in {{ contact.city }}',
      html: '<p>Hi</p>',
      text: 'Hi {{ contact.firstName }}',
    });
    const preview = await t.api('POST', `/v1/templates/${email.body.id}/preview`, { contactId: contact.body.id });
    expect(preview.status).toBe(200);
    expect(preview.body).toMatchObject({ channel: 'email', subject: 'Zoë in Köln', content: null, sms: null });
    expect(preview.body.text).toMatch(/^Hi Zoë\n\n--\nUnsubscribe: http:\/\/.+\/u\/0\.0\./);
    expect((await t.api('POST', `/v1/templates/${email.body.id}/preview`, { contactId: 999999 })).status).toBe(404);

    const sms = await t.api('POST', '/v1/templates', { name: 'S', channel: 'sms', content: { text: 'Hi {{ contact.firstName }} 😀' } });
    const smsPreview = await t.api('POST', `/v1/templates/${sms.body.id}/preview`, { contact: { firstName: 'Al' } });
    expect(smsPreview.status).toBe(200);
    expect(smsPreview.body).toMatchObject({
      channel: 'sms',
      content: { channel: 'sms', body: 'Hi Al 😀' },
      sms: { segments: 1, encoding: 'UCS-2' },
    });

    const slow = await t.api('POST', '/v1/templates', {
      name: 'Slow',
      subject: 'S',
      html: 'ok\n{% for i in (1..10000000) %}xxxxxxxxxx{% endfor %}',
    });
    const limited = await t.api('POST', `/v1/templates/${slow.body.id}/preview`, {});
    expect(limited.status).toBe(400);
    expect(limited.body.code).toBe('TEMPLATE_INVALID');
  });

  it('sends a test to an address through the sandbox, recorded in no run', async () => {
    t = await startTestHerald({ dialect, startEngine: false });
    const { templateId, senderId } = await seedCampaign(t.api, { contacts: 1 });
    const sent = await t.api('POST', `/v1/templates/${templateId}/test`, {
      to: 'tester@example.test',
      senderId,
      contact: { firstName: 'Tess' },
    });
    expect(sent.status).toBe(200);
    expect(sent.body).toMatchObject({ sent: true, channel: 'email', to: 'tester@example.test', error: null });
    const [got] = t.herald.mailbox!.latest({ to: 'tester@example.test', limit: 5 });
    expect(got).toMatchObject({ subject: 'Hi Tess' });
    const headers = parseHeaders(got!.raw!);
    expect(headers.get('x-herald-test')).toBe('true');
    expect(headers.get('list-unsubscribe')).toMatch(/\/u\/0\.\d+\./);
    // Its unsubscribe link knows it is a test.
    const page = await t.herald.app.inject({ method: 'POST', url: pathOf(headers.get('list-unsubscribe')!.slice(1, -1)) });
    expect(page.body).toContain('test message');
    // A second test is a message of its own.
    await t.api('POST', `/v1/templates/${templateId}/test`, { to: 'tester@example.test', senderId });
    expect(t.herald.mailbox!.latest({ to: 'tester@example.test', limit: 5 })).toHaveLength(2);

    const failing = await t.api('POST', `/v1/templates/${templateId}/test`, { to: 'nobody+fail@example.test', senderId });
    expect(failing.body).toMatchObject({ sent: false, error: { code: 'SMTP_550' } });

    const smsSender = await t.api('POST', '/v1/senders', { name: 'SMS', channel: 'sms', address: '+15550100000' });
    expect((await t.api('POST', `/v1/templates/${templateId}/test`, { to: '+15550100001', senderId: smsSender.body.id })).status).toBe(400);
    const sms = await t.api('POST', '/v1/templates', { name: 'S', channel: 'sms', content: { text: 'Code {{ contact.firstName }}' } });
    const smsSent = await t.api('POST', `/v1/templates/${sms.body.id}/test`, { to: '+15550100001', senderId: smsSender.body.id });
    expect(smsSent.body).toMatchObject({ sent: true, channel: 'sms' });
  });
});
