import type { SuppressionKind } from '../domain/suppression.js';
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { RateLimitTable } from './rate-limits.js';

/**
 * The database as Kysely sees it. Timestamps are ISO-8601 strings (UTC) except the
 * lease and retry clocks of the ledger, which are epoch milliseconds because the hot
 * queries compare them on every claim. JSON columns hold text; repositories parse them.
 */
export interface Database {
  workspaces: WorkspaceTable;
  api_keys: ApiKeyTable;
  contacts: ContactTable;
  lists: ListTable;
  list_members: ListMemberTable;
  templates: TemplateTable;
  senders: SenderTable;
  campaigns: CampaignTable;
  campaign_events: CampaignEventTable;
  runs: RunTable;
  messages: MessageTable;
  run_counters: RunCounterTable;
  run_series: RunSeriesTable;
  idempotency_keys: IdempotencyKeyTable;
  rate_limits: RateLimitTable;
  segments: SegmentTable;
  contact_devices: ContactDeviceTable;
  attribute_definitions: AttributeDefinitionTable;
  suppressions: SuppressionTable;
  early_receipts: EarlyReceiptTable;
  imports: ImportTable;
  import_errors: ImportErrorTable;
  balance_entries: BalanceEntryTable;
  automation_members: AutomationMemberTable;
  automation_state: AutomationStateTable;
}

/** A segment-entry automation's view of its segment at the last evaluation. */
export interface AutomationMemberTable {
  campaign_id: string;
  contact_id: number;
  entered_at: string;
}

export interface AutomationStateTable {
  campaign_id: string;
  /** When the membership was last taken; before the latest publish means "take it, send nothing". */
  evaluated_at: string;
}

export interface WorkspaceTable {
  id: string;
  name: string;
  time_zone: string;
  /** JSON: { policies?: PolicyOverrides } */
  settings: string;
  created_at: string;
  /** Micro-units of `currency` (domain/money.ts); never negative. */
  balance: Generated<number>;
  currency: Generated<string>;
  /** JSON ChannelPrices: micro-units per cost unit; a channel left out is free. */
  prices: Generated<string>;
}

/** The balance ledger: every top-up, batch debit and refund, with the balance after it. */
export interface BalanceEntryTable {
  id: Generated<number>;
  workspace_id: string;
  kind: string;
  /** Signed micro-units: positive in, negative out. */
  amount: number;
  balance_after: number;
  campaign_id: string | null;
  run_id: number | null;
  messages: number | null;
  note: string | null;
  created_at: string;
}

export interface ApiKeyTable {
  id: string;
  workspace_id: string;
  name: string;
  /** SHA-256 of the key; the key itself is shown once and never stored. */
  key_hash: string;
  prefix: string;
  role: string;
  created_at: string;
  last_used_at: string | null;
}

export interface ContactTable {
  id: Generated<number>;
  workspace_id: string;
  email: string | null;
  phone: string | null;
  first_name: string | null;
  last_name: string | null;
  time_zone: string | null;
  /** JSON object of custom attributes. */
  attributes: string;
  external_id: string | null;
  telegram_chat_id: string | null;
  viber_id: string | null;
  /** JSON array of tag names, sorted and unique. */
  tags: ColumnType<string, string | undefined, string>;
  created_at: string;
  updated_at: string;
}

export interface ListTable {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ListMemberTable {
  workspace_id: string;
  list_id: string;
  contact_id: number;
  added_at: string;
}

export interface TemplateTable {
  id: string;
  workspace_id: string;
  name: string;
  channel: string;
  subject: string | null;
  html: string | null;
  text: string | null;
  /** JSON of the channel's content (domain/template-content.ts); null for email, which uses the columns above. */
  content: string | null;
  /** Email written in MJML: its source; `html` then holds what it compiled to, Liquid left in place. */
  mjml: ColumnType<string | null, string | null | undefined, string | null>;
  /** Email: 1 when messages carry the open pixel (and tracked links), 0 when not. */
  track_opens: ColumnType<number, number | undefined, number>;
  track_clicks: ColumnType<number, number | undefined, number>;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface SenderTable {
  id: string;
  workspace_id: string;
  channel: string;
  name: string;
  from_email: string | null;
  from_name: string | null;
  reply_to: string | null;
  status: string;
  /** JSON of a RateRule (per second/minute/hour, warm-up), or null for no limit of its own. */
  rate_limit: string | null;
  /** An E.164 number or alphanumeric sender id (SMS, voice), a bot username (Telegram), … */
  address: string | null;
  avatar_url: string | null;
  /** Encrypted JSON of the channel's credentials (store/secrets.ts); never returned. */
  credentials: string | null;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface CampaignTable {
  id: string;
  workspace_id: string;
  kind: string;
  channel: string;
  name: string;
  description: string | null;
  /** JSON array of strings. */
  tags: string;
  status: string;
  outcome: string | null;
  archived: ColumnType<number, number | undefined, number>;
  launch_type: string;
  send_at: string | null;
  template_id: string | null;
  sender_id: string | null;
  /** JSON: { listIds: string[] } */
  audience: string;
  /** JSON: { batchSize?: number } */
  pacing: string;
  /** JSON array of { code, detail }. */
  failure_reasons: string;
  /** JSON array of CampaignFallback ({ channel, templateId, senderId }), in order; null: no fallback. */
  fallback: ColumnType<string | null, string | null | undefined, string | null>;
  version: number;
  current_run_id: number | null;
  cloned_from: string | null;
  created_at: string;
  updated_at: string;
  launched_at: string | null;
  finished_at: string | null;
  /** JSON of a Recurrence (cron, timeZone, endAt, maxRuns) for recurring campaigns, else null. */
  recurrence: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON of a Delivery (localTime, quietHours), or null to send at once. */
  delivery: ColumnType<string | null, string | null | undefined, string | null>;
  /** JSON of an automation's Trigger, else null. */
  trigger: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface CampaignEventTable {
  id: Generated<number>;
  workspace_id: string;
  campaign_id: string;
  at: string;
  actor: string;
  action: string;
  from_status: string | null;
  to_status: string;
  reason: string | null;
  /** JSON object or null. */
  data: string | null;
}

export interface RunTable {
  id: Generated<number>;
  workspace_id: string;
  campaign_id: string;
  number: number;
  channel: string;
  /** Highest contact id materialised so far: the snapshot resumes from here after a crash. */
  snapshot_cursor: number;
  snapshot_done: number;
  created_at: string;
  finished_at: string | null;
  outcome: string | null;
  /** The scheduled instant this run was started for (unique per campaign), or when it was started by hand. */
  occurrence_at: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface MessageTable {
  id: Generated<number>;
  workspace_id: string;
  run_id: number;
  contact_id: number;
  state: string;
  address: string | null;
  attempts: number;
  lease_owner: string | null;
  lease_until: number | null;
  next_attempt_at: number;
  sent_at: string | null;
  provider_id: string | null;
  error_code: string | null;
  error_detail: string | null;
  updated_at: string;
  /** Micro-units reserved while sending and kept once sent; 0 otherwise (store/balance.ts). */
  cost: Generated<number>;
  /** The fallback channel it goes out on; null: the run's own channel (store/ledger/fall-back.ts). */
  channel: ColumnType<string | null, string | null | undefined, string | null>;
  /** The channels it failed on before this one, e.g. "sms: TWILIO_21610 …"; null when none. */
  fallback_trail: ColumnType<string | null, string | null | undefined, string | null>;
  /** The API event that queued it, JSON `{ name, properties }` (automations; null otherwise). */
  event: ColumnType<string | null, string | null | undefined, string | null>;
  /** The provider's id again, for adapters whose receipts name messages only by it (indexed; null otherwise). */
  receipt_key: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface RunCounterTable {
  run_id: number;
  workspace_id: string;
  pending: number;
  sending: number;
  sent: number;
  delivered: number;
  read: number;
  opened: number;
  clicked: number;
  failed: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
  suppressed: number;
  cancelled: number;
  expired: number;
}

export interface RunSeriesTable {
  run_id: number;
  workspace_id: string;
  /** Start of the minute, ISO-8601. */
  bucket: string;
  sent: number;
  failed: number;
}

export interface IdempotencyKeyTable {
  workspace_id: string;
  key: string;
  request_hash: string;
  status_code: number | null;
  content_type: string | null;
  response: string | null;
  created_at: string;
}

export interface SegmentTable {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  /** JSON of a Segment rule tree. */
  rule: string;
  deleted_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface ContactDeviceTable {
  id: Generated<number>;
  workspace_id: string;
  contact_id: number;
  kind: 'webpush' | 'mobilepush';
  /** The push endpoint URL, or the FCM registration token. */
  token: string;
  /** JSON { p256dh, auth } of a web push subscription. */
  keys: string | null;
  platform: string | null;
  status: ColumnType<'active' | 'gone' | 'invalid', 'active' | 'gone' | 'invalid' | undefined>;
  created_at: string;
  updated_at: string;
}

export interface AttributeDefinitionTable {
  workspace_id: string;
  name: string;
  type: 'string' | 'number' | 'boolean' | 'date';
  description: string | null;
  created_at: string;
}

export interface EarlyReceiptTable {
  id: Generated<number>;
  workspace_id: string | null;
  channel: string;
  /** JSON of a ReceiptEvent whose message was not found yet. */
  event: string;
  received_at: string;
}

export interface SuppressionTable {
  workspace_id: string;
  /** A lower-cased email, an E.164 phone number, or `telegram:<chat id>` / `viber:<user id>`. */
  address: string;
  kind: SuppressionKind;
  reason: 'unsubscribe' | 'hard_bounce' | 'complaint' | 'manual';
  source: string | null;
  note: string | null;
  created_at: string;
}

export interface ImportTable {
  id: string;
  workspace_id: string;
  list_id: string | null;
  filename: string | null;
  /** JSON: CSV header → contact field or attribute. */
  mapping: ColumnType<string, string | undefined, string>;
  status: 'running' | 'completed' | 'failed';
  rows_read: ColumnType<number, number | undefined, number>;
  rows_imported: ColumnType<number, number | undefined, number>;
  rows_invalid: ColumnType<number, number | undefined, number>;
  created: ColumnType<number, number | undefined, number>;
  updated: ColumnType<number, number | undefined, number>;
  error: string | null;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
}

export interface ImportErrorTable {
  import_id: string;
  line: number;
  field: string | null;
  reason: string;
}

export type SegmentRow = Selectable<SegmentTable>;
export type CampaignRow = Selectable<CampaignTable>;
export type NewCampaignRow = Insertable<CampaignTable>;
export type CampaignUpdate = Updateable<CampaignTable>;
export type ContactRow = Selectable<ContactTable>;
export type ListRow = Selectable<ListTable>;
export type TemplateRow = Selectable<TemplateTable>;
export type SenderRow = Selectable<SenderTable>;
export type RunRow = Selectable<RunTable>;
export type RunCounterRow = Selectable<RunCounterTable>;
export type CampaignEventRow = Selectable<CampaignEventTable>;
export type WorkspaceRow = Selectable<WorkspaceTable>;
