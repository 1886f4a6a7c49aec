import { type RawBuilder, sql } from 'kysely';
import { assertUnreachable } from '../domain/errors.js';
import type { Channel } from '../domain/lifecycle.js';
import type { SuppressionKind } from '../domain/suppression.js';

/**
 * The one place that says where a channel reaches a contact (DESIGN §5), as an SQL
 * expression over `contacts as c`: the snapshot writes it into `messages.address`,
 * preflight and the audience estimate count the contacts for whom it is null.
 *
 * - email → `c.email`; sms and voice → `c.phone` (E.164); telegram → `c.telegram_chat_id`;
 *   viber → `c.viber_id`;
 * - webpush / push → the token of the contact's newest `active` device of that kind
 *   (a subscription a provider answered 404/410 for is `gone` and never used);
 * - webhook → the contact id: the workspace's endpoint receives every contact.
 */
export function addressOf(channel: Channel): RawBuilder<string | null> {
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
    case 'push':
      return sql`(
        select d.token from contact_devices d
        where d.contact_id = c.id and d.kind = ${channel === 'push' ? 'mobilepush' : 'webpush'} and d.status = 'active'
        order by d.id desc
        limit 1
      )`;
    case 'webhook':
      return sql`cast(c.id as text)`;
    default:
      return assertUnreachable(channel);
  }
}

/** Which kind of suppressed address stops a channel; null where the suppression list does not apply. */
export function suppressionKindOf(channel: Channel): SuppressionKind | null {
  switch (channel) {
    case 'email':
      return 'email';
    case 'sms':
    case 'voice':
      return 'phone';
    case 'webpush':
    case 'push':
    case 'telegram':
    case 'viber':
    case 'webhook':
      return null;
    default:
      return assertUnreachable(channel);
  }
}

/**
 * Whether `address` (an expression holding a channel address of the workspace) is on the
 * suppression list: one probe of the (workspace_id, address) primary key per row, so it
 * stays cheap inside a million-row `INSERT … SELECT`. Constant false for channels the list
 * does not cover.
 */
export function suppressedAddress(
  channel: Channel,
  workspaceId: string | RawBuilder<string>,
  address: RawBuilder<unknown>,
): RawBuilder<boolean> {
  if (suppressionKindOf(channel) === null) return sql<boolean>`1 = 0`;
  return sql<boolean>`exists (select 1 from suppressions s where s.workspace_id = ${workspaceId} and s.address = ${address})`;
}
