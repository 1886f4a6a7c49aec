import type { FailureReason } from './campaign.js';
import type { Channel } from './lifecycle.js';

/**
 * Preflight (DESIGN §5, seed 003's failure reasons): everything that would stop a campaign
 * from going out, all at once, from facts the caller gathered. Runs before schedule,
 * launch, restart and retry, and again when a scheduled campaign comes due.
 */
export interface PreflightFacts {
  readonly channel: Channel;
  readonly templateId: string | null;
  readonly template: { readonly deleted: boolean; readonly channel: string } | null;
  readonly senderId: string | null;
  readonly sender: { readonly deleted: boolean; readonly status: string; readonly channel: string } | null;
  readonly lists: readonly { readonly id: string; readonly found: boolean; readonly deleted: boolean }[];
  /** Segments the audience names that no longer exist. */
  readonly missingSegments?: readonly string[];
  /** Include segments that select nobody on the campaign's lists. */
  readonly emptySegments?: readonly string[];
  /** Contacts of the audience before the exclude segments (null when not counted). */
  readonly beforeExclusions?: number | null;
  /** Contacts of the audience with an address for the channel (null when the audience is not checked). */
  readonly audienceCount: number | null;
  readonly providerConfigured: boolean;
}

export const preflightCodes = [
  'TEMPLATE_MISSING',
  'SENDER_MISSING',
  'SENDER_PAUSED',
  'SENDER_DELETED',
  'LIST_DELETED',
  'SEGMENT_DELETED',
  'SEGMENT_EMPTY',
  'AUDIENCE_CONFLICT',
  'AUDIENCE_EMPTY',
  'PROVIDER_NOT_CONFIGURED',
] as const;

export function preflight(f: PreflightFacts): FailureReason[] {
  const reasons: FailureReason[] = [];
  if (!f.templateId) reasons.push({ code: 'TEMPLATE_MISSING', detail: 'The campaign has no template.' });
  else if (!f.template || f.template.deleted)
    reasons.push({ code: 'TEMPLATE_MISSING', detail: `Template ${f.templateId} was deleted or does not exist.` });
  else if (f.template.channel !== f.channel)
    reasons.push({ code: 'TEMPLATE_MISSING', detail: `Template ${f.templateId} is for ${f.template.channel}, not ${f.channel}.` });

  if (!f.senderId) reasons.push({ code: 'SENDER_MISSING', detail: 'The campaign has no sender.' });
  else if (!f.sender || f.sender.deleted)
    reasons.push({ code: 'SENDER_DELETED', detail: `Sender ${f.senderId} was deleted or does not exist.` });
  else if (f.sender.status === 'paused') reasons.push({ code: 'SENDER_PAUSED', detail: `Sender ${f.senderId} is paused.` });

  for (const list of f.lists) {
    if (!list.found || list.deleted) reasons.push({ code: 'LIST_DELETED', detail: `List ${list.id} was deleted or does not exist.` });
  }
  for (const id of f.missingSegments ?? []) reasons.push({ code: 'SEGMENT_DELETED', detail: `Segment ${id} was deleted or does not exist.` });
  for (const id of f.emptySegments ?? [])
    reasons.push({ code: 'SEGMENT_EMPTY', detail: `Segment ${id} selects no contact of the campaign's lists.` });
  if (f.lists.length === 0) reasons.push({ code: 'AUDIENCE_EMPTY', detail: 'The campaign targets no list.' });
  else if (f.audienceCount === 0 && (f.beforeExclusions ?? 0) > 0)
    reasons.push({
      code: 'AUDIENCE_CONFLICT',
      detail: `The exclude segments remove all ${f.beforeExclusions} contacts the lists and include segments select.`,
    });
  else if (f.audienceCount === 0)
    reasons.push({ code: 'AUDIENCE_EMPTY', detail: `No contact of the campaign's audience has an address for ${f.channel}.` });

  if (!f.providerConfigured)
    reasons.push({
      code: 'PROVIDER_NOT_CONFIGURED',
      detail: `No ${f.channel} provider is configured and sandbox mode is off (set SMTP_HOST, or HERALD_SANDBOX=on).`,
    });
  return reasons;
}
