import { readFileSync } from 'node:fs';
import { type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type OutgoingVoice, ProviderFatalError } from '../../src/channels/channel.js';
import type { ReceiptRequest, SenderIdentity } from '../../src/channels/provider.js';
import { TwilioVoiceAdapter, statusCallbackEvents, toCallRequest, twimlOf, xmlEscape } from '../../src/channels/twilio-voice/adapter.js';
import { twilioVoiceProvider } from '../../src/channels/twilio-voice/index.js';
import { parseTwilioVoiceReceipt, twilioCallStatuses, twilioVoiceReceipts } from '../../src/channels/twilio-voice/receipts.js';
import {
  type TwilioConfig,
  sandboxTwilioAccountSid,
  sandboxTwilioAuthToken,
  sandboxTwilioConfig,
} from '../../src/channels/twilio/config.js';
import { type TwilioSandboxServer, startTwilioSandbox } from '../../src/channels/twilio/sandbox.js';
import { startReceiptSink } from './receipt-sink.js';
import { specPath } from '../specs/spec-path.js';

const envSender: SenderIdentity = { id: null, name: null, address: '+15557654321', credentials: {} };

function call(id: number, overrides: Partial<OutgoingVoice> = {}, runId = 7): OutgoingVoice {
  return {
    channel: 'voice',
    messageId: id,
    runId,
    ledgerKey: `${runId}.${id}`,
    to: `+1555000${String(id).padStart(4, '1')}`,
    from: '+15557654321',
    say: `Your appointment is tomorrow, caller ${id}.`,
    audioUrl: null,
    voice: 'alice',
    language: 'en-GB',
    ...overrides,
  };
}

let sandbox: TwilioSandboxServer | undefined;
const servers: Server[] = [];
const adapters: TwilioVoiceAdapter[] = [];
afterEach(async () => {
  for (const a of adapters.splice(0)) await a.close();
  await sandbox?.drainReceipts();
  await sandbox?.close();
  sandbox = undefined;
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
});

function adapterFor(config: TwilioConfig, receiptUrl: string | null = null, sender: SenderIdentity = envSender): TwilioVoiceAdapter {
  const a = new TwilioVoiceAdapter(config, sender, { receiptUrl });
  adapters.push(a);
  return a;
}

const form = (r: ReceiptRequest) => Object.fromEntries(new URLSearchParams(r.rawBody.toString()));
const eventsOf = (requests: readonly ReceiptRequest[]) =>
  requests.flatMap((r) => {
    const parsed = twilioVoiceReceipts.parse(r);
    return parsed.ok ? parsed.events : [];
  });

describe('placing calls through the sandbox Twilio', () => {
  it('creates one Call per message and answers its CA sid; the sandbox heard the script', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const adapter = adapterFor({ ...sandboxTwilioConfig(sandbox.url), concurrency: 1 });
    const results = await adapter.send([call(1), call(2, { say: null, audioUrl: 'https://cdn.example/a.mp3?x=1&y=2' })]);
    expect(results).toEqual([1, 2].map((id) => ({ messageId: id, ok: true, providerId: expect.stringMatching(/^CA[0-9a-f]{32}$/) })));
    expect(adapter.capabilities).toEqual({ batchSize: 1, concurrency: 1, idempotent: false, costUnit: 'call' });
    expect(sandbox.messages().map((m) => [m.channel, m.summary])).toEqual([
      ['voice', 'Your appointment is tomorrow, caller 1.'],
      ['voice', '▶ https://cdn.example/a.mp3?x=1&y=2'],
    ]);
  });

  it('refuses a call with no script, or TwiML over 4,000 characters, without calling Twilio', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const results = await adapterFor(sandboxTwilioConfig(sandbox.url)).send([
      call(1, { say: null, audioUrl: null }),
      call(2, { say: '&'.repeat(800) }),
    ]);
    expect(results).toEqual([
      expect.objectContaining({
        messageId: 1,
        ok: false,
        kind: 'permanent',
        code: 'TWILIO_INVALID_MESSAGE',
        detail: expect.stringMatching(/neither/),
      }),
      expect.objectContaining({
        messageId: 2,
        ok: false,
        kind: 'permanent',
        code: 'TWILIO_INVALID_MESSAGE',
        detail: expect.stringMatching(/4000/),
      }),
    ]);
    expect(sandbox.requests).toBe(0);
  });

  it('maps Twilio’s refusals: an invalid number is permanent, a 429 transient, a bad caller id fatal', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null, retryAfterSeconds: 0 });
    const adapter = adapterFor({ ...sandboxTwilioConfig(sandbox.url), concurrency: 1 });
    const results = await adapter.send([call(1, { to: '+15005550001' }), call(2, { to: '+15550000429' }), call(3, { to: 'sip:x' })]);
    expect(results.map((r) => (r.ok ? 'ok' : `${r.kind}:${r.code}`))).toEqual([
      'permanent:TWILIO_INVALID_TO',
      'transient:TWILIO_THROTTLED',
      'permanent:TWILIO_INVALID_TO',
    ]);
    const err = await adapter.send([call(4, { from: '+15005550001' })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderFatalError);
    expect((err as ProviderFatalError).code).toBe('TWILIO_SENDER');
  });

  it('throws TWILIO_AUTH when Twilio refuses the credentials', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const err = await adapterFor(sandboxTwilioConfig(sandbox.url, sandboxTwilioAccountSid, 'nope'))
      .send([call(1)])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderFatalError);
    expect((err as ProviderFatalError).code).toBe('TWILIO_AUTH');
    expect(sandbox.accepted).toBe(0);
  });
});

describe('the call’s TwiML', () => {
  it('says the script with its voice and language, every XML special character escaped', () => {
    expect(twimlOf(call(1, { say: `Tom & Jerry's <b>"show"</b>`, voice: 'Polly.Amy', language: 'en-GB' }))).toBe(
      '<Response><Say voice="Polly.Amy" language="en-GB">Tom &amp; Jerry&apos;s &lt;b&gt;&quot;show&quot;&lt;/b&gt;</Say></Response>',
    );
    expect(twimlOf(call(1, { say: 'Hi', voice: null, language: null }))).toBe('<Response><Say>Hi</Say></Response>');
    expect(twimlOf(call(1, { voice: 'x" loop="0' }))).toContain('voice="x&quot; loop=&quot;0"');
  });

  it('plays a recording, and drops characters XML cannot carry', () => {
    expect(twimlOf(call(1, { say: null, audioUrl: 'https://a.example/x.mp3?a=1&b=2' }))).toBe(
      '<Response><Play>https://a.example/x.mp3?a=1&amp;b=2</Play></Response>',
    );
    expect(xmlEscape('a\u0000b\u0007c\td 😀')).toBe('abc\td 😀');
  });
});

describe('call status callbacks', () => {
  it('posts the progress events it asked for, signed; only completed becomes delivered', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-voice/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const config = sandboxTwilioConfig(sandbox.url);
    const [result] = await adapterFor(config, collector.url).send([call(9)]);
    await sandbox.drainReceipts();
    expect(collector.received.map((r) => form(r).CallStatus)).toEqual(['initiated', 'ringing', 'in-progress', 'completed']);
    expect(collector.received.map((r) => form(r).SequenceNumber)).toEqual(['0', '1', '2', '3']);
    for (const request of collector.received) {
      expect(request.url).toBe(`${collector.url}?m=7.9`);
      expect(twilioVoiceReceipts.verify(request, config, envSender)).toBe(true);
    }
    expect(eventsOf(collector.received)).toEqual([
      { message: { runId: 7, messageId: 9 }, providerId: result!.ok ? result!.providerId : 'x', type: 'delivered', at: expect.any(Date) },
    ]);
  });

  it.each([
    ['+15550003003', 'busy', 'TWILIO_CALL_BUSY'],
    ['+15550003005', 'no-answer', 'TWILIO_CALL_NO_ANSWER'],
  ])('a call to %s ends %s: failed with %s', async (to, status, code) => {
    const collector = await startReceiptSink('/v1/receipts/twilio-voice/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    await adapterFor(sandboxTwilioConfig(sandbox.url), collector.url).send([call(3, { to })]);
    await sandbox.drainReceipts();
    expect(collector.received.map((r) => form(r).CallStatus)).toEqual(['initiated', 'ringing', status]);
    expect(eventsOf(collector.received)).toEqual([expect.objectContaining({ message: { runId: 7, messageId: 3 }, type: 'failed', code })]);
  });

  it('refuses a callback whose body or URL was tampered with', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-voice/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const config = sandboxTwilioConfig(sandbox.url);
    await adapterFor(config, collector.url).send([call(9)]);
    await sandbox.drainReceipts();
    const signed = collector.received.at(-1)!;
    expect(twilioVoiceReceipts.verify(signed, config, envSender)).toBe(true);
    const body = signed.rawBody.toString();
    expect(
      twilioVoiceReceipts.verify(
        { ...signed, rawBody: Buffer.from(body.replace('CallStatus=completed', 'CallStatus=busy')) },
        config,
        envSender,
      ),
    ).toBe(false);
    expect(twilioVoiceReceipts.verify({ ...signed, url: `${signed.url}&x=1` }, config, envSender)).toBe(false);
    expect(twilioVoiceReceipts.verify(signed, { ...config, authToken: sandboxTwilioAuthToken + 'x' }, envSender)).toBe(false);
  });

  it('without a receipt URL asks for no events; the sandbox posts completed alone to its own receipt URL', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-voice/snd_1');
    servers.push(collector.server);
    sandbox = await startTwilioSandbox({ receiptUrl: () => collector.url });
    const request = toCallRequest(call(1), null);
    expect('form' in request && [...request.form.keys()]).toEqual(['To', 'From', 'Twiml']);
    await adapterFor(sandboxTwilioConfig(sandbox.url), null).send([call(1)]);
    await sandbox.drainReceipts();
    expect(collector.received.map((r) => [r.url, form(r).CallStatus])).toEqual([[collector.url, 'completed']]);
    expect(eventsOf(collector.received)).toEqual([
      expect.objectContaining({ message: null, providerId: expect.stringMatching(/^CA/), type: 'delivered' }),
    ]);
  });

  const callback = (fields: Record<string, string>): ReceiptRequest => ({
    url: 'https://herald.example/v1/receipts/twilio-voice/snd_1?m=3.9',
    method: 'POST',
    headers: {},
    rawBody: Buffer.from(new URLSearchParams(fields).toString()),
  });

  it.each([
    ['queued', []],
    ['initiated', []],
    ['ringing', []],
    ['in-progress', []],
    ['completed', [{ type: 'delivered' }]],
    ['busy', [{ type: 'failed', code: 'TWILIO_CALL_BUSY', detail: 'The line was busy' }]],
    ['no-answer', [{ type: 'failed', code: 'TWILIO_CALL_NO_ANSWER', detail: 'Nobody answered' }]],
    ['failed', [{ type: 'failed', code: 'TWILIO_CALL_FAILED', detail: 'Twilio could not place the call' }]],
    ['canceled', [{ type: 'failed', code: 'TWILIO_CALL_CANCELED', detail: 'The call was canceled before it was answered' }]],
  ])('CallStatus %s → %o, at the callback’s Timestamp', (status, expected) => {
    const parsed = parseTwilioVoiceReceipt(callback({ CallSid: 'CA1', CallStatus: status, Timestamp: 'Sun, 01 Mar 2026 12:00:00 +0000' }));
    expect(parsed).toEqual({
      ok: true,
      events: expected.map((e) => ({ message: { runId: 3, messageId: 9 }, providerId: 'CA1', at: new Date('2026-03-01T12:00:00Z'), ...e })),
    });
  });

  it('keeps Twilio’s error code in the detail, and refuses a callback without CallStatus', () => {
    const parsed = parseTwilioVoiceReceipt(callback({ CallSid: 'CA1', CallStatus: 'failed', ErrorCode: '13224' }));
    expect(parsed.ok && parsed.events[0]?.detail).toBe('Twilio could not place the call (Twilio error 13224)');
    expect(parseTwilioVoiceReceipt(callback({ CallSid: 'CA1' }))).toEqual({ ok: false, detail: expect.stringMatching(/CallStatus/) });
  });
});

describe('the twilio-voice provider module', () => {
  it('starts a sandbox whose config places calls and whose callbacks its handler verifies', async () => {
    const collector = await startReceiptSink('/v1/receipts/twilio-voice/snd_1');
    servers.push(collector.server);
    const started = await twilioVoiceProvider.startSandbox({ receiptUrl: () => collector.url });
    sandbox = started.server as TwilioSandboxServer;
    expect(twilioVoiceProvider).toMatchObject({ name: 'twilio-voice', channel: 'voice', credentialFields: ['accountSid', 'authToken'] });
    const adapter = twilioVoiceProvider.createAdapter(started.config, envSender, { receiptUrl: collector.url });
    try {
      expect(await adapter.send([call(1)])).toEqual([expect.objectContaining({ ok: true })]);
    } finally {
      await adapter.close();
    }
    await started.server.drainReceipts();
    expect(collector.received).toHaveLength(4);
    expect(collector.received.every((r) => twilioVoiceProvider.receipts!.verify(r, started.config, envSender))).toBe(true);
  });
});

describe('contract with Twilio’s OpenAPI description (twilio_api_v2010.json)', () => {
  const spec = JSON.parse(readFileSync(specPath('twilio_api_v2010.json'), 'utf8'));
  const path = '/2010-04-01/Accounts/{AccountSid}/Calls.json';

  it('posts only form fields the create-Call operation defines, including every required one', () => {
    const operation = spec.paths[path]?.post;
    expect(operation?.operationId).toBe('CreateCall');
    const schema = operation.requestBody.content['application/x-www-form-urlencoded'].schema;
    const request = toCallRequest(call(1), 'https://herald.example/v1/receipts/twilio-voice/snd_1');
    if (!('form' in request)) throw new Error('the call was refused');
    const sent = [...new Set(request.form.keys())];
    expect(sent).toEqual(['To', 'From', 'Twiml', 'StatusCallback', 'StatusCallbackMethod', 'StatusCallbackEvent']);
    for (const field of sent) expect(Object.keys(schema.properties)).toContain(field);
    for (const field of schema.required ?? []) expect(sent).toContain(field);
    expect(request.form.getAll('StatusCallbackEvent')).toEqual([...statusCallbackEvents]);
    expect(request.form.get('Twiml')!.length).toBeLessThanOrEqual(4000);
  });

  it('asks only for progress events, and maps only call statuses, that the spec defines', () => {
    expect(spec.components.schemas.call_enum_event.enum).toEqual(expect.arrayContaining([...statusCallbackEvents]));
    expect([...spec.components.schemas.call_enum_status.enum].sort()).toEqual([...twilioCallStatuses].sort());
  });

  it('has the sandbox answer a create with fields of the spec’s Call resource', async () => {
    sandbox = await startTwilioSandbox({ receiptUrl: () => null });
    const request = toCallRequest(call(1), null);
    if (!('form' in request)) throw new Error('the call was refused');
    const response = await fetch(`${sandbox.url}/2010-04-01/Accounts/${sandboxTwilioAccountSid}/Calls.json`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${sandboxTwilioAccountSid}:${sandboxTwilioAuthToken}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: request.form.toString(),
    });
    expect(response.status).toBe(201);
    const created = (await response.json()) as Record<string, unknown>;
    const properties = Object.keys(spec.components.schemas['api.v2010.account.call'].properties);
    for (const field of Object.keys(created)) expect(properties).toContain(field);
    expect(created).toMatchObject({ status: 'queued', sid: expect.stringMatching(/^CA/), to: call(1).to });
  });
});
