import { type ChannelAdapter, type Outgoing, type OutgoingEmail, ProviderFatalError, type SendResult } from '../channels/channel.js';
import type { ClaimedMessage } from '../store/ledger/claim-batch.js';
import { type ChannelRunContent, renderForChannel } from './render-channels.js';
import { type EmailContent, isRenderLimit, renderEmail } from './render.js';

/** What a run sends: email's subject/html/text, or another channel's content. */
export type RunContent = EmailContent | ChannelRunContent;

/** Any adapter the engine drives: email's (SMTP, HTTP) or another channel's. */
export type AnyAdapter = ChannelAdapter<OutgoingEmail> | ChannelAdapter<Outgoing>;

/** A message the engine records without sending it: skipped or failed before the provider. */
export interface Unsent {
  readonly id: number;
  readonly state: 'failed' | 'suppressed';
  readonly code: string;
  readonly detail: string;
}

/** What became of one claimed batch between the claim and the record. */
export interface BatchResult {
  /** Messages handed to the provider. */
  readonly handed: number;
  readonly unsent: readonly Unsent[];
  readonly results: readonly SendResult[];
  /** The campaign cannot go on (the provider refused it whole, or the template broke its bounds). */
  readonly fatal?: { readonly code: string; readonly message: string };
}

/** Renders a claimed batch and sends it: in the engine's thread, or in send threads (send-threads.ts). */
export interface RenderSend {
  renderAndSend(content: RunContent, messages: readonly ClaimedMessage[]): Promise<BatchResult>;
  close(): Promise<void>;
}

/**
 * Renders each message (Liquid), sends the rendered ones through the adapter, and answers
 * what happened to each, never throwing for one message: a deleted contact is `suppressed`,
 * a template error fails that recipient, a template past its render bounds or a provider's
 * refusal of the whole campaign is `fatal` (with the results of what went out before it).
 */
export async function renderAndSend(adapter: AnyAdapter, content: RunContent, messages: readonly ClaimedMessage[]): Promise<BatchResult> {
  const unsent: Unsent[] = [];
  const ready: (OutgoingEmail | Outgoing)[] = [];
  for (const m of messages) {
    if (!m.contact) {
      unsent.push({
        id: m.id,
        state: 'suppressed',
        code: 'CONTACT_DELETED',
        detail: 'The contact was deleted before the message went out.',
      });
      continue;
    }
    try {
      ready.push('channel' in content ? renderForChannel(content, m, m.contact) : renderEmail(content, m, m.contact));
    } catch (err) {
      // A template past its time or memory bounds is the campaign's problem, not this
      // recipient's: stop before sending anything and fail the campaign (retry resumes).
      if (isRenderLimit(err))
        return {
          handed: 0,
          unsent,
          results: [],
          fatal: { code: 'TEMPLATE_RENDER_LIMIT', message: `The template exceeded its render limits: ${(err as Error).message}` },
        };
      unsent.push({ id: m.id, state: 'failed', code: 'TEMPLATE_RENDER', detail: (err as Error).message });
    }
  }
  if (ready.length === 0) return { handed: 0, unsent, results: [] };
  try {
    // The engine pairs each run with its channel's adapter, so `ready` is of the adapter's shape.
    return { handed: ready.length, unsent, results: await (adapter as ChannelAdapter<OutgoingEmail | Outgoing>).send(ready) };
  } catch (err) {
    if (!(err instanceof ProviderFatalError)) throw err;
    return { handed: ready.length, unsent, results: err.results, fatal: { code: err.code, message: err.message } };
  }
}

/** Rendering and sending in the engine's own thread. */
export function inlineRenderSend(adapter: AnyAdapter): RenderSend {
  return {
    renderAndSend: (content, messages) => renderAndSend(adapter, content, messages),
    close: async () => undefined,
  };
}
