import { type RawBuilder, sql } from 'kysely';
import { assertUnreachable } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';
import type { SuppressionKind } from '../domain/suppression.js';
import type { SqlDialect } from './dialect.js';

/**
 * The one place that says where a channel reaches a contact (DESIGN §5), as an SQL
 * expression over `contacts as c`: the snapshot writes it into `messages.address`,
 * preflight and the audience estimate count the contacts for whom it is null.
 *
 * - email → `c.email`; sms and voice → `c.phone` (E.164); telegram → `c.telegram_chat_id`;
 *   viber → `c.viber_id`;
 * - webpush → the contact's newest `active` subscription as the PushSubscription JSON
 *   `{"endpoint": …, "keys": {"p256dh": …, "auth": …}}` the web push adapter encrypts to
 *   (built per dialect; a subscription a push service answered 404/410 for is `gone` and
 *   never used);
 * - push → the FCM token of the contact's newest `active` mobile device;
 * - webhook → the contact id: the workspace's endpoint receives every contact.
 */
export function addressOf(channel: Channel, dialect: SqlDialect): RawBuilder<string | null> {
  switch (channel) {
    case 'email':
      return sql`c.email`;
    case 'sms':
    case 'voice':
      return sql`c.phone`;
    case 'telegram':
      return sql`c.telegram_chat_id`;
    case 'viber':
      return sql`c.viber_id`;
    case 'webpush':
      return newestDevice(
        'webpush',
        dialect === 'postgres'
          ? sql`json_build_object('endpoint', d.token, 'keys', cast(d.keys as json))::text`
          : sql`json_object('endpoint', d.token, 'keys', json(d.keys))`,
      );
    case 'push':
      return newestDevice('mobilepush', sql`d.token`);
    case 'webhook':
      return sql`cast(c.id as text)`;
    default:
      return assertUnreachable(channel);
  }
}

/** The address of a contact's newest active device of a kind, by the (contact_id) index. */
function newestDevice(kind: 'webpush' | 'mobilepush', address: RawBuilder<string>): RawBuilder<string | null> {
  return sql`(
    select ${address} from contact_devices d
    where d.contact_id = c.id and d.kind = ${kind} and d.status = 'active'
    order by d.id desc
    limit 1
  )`;
}

/**
 * Which kind of suppressed address stops a channel; null where the suppression list does
 * not apply (a push device that stopped working is marked on the device instead).
 */
export function suppressionKindOf(channel: Channel): SuppressionKind | null {
  switch (channel) {
    case 'email':
      return 'email';
    case 'sms':
    case 'voice':
      return 'phone';
    case 'telegram':
      return 'telegram';
    case 'viber':
      return 'viber';
    case 'webpush':
    case 'push':
    case 'webhook':
      return null;
    default:
      return assertUnreachable(channel);
  }
}

/**
 * How the suppression list spells a channel address: emails and phones as the contact
 * holds them, a Telegram chat as `telegram:<chat id>`, a Viber user as `viber:<user id>`
 * (a chat id alone could be mistaken for another channel's). Null for channels the list
 * does not cover.
 */
export function suppressionAddressOf(channel: Channel, address: string): string | null {
  const kind = suppressionKindOf(channel);
  return kind === 'telegram' || kind === 'viber' ? `${kind}:${address}` : kind === null ? null : address;
}

/**
 * Whether `address` (an expression holding a channel address of the workspace) is on the
 * suppression list: one probe of the (workspace_id, address) primary key per row, so it
 * stays cheap inside a million-row `INSERT … SELECT`; Telegram and Viber addresses are
 * probed with their prefix (see `suppressionAddressOf`). Constant false for channels the
 * list does not cover.
 */
export function suppressedAddress(
  channel: Channel,
  workspaceId: string | RawBuilder<string>,
  address: RawBuilder<unknown>,
): RawBuilder<boolean> {
  const kind = suppressionKindOf(channel);
  if (kind === null) return sql<boolean>`1 = 0`;
  const spelled = kind === 'telegram' || kind === 'viber' ? sql`${sql.lit(`${kind}:`)} || ${address}` : address;
  return sql<boolean>`exists (select 1 from suppressions s where s.workspace_id = ${workspaceId} and s.address = ${spelled})`;
}

/**
 * A campaign with fallback channels (DESIGN §8) reaches a contact on the first channel of
 * `chain` it has an address on. Over a derived table `alias` whose columns `a0 … an` hold the
 * contact's address on each channel of the chain (`chainColumns`): that address, and the
 * channel it is on as `messages.channel` spells it (null for the chain's first, the run's own).
 */
export function chainColumns(chain: readonly Channel[], dialect: SqlDialect): RawBuilder<unknown> {
  return sql.join(chain.map((channel, i) => sql`${addressOf(channel, dialect)} as ${sql.raw(`a${i}`)}`));
}

/** The first address of the chain's columns over `alias` (see `chainColumns`). */
export function chainAddress(chain: readonly Channel[], alias: string): RawBuilder<string | null> {
  // SQLite's coalesce() wants two arguments at least.
  if (chain.length === 1) return sql`${sql.ref(`${alias}.a0`)}`;
  return sql`coalesce(${sql.join(chain.map((_, i) => sql.ref(`${alias}.a${i}`)))})`;
}

/** The channel of the chain's first address over `alias`: null for the chain's first (see `chainColumns`). */
export function chainChannel(chain: readonly Channel[], alias: string): RawBuilder<string | null> {
  const arms = chain.slice(1).map((channel, k) => sql`when ${sql.ref(`${alias}.a${k + 1}`)} is not null then ${channel}`);
  return sql`case when ${sql.ref(`${alias}.a0`)} is not null then cast(null as text) ${sql.join(arms, sql` `)} end`;
}

/** Whether the chain's first address over `alias` is suppressed on its own channel (see `suppressedAddress`). */
export function chainSuppressed(chain: readonly Channel[], workspaceId: string | RawBuilder<string>, alias: string): RawBuilder<boolean> {
  const arms = chain.map((channel, i) => {
    const address = sql.ref(`${alias}.a${i}`);
    return sql`when ${address} is not null then ${suppressedAddress(channel, workspaceId, address)}`;
  });
  return sql<boolean>`(case ${sql.join(arms, sql` `)} else 1 = 0 end)`;
}
