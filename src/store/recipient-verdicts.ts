import { type Kysely, sql } from 'kysely';
import type { RecipientVerdict } from '../channels/receipts.js';
import type { Channel } from '../domain/lifecycle.js';
import { type SuppressionEntry, type SuppressionReason, normaliseAddress } from '../domain/suppression.js';
import { suppressionAddressOf } from './addresses.js';
import { inList } from './dialect.js';
import type { Database } from './schema.js';
import { addSuppressions } from './suppressions.js';

/** What a provider said about one recipient address (SendResult.recipient, or a receipt's). */
export interface AddressVerdict {
  /** The channel address as the ledger holds it (messages.address; see store/addresses.ts). */
  readonly address: string;
  readonly verdict: RecipientVerdict;
}

export interface VerdictsApplied {
  /** Push devices newly marked gone or invalid. */
  readonly devices: number;
  /** Addresses put on the suppression list, or whose entry was refreshed. */
  readonly suppressed: number;
  /** Verdicts that mean nothing for the channel, or whose address could not be read. */
  readonly ignored: number;
}

/** A verdict on a push device: the device's kind and token, and the status it takes. */
interface DeviceVerdict {
  readonly kind: 'webpush' | 'mobilepush';
  readonly token: string;
  readonly status: 'gone' | 'invalid';
}

/** The web push endpoint of an address: the PushSubscription JSON's endpoint, or a bare endpoint URL. */
function endpointOf(address: string): string | null {
  try {
    const parsed: unknown = JSON.parse(address);
    const endpoint = (parsed as { endpoint?: unknown } | null)?.endpoint;
    return typeof endpoint === 'string' && endpoint !== '' ? endpoint : null;
  } catch {
    return /^https?:\/\//.test(address) ? address : null;
  }
}

/**
 * Reads a verdict into what the audience must change, without writing: a push device to
 * mark, or a suppression entry (reason `unsubscribe`: the person blocked the bot or left
 * the Viber account), or nothing for verdicts that say nothing on this channel.
 */
export function verdictEffect(
  channel: Channel,
  v: AddressVerdict,
  source: string | null,
): { device: DeviceVerdict } | { suppression: SuppressionEntry } | null {
  if (channel === 'webpush' && (v.verdict === 'gone' || v.verdict === 'invalid')) {
    const token = endpointOf(v.address);
    return token === null ? null : { device: { kind: 'webpush', token, status: v.verdict } };
  }
  if (channel === 'push' && (v.verdict === 'gone' || v.verdict === 'invalid'))
    return { device: { kind: 'mobilepush', token: v.address, status: v.verdict } };
  if ((channel === 'telegram' || channel === 'viber') && v.verdict === 'blocked')
    return suppressionEntry(channel, v.address, 'unsubscribe', source, null);
  return null;
}

/** A suppression entry for a channel address, normalised; null when the channel or the address does not fit the list. */
export function suppressionEntry(
  channel: Channel,
  address: string,
  reason: SuppressionReason,
  source: string | null,
  note: string | null,
): { suppression: SuppressionEntry } | null {
  const spelled = suppressionAddressOf(channel, address);
  const n = spelled === null ? null : normaliseAddress(spelled);
  return n?.ok ? { suppression: { ...n.value, reason, source, note } } : null;
}

/** Marks push devices gone or invalid, one statement per status; only active ones change. */
export async function markDevices(
  db: Kysely<Database>,
  workspaceId: string,
  devices: readonly DeviceVerdict[],
  now: Date,
): Promise<number> {
  let changed = 0;
  for (const status of ['gone', 'invalid'] as const) {
    for (const kind of ['webpush', 'mobilepush'] as const) {
      const tokens = [...new Set(devices.filter((d) => d.status === status && d.kind === kind).map((d) => d.token))];
      if (tokens.length === 0) continue;
      // By the unique (workspace_id, kind, token) index: one probe per token.
      const result = await db
        .updateTable('contact_devices')
        .set({ status, updated_at: now.toISOString() })
        .where('workspace_id', '=', workspaceId)
        .where('kind', '=', kind)
        .where(inList(sql.ref('token'), tokens))
        .where('status', '=', 'active')
        .executeTakeFirst();
      changed += Number(result.numUpdatedRows);
    }
  }
  return changed;
}

/**
 * Records what providers said about recipients' addresses while sending (DESIGN §4), so
 * the next snapshot and the next send skip them: a web push subscription the push service
 * answered 404/410 for turns `gone` (the address is the PushSubscription JSON; its endpoint
 * is the device's token), an FCM token it calls invalid turns `invalid`; a Telegram chat
 * that blocked the bot or a Viber user who unsubscribed goes on the suppression list as
 * `telegram:<chat id>` / `viber:<user id>` with reason `unsubscribe`. Idempotent: a device
 * already marked stays as it is, a suppressed address keeps its first date.
 *
 * @example await applyRecipientVerdicts(db, { workspaceId, channel: 'telegram', verdicts: [{ address: '42', verdict: 'blocked' }], now })
 */
export async function applyRecipientVerdicts(
  db: Kysely<Database>,
  args: {
    workspaceId: string;
    channel: Channel;
    verdicts: readonly AddressVerdict[];
    now: Date;
    /** What caused it, e.g. the campaign id. */
    source?: string | null;
  },
): Promise<VerdictsApplied> {
  const devices: DeviceVerdict[] = [];
  const suppressions: SuppressionEntry[] = [];
  let ignored = 0;
  for (const v of args.verdicts) {
    const effect = verdictEffect(args.channel, v, args.source ?? null);
    if (effect === null) ignored++;
    else if ('device' in effect) devices.push(effect.device);
    else suppressions.push(effect.suppression);
  }
  const marked = await markDevices(db, args.workspaceId, devices, args.now);
  const written =
    suppressions.length > 0 ? await addSuppressions(db, args.workspaceId, suppressions, args.now) : { created: 0, updated: 0 };
  return { devices: marked, suppressed: written.created + written.updated, ignored };
}
