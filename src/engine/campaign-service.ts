import { sql } from 'kysely';
import {
  type Audience,
  type AudienceEstimate,
  type Campaign,
  type CampaignCreate,
  type CampaignPatch,
  type EditableField,
  type FailureReason,
  type LaunchType,
  type Pacing,
  type Run,
  checkFallback,
  fieldGroups,
  fieldsOf,
  missingFields,
  parseFallback,
} from '../domain/campaign.js';
import {
  type Delivery,
  type Recurrence,
  defaultGraceMinutes,
  dueDecision,
  inZone,
  nextOccurrence,
  parseSendTime,
  validateRecurrence,
} from '../domain/schedule.js';
import { type Failure, HeraldError, assertUnreachable, fail, ok, type Result, unwrap } from '../domain/errors.js';
import {
  type Action,
  type CampaignKind,
  type CampaignState,
  type CampaignStatus,
  type Channel,
  type LifecycleContext,
  type Outcome,
  type Transition,
  allowedActions,
  apply,
  channelPolicy,
  editableGroups,
} from '../domain/lifecycle.js';
import { type MessageState, campaignCounts, messageStates, zeroCounts } from '../domain/messages.js';
import { type CostEstimate, estimateCost, smsSegmentsEstimate, withoutLiquid } from '../domain/money.js';
import { preflight } from '../domain/preflight.js';
import type { SmsContent } from '../domain/template-content.js';
import { validateSegment } from '../domain/segment.js';
import {
  type CampaignFilter,
  getCampaign,
  insertCampaign,
  insertEvent,
  listCampaigns,
  listEvents,
  updateCampaignGuarded,
} from '../store/campaigns.js';
import type { Db } from '../store/database.js';
import { newId } from '../store/ids.js';
import { audienceWhere } from '../store/audience.js';
import { type AudienceFacts, audienceFacts, sampleAudience } from '../store/audience-estimate.js';
import { readMoney } from '../store/balance.js';
import { readCampaignCounters } from '../store/ledger/counters.js';
import { moveMessages } from '../store/ledger/bulk-transitions.js';
import { requeueDueSql } from '../store/ledger/local-due.js';
import type { Page } from '../store/pagination.js';
import type { CampaignRow, CampaignUpdate, SenderRow } from '../store/schema.js';
import { liquidParts } from '../domain/template-content.js';
import { getWorkspace, workspaceSettings } from '../store/workspaces.js';
import { countWaiting } from '../store/ledger/waiting.js';
import type { Trigger } from '../domain/automation.js';
import type { Clock } from './clock.js';
import { checkTemplate, liquid, liquidScope } from './render.js';

export interface ActionParams {
  readonly sendAt?: string;
  readonly sendNow?: boolean;
  readonly version?: number;
  readonly reason?: string;
}

/** What the engine passes with its own moves. */
export interface SystemExtra {
  readonly outcome?: Outcome;
  readonly reasons?: FailureReason[];
  readonly reason?: string;
  /** For `start`: the scheduled instant the run is for. */
  readonly occurrence?: Date;
}

/** The workspace's grace window for schedules missed while Herald was down. */
function graceOf(workspace: Parameters<typeof workspaceSettings>[0] | undefined): number {
  return (workspace ? workspaceSettings(workspace).scheduleGraceMinutes : undefined) ?? defaultGraceMinutes;
}

export interface ServiceDeps {
  readonly db: Db;
  readonly clock: Clock;
  /** Whether a provider can carry this channel (a real one, or the sandbox). */
  /** Whether a provider can send `channel` for this sender (the environment's, its own credentials, or the sandbox). */
  readonly providerConfigured: (channel: Channel, sender: Pick<SenderRow, 'credentials'> | null) => boolean;
  /** Wakes the engine after a change it should act on (launch, resume, restart…). */
  readonly notify: () => void;
}

/** Actions that must pass preflight first (DESIGN §5). */
const preflightActions: readonly Action[] = ['schedule', 'launch', 'restart', 'retry', 'retry_failed', 'start'];

const parseJson = <T>(text: string): T => JSON.parse(text) as T;

/**
 * Recipients an SMS cost estimate renders the template for: enough to catch the usual
 * long names and non-GSM characters, few enough that a preflight stays a few milliseconds.
 */
const smsCostSample = 20;

/**
 * Carries out campaign commands: reads the campaign and the facts the lifecycle needs,
 * asks the domain what happens, and writes the new status, its event and its effect on
 * the ledger in one version-guarded transaction. The API, the CLI and the engine all go
 * through here; none of them encodes a rule of its own.
 */
export class CampaignService {
  readonly #deps: ServiceDeps;
  constructor(deps: ServiceDeps) {
    this.#deps = deps;
  }

  get db(): Db {
    return this.#deps.db;
  }

  async #load(workspaceId: string, id: string): Promise<CampaignRow> {
    const row = await getCampaign(this.#deps.db, workspaceId, id);
    if (!row) throw HeraldError.of('NOT_FOUND', `No campaign ${id} in this workspace.`);
    return row;
  }

  #state(row: CampaignRow): CampaignState {
    return {
      kind: row.kind as CampaignKind,
      channel: row.channel as Channel,
      status: row.status as CampaignStatus,
      archived: row.archived === 1,
      outcome: (row.outcome as Outcome | null) ?? null,
    };
  }

  async #context(row: CampaignRow, params: ActionParams = {}, extra: Partial<LifecycleContext> = {}) {
    const db = this.#deps.db;
    const workspace = await getWorkspace(db, row.workspace_id);
    const policies = workspace ? workspaceSettings(workspace).policies : undefined;
    const states = await readCampaignCounters(db, row.workspace_id, row.id);
    const delivery = parseJson<Delivery | null>(row.delivery ?? 'null');
    const waiting = delivery && row.current_run_id !== null ? await countWaiting(db, row.current_run_id, this.#deps.clock.now()) : 0;
    const counts = campaignCounts(states, waiting);
    const fields = {
      name: row.name,
      launchType: row.launch_type as LaunchType,
      sendAt: params.sendAt ?? row.send_at,
      templateId: row.template_id,
      senderId: row.sender_id,
      audience: parseJson<Audience>(row.audience),
      recurrence: parseJson<Recurrence | null>(row.recurrence ?? 'null'),
      trigger: parseJson<Trigger | null>(row.trigger ?? 'null'),
    };
    const ctx: LifecycleContext = {
      now: this.#deps.clock.now(),
      complete: missingFields(fields).length === 0,
      hasRun: await this.#hasOpenRun(row),
      sentAny: counts.sent > 0,
      failedCount: counts.failed,
      sendAt: row.send_at ? new Date(row.send_at) : null,
      policy: channelPolicy(row.channel as Channel, policies),
      params: {
        ...(params.sendAt ? { sendAt: new Date(params.sendAt) } : {}),
        ...(params.sendNow ? { sendNow: true } : {}),
      },
      ...extra,
    };
    return { ctx, counts, states, timeZone: workspace?.time_zone ?? 'UTC', graceMinutes: graceOf(workspace) };
  }

  /**
   * Whether the campaign has a run that restart, resume and retry continue. A recurring
   * campaign's finished run is history: between runs it waits for its next occurrence.
   */
  async #hasOpenRun(row: CampaignRow): Promise<boolean> {
    if (row.current_run_id === null) return false;
    if (row.kind !== 'recurring') return true;
    const run = await this.#deps.db.selectFrom('runs').select('outcome').where('id', '=', row.current_run_id).executeTakeFirst();
    return run !== undefined && run.outcome === null;
  }

  /** The workspace's zone, for reading wall times the API is given. */
  async #zoneOf(workspaceId: string): Promise<string> {
    return (await getWorkspace(this.#deps.db, workspaceId))?.time_zone ?? 'UTC';
  }

  /** The campaign as the API shows it, with what may be done and edited now. */
  async view(row: CampaignRow): Promise<Campaign> {
    const { ctx, counts, timeZone } = await this.#context(row);
    const state = this.#state(row);
    return {
      id: row.id,
      name: row.name,
      description: row.description,
      kind: row.kind,
      channel: state.channel,
      status: state.status,
      outcome: state.outcome,
      archived: state.archived,
      launchType: row.launch_type as LaunchType,
      sendAt: row.send_at,
      sendAtLocal: row.send_at ? inZone(new Date(row.send_at), timeZone) : null,
      timeZone,
      recurrence: parseJson<Recurrence | null>(row.recurrence ?? 'null'),
      delivery: parseJson<Delivery | null>(row.delivery ?? 'null'),
      trigger: parseJson<Trigger | null>(row.trigger ?? 'null'),
      templateId: row.template_id,
      senderId: row.sender_id,
      audience: parseJson<Audience>(row.audience),
      pacing: parseJson<Pacing>(row.pacing),
      fallback: parseFallback(row.fallback),
      tags: parseJson<string[]>(row.tags),
      failureReasons: parseJson<FailureReason[]>(row.failure_reasons),
      version: row.version,
      clonedFrom: row.cloned_from,
      createdAt: row.created_at,
      updatedAt: row.updated_at,
      launchedAt: row.launched_at,
      finishedAt: row.finished_at,
      allowedActions: allowedActions(state, ctx),
      editableFields: fieldsOf(editableGroups(state, ctx)),
      counts,
    };
  }

  async get(workspaceId: string, id: string): Promise<Campaign> {
    return this.view(await this.#load(workspaceId, id));
  }

  async list(workspaceId: string, filter: CampaignFilter): Promise<Page<Campaign>> {
    const page = await listCampaigns(this.#deps.db, workspaceId, filter);
    if (page === 'bad_cursor') {
      throw HeraldError.of('VALIDATION_FAILED', 'querystring/cursor is not a cursor this API issued', {
        errors: [{ field: 'querystring/cursor', message: 'is not a valid cursor' }],
      });
    }
    return { data: await Promise.all(page.data.map((r) => this.view(r))), nextCursor: page.nextCursor };
  }

  /** Checks that referenced template, sender and lists exist in this workspace (404 otherwise). */
  async #checkReferences(workspaceId: string, input: Partial<CampaignCreate>): Promise<void> {
    const db = this.#deps.db;
    if (input.templateId) {
      const t = await db
        .selectFrom('templates')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', input.templateId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!t) throw HeraldError.of('NOT_FOUND', `No template ${input.templateId} in this workspace.`, { field: 'templateId' });
    }
    if (input.senderId) {
      const s = await db
        .selectFrom('senders')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', input.senderId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!s) throw HeraldError.of('NOT_FOUND', `No sender ${input.senderId} in this workspace.`, { field: 'senderId' });
    }
    for (const [i, f] of (input.fallback ?? []).entries()) {
      const [t, sd] = await Promise.all([
        db
          .selectFrom('templates')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('id', '=', f.templateId)
          .where('deleted_at', 'is', null)
          .executeTakeFirst(),
        db
          .selectFrom('senders')
          .select('id')
          .where('workspace_id', '=', workspaceId)
          .where('id', '=', f.senderId)
          .where('deleted_at', 'is', null)
          .executeTakeFirst(),
      ]);
      if (!t) throw HeraldError.of('NOT_FOUND', `No template ${f.templateId} in this workspace.`, { field: `fallback/${i}/templateId` });
      if (!sd) throw HeraldError.of('NOT_FOUND', `No sender ${f.senderId} in this workspace.`, { field: `fallback/${i}/senderId` });
    }
    const listIds = input.audience?.listIds ?? [];
    if (listIds.length > 0) {
      const found = await db
        .selectFrom('lists')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', 'in', listIds)
        .where('deleted_at', 'is', null)
        .execute();
      const known = new Set(found.map((l) => l.id));
      const unknown = listIds.filter((id) => !known.has(id));
      if (unknown.length > 0)
        throw HeraldError.of('NOT_FOUND', `No list ${unknown.join(', ')} in this workspace.`, { field: 'audience.listIds' });
    }
    const segmentIds = [...(input.audience?.segmentIds ?? []), ...(input.audience?.excludeSegmentIds ?? [])];
    if (segmentIds.length > 0) {
      const found = await db
        .selectFrom('segments')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', 'in', segmentIds)
        .where('deleted_at', 'is', null)
        .execute();
      const known = new Set(found.map((x) => x.id));
      const unknown = segmentIds.filter((id) => !known.has(id));
      if (unknown.length > 0)
        throw HeraldError.of('NOT_FOUND', `No segment ${unknown.join(', ')} in this workspace.`, { field: 'audience.segmentIds' });
    }
    if (input.audience?.rule !== undefined) unwrap(validateSegment(input.audience.rule, 'body/audience/rule'));
    if (input.trigger?.type === 'segment_entry') {
      const s = await db
        .selectFrom('segments')
        .select('id')
        .where('workspace_id', '=', workspaceId)
        .where('id', '=', input.trigger.segmentId)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (!s) throw HeraldError.of('NOT_FOUND', `No segment ${input.trigger.segmentId} in this workspace.`, { field: 'trigger.segmentId' });
    }
  }

  async create(workspaceId: string, input: CampaignCreate, actor: string): Promise<Campaign> {
    const zone = await this.#zoneOf(workspaceId);
    const sendAt = input.sendAt ? unwrap(parseSendTime(input.sendAt, zone)).toISOString() : null;
    if (input.recurrence) unwrap(validateRecurrence(input.recurrence, zone));
    const kind = input.kind ?? (input.trigger ? 'automation' : input.recurrence ? 'recurring' : 'broadcast');
    if (input.trigger && kind !== 'automation') {
      throw HeraldError.of('VALIDATION_FAILED', 'A trigger belongs to automations (kind `automation`), and only to them.', {
        errors: [{ field: 'body/trigger', message: `cannot be set on a ${kind} campaign` }],
      });
    }
    // Recurring campaigns launch by their rule and automations by their trigger; broadcasts by neither.
    const ownLaunchType = kind === 'recurring' ? 'recurring' : kind === 'automation' ? 'triggered' : null;
    const fits = ownLaunchType ? input.launchType === ownLaunchType : !['recurring', 'triggered'].includes(input.launchType ?? '');
    if (input.launchType && !fits) {
      throw HeraldError.of('VALIDATION_FAILED', `launchType ${input.launchType} does not fit a ${kind} campaign.`, {
        errors: [{ field: 'body/launchType', message: `cannot be ${input.launchType} for a ${kind} campaign` }],
      });
    }
    if (input.fallback) unwrap(checkFallback(input.channel ?? 'email', input.fallback));
    await this.#checkReferences(workspaceId, input);
    const now = this.#deps.clock.now();
    const iso = now.toISOString();
    const id = newId('cmp', now.getTime());
    await this.#deps.db.transaction().execute(async (trx) => {
      await insertCampaign(trx, {
        id,
        workspace_id: workspaceId,
        kind,
        channel: input.channel ?? 'email',
        name: input.name,
        description: input.description ?? null,
        tags: JSON.stringify(input.tags ?? []),
        status: 'draft',
        outcome: null,
        archived: 0,
        launch_type:
          kind === 'recurring'
            ? 'recurring'
            : kind === 'automation'
              ? 'triggered'
              : (input.launchType ?? (input.sendAt ? 'scheduled' : 'now')),
        send_at: sendAt,
        recurrence: input.recurrence ? JSON.stringify(input.recurrence) : null,
        delivery: input.delivery ? JSON.stringify(input.delivery) : null,
        trigger: input.trigger ? JSON.stringify(input.trigger) : null,
        template_id: input.templateId ?? null,
        sender_id: input.senderId ?? null,
        audience: JSON.stringify(input.audience ?? { listIds: [] }),
        pacing: JSON.stringify(input.pacing ?? {}),
        fallback: input.fallback?.length ? JSON.stringify(input.fallback) : null,
        failure_reasons: '[]',
        version: 1,
        current_run_id: null,
        cloned_from: null,
        created_at: iso,
        updated_at: iso,
        launched_at: null,
        finished_at: null,
      });
      await insertEvent(trx, { workspaceId, campaignId: id, at: now, actor, action: 'create', from: null, to: 'draft' });
    });
    return this.get(workspaceId, id);
  }

  /** Edits fields, only those the status allows (DESIGN §2 edit rules), at the version the caller read. */
  async update(workspaceId: string, id: string, patch: CampaignPatch, actor: string): Promise<Campaign> {
    const row = await this.#load(workspaceId, id);
    if (row.version !== patch.version) {
      throw HeraldError.of('VERSION_CONFLICT', `The campaign is at version ${row.version}, not ${patch.version}.`, {
        currentVersion: row.version,
      });
    }
    const { version: _v, ...changes } = patch;
    const fields = Object.keys(changes) as EditableField[];
    if (fields.length === 0) return this.view(row);

    const state = this.#state(row);
    const { ctx } = await this.#context(row);
    const allowed = new Set(fieldsOf(editableGroups(state, ctx)));
    const locked = fields.filter((f) => !allowed.has(f));
    if (locked.length > 0) {
      throw HeraldError.of(
        'FIELD_LOCKED',
        `Cannot edit ${locked.join(', ')} while the campaign is ${state.archived ? 'archived' : state.status}.`,
        {
          lockedFields: locked,
          editableFields: [...allowed],
          campaignStatus: state.status,
        },
      );
    }
    const zone = await this.#zoneOf(workspaceId);
    const sendAt = changes.sendAt ? unwrap(parseSendTime(changes.sendAt, zone)).toISOString() : null;
    if (changes.recurrence) unwrap(validateRecurrence(changes.recurrence, zone));
    const ownLaunchType = row.kind === 'recurring' ? 'recurring' : row.kind === 'automation' ? 'triggered' : null;
    if (changes.trigger && row.kind !== 'automation') {
      throw HeraldError.of('VALIDATION_FAILED', 'A trigger belongs to automations only.', {
        errors: [{ field: 'body/trigger', message: `cannot be set on a ${row.kind} campaign` }],
      });
    }
    const launchTypeFits = ownLaunchType
      ? changes.launchType === ownLaunchType
      : !['recurring', 'triggered'].includes(changes.launchType ?? '');
    if (changes.launchType !== undefined && !launchTypeFits) {
      throw HeraldError.of('VALIDATION_FAILED', 'launchType `recurring` belongs to recurring campaigns, and only it.', {
        errors: [{ field: 'body/launchType', message: `cannot be ${changes.launchType} for a ${row.kind} campaign` }],
      });
    }
    if (changes.fallback) unwrap(checkFallback(row.channel as Channel, changes.fallback));
    await this.#checkReferences(workspaceId, changes);

    const update: CampaignUpdate = {};
    if (changes.name !== undefined) update.name = changes.name;
    if (changes.description !== undefined) update.description = changes.description;
    if (changes.tags !== undefined) update.tags = JSON.stringify(changes.tags);
    if (changes.launchType !== undefined) update.launch_type = changes.launchType;
    if (changes.sendAt !== undefined) update.send_at = sendAt;
    if (changes.delivery !== undefined) update.delivery = changes.delivery ? JSON.stringify(changes.delivery) : null;
    if (changes.trigger !== undefined) update.trigger = changes.trigger ? JSON.stringify(changes.trigger) : null;
    if (changes.recurrence !== undefined) {
      update.recurrence = changes.recurrence ? JSON.stringify(changes.recurrence) : null;
      // A waiting recurring campaign whose rule changed waits for the new rule's next occurrence.
      if (row.kind === 'recurring' && row.status === 'scheduled' && changes.recurrence && changes.sendAt === undefined) {
        const next = nextOccurrence(changes.recurrence, zone, this.#deps.clock.now());
        update.send_at = next ? next.toISOString() : null;
      }
    }
    if (changes.templateId !== undefined) update.template_id = changes.templateId;
    if (changes.senderId !== undefined) update.sender_id = changes.senderId;
    if (changes.audience !== undefined) update.audience = JSON.stringify(changes.audience);
    if (changes.pacing !== undefined) update.pacing = JSON.stringify(changes.pacing);
    if (changes.fallback !== undefined) update.fallback = changes.fallback.length ? JSON.stringify(changes.fallback) : null;

    // A ready campaign an edit leaves incomplete goes back to draft: the lifecycle decides.
    const edited = { ...row, ...update } as CampaignRow;
    const { ctx: after } = await this.#context(edited);
    const t = unwrap(apply(state, 'edit', after));
    const now = this.#deps.clock.now();
    await this.#deps.db.transaction().execute(async (trx) => {
      const done = await updateCampaignGuarded(trx, {
        workspaceId,
        id,
        version: row.version,
        patch: { ...update, status: t.status, updated_at: now.toISOString() },
      });
      if (!done) throw HeraldError.of('VERSION_CONFLICT', 'The campaign changed while it was being edited; reload and try again.');
      await insertEvent(trx, {
        workspaceId,
        campaignId: id,
        at: now,
        actor,
        action: 'edit',
        from: row.status,
        to: t.status,
        data: { fields, groups: [...new Set(fields.map((f) => fieldGroups[f]))] },
      });
    });
    this.#deps.notify();
    return this.get(workspaceId, id);
  }

  /** Gathers preflight facts from the store and returns every problem at once. */
  async preflight(row: CampaignRow): Promise<FailureReason[]> {
    const db = this.#deps.db;
    const audience = parseJson<Audience>(row.audience);
    const template = row.template_id
      ? await db
          .selectFrom('templates')
          .select(['deleted_at', 'channel', 'subject', 'html', 'text', 'content'])
          .where('workspace_id', '=', row.workspace_id)
          .where('id', '=', row.template_id)
          .executeTakeFirst()
      : undefined;
    const sender = row.sender_id
      ? await db
          .selectFrom('senders')
          .select(['deleted_at', 'status', 'channel', 'credentials'])
          .where('workspace_id', '=', row.workspace_id)
          .where('id', '=', row.sender_id)
          .executeTakeFirst()
      : undefined;
    const { lists, facts } = await this.#audience(row, audience);
    const byId = new Map(lists.map((l) => [l.id, l]));
    // Each fallback channel is checked like the campaign's own (DESIGN §8).
    const fallback = await Promise.all(
      parseFallback(row.fallback).map(async (f) => {
        const [t, sd] = await Promise.all([
          db
            .selectFrom('templates')
            .select(['deleted_at', 'channel'])
            .where('workspace_id', '=', row.workspace_id)
            .where('id', '=', f.templateId)
            .executeTakeFirst(),
          db
            .selectFrom('senders')
            .select(['deleted_at', 'status', 'channel', 'credentials'])
            .where('workspace_id', '=', row.workspace_id)
            .where('id', '=', f.senderId)
            .executeTakeFirst(),
        ]);
        return {
          channel: f.channel,
          templateId: f.templateId,
          template: t ? { deleted: t.deleted_at !== null, channel: t.channel } : null,
          senderId: f.senderId,
          sender: sd ? { deleted: sd.deleted_at !== null, status: sd.status, channel: sd.channel } : null,
          providerConfigured: this.#deps.providerConfigured(f.channel, sd ?? null),
        };
      }),
    );
    return preflight({
      fallback,
      channel: row.channel as Channel,
      templateId: row.template_id,
      template: template ? { deleted: template.deleted_at !== null, channel: template.channel, invalid: liquidProblems(template) } : null,
      senderId: row.sender_id,
      sender: sender ? { deleted: sender.deleted_at !== null, status: sender.status, channel: sender.channel } : null,
      lists: audience.listIds.map((id) => ({ id, found: byId.has(id), deleted: byId.get(id)?.deleted_at != null })),
      missingSegments: facts.parts.missingSegments,
      emptySegments: facts.emptySegments,
      conflicts: facts.conflicts,
      beforeExclusions: facts.beforeExclusions,
      audience: facts.counts,
      providerConfigured: this.#deps.providerConfigured(row.channel as Channel, sender ?? null),
      cost: await this.costEstimate(row, facts),
    });
  }

  /**
   * What sending the campaign now would cost against the workspace's balance (domain/money.ts):
   * the deliverable messages × units per message × the channel's price. An SMS's units are
   * the most segments of its text without Liquid and of the template rendered for the first
   * recipients (smsSegmentsEstimate); a free channel is not sampled. Null when nothing is counted.
   */
  async costEstimate(row: CampaignRow, facts: AudienceFacts): Promise<CostEstimate | null> {
    const db = this.#deps.db;
    const money = await readMoney(db, row.workspace_id);
    if (!money || !facts.counts) return null;
    const channel = row.channel as Channel;
    const price = money.prices[channel];
    let unitsPerMessage = 1;
    let method = channel === 'voice' ? 'one call per message' : 'one unit per message';
    if (channel === 'sms') {
      const template = row.template_id
        ? await db
            .selectFrom('templates')
            .select('content')
            .where('workspace_id', '=', row.workspace_id)
            .where('id', '=', row.template_id)
            .executeTakeFirst()
        : undefined;
      const text = template?.content ? ((JSON.parse(template.content) as Partial<SmsContent>).text ?? '') : '';
      const bodies = price > 0 ? await this.#renderSample(row, facts, text) : [];
      unitsPerMessage = smsSegmentsEstimate(text, bodies);
      method =
        bodies.length > 0
          ? `the most segments of the text without Liquid and of the template rendered for the first ${bodies.length} recipient(s); ` +
            'sending charges each message’s real segments'
          : 'segments of the text without Liquid; sending charges each message’s real segments';
      if (withoutLiquid(text) === '' && bodies.length === 0) method = 'at least one segment per message';
    }
    return estimateCost({
      channel,
      price,
      currency: money.currency,
      balance: money.balance,
      messages: facts.counts.deliverable,
      unitsPerMessage,
      method,
    });
  }

  /** The SMS text rendered for the first recipients of the audience (a template error skips that one). */
  async #renderSample(row: CampaignRow, facts: AudienceFacts, text: string): Promise<string[]> {
    const db = this.#deps.db;
    const sample = await sampleAudience(db, {
      workspaceId: row.workspace_id,
      channel: 'sms',
      where: audienceWhere(facts.parts),
      limit: smsCostSample,
    });
    if (sample.length === 0) return [];
    const contacts = await db
      .selectFrom('contacts')
      .select(['email', 'phone', 'first_name', 'last_name', 'attributes', 'time_zone'])
      .where('workspace_id', '=', row.workspace_id)
      .where(
        'id',
        'in',
        sample.map((s) => s.id),
      )
      .execute();
    const bodies: string[] = [];
    for (const c of contacts) {
      const contact = {
        email: c.email,
        phone: c.phone,
        firstName: c.first_name,
        lastName: c.last_name,
        attributes: JSON.parse(c.attributes) as Record<string, unknown>,
        timeZone: c.time_zone,
      };
      try {
        bodies.push(liquid.parseAndRenderSync(text, liquidScope({ campaignId: row.id, campaignName: row.name }, contact)) as string);
      } catch {
        // TEMPLATE_INVALID is the template check's to report; the stripped text still counts.
      }
    }
    return bodies;
  }

  /** The campaign's lists as stored, and its audience compiled and counted for its channel. */
  async #audience(row: CampaignRow, audience: Audience, explain = true) {
    const db = this.#deps.db;
    const lists = audience.listIds.length
      ? await db
          .selectFrom('lists')
          .select(['id', 'deleted_at'])
          .where('workspace_id', '=', row.workspace_id)
          .where('id', 'in', audience.listIds)
          .execute()
      : [];
    const workspace = await getWorkspace(db, row.workspace_id);
    const facts = await audienceFacts(db, {
      workspaceId: row.workspace_id,
      channel: row.channel as Channel,
      fallback: parseFallback(row.fallback).map((f) => f.channel),
      audience,
      liveListIds: lists.filter((l) => l.deleted_at === null).map((l) => l.id),
      now: this.#deps.clock.now(),
      timeZone: workspace?.time_zone ?? 'UTC',
      explain,
    });
    return { lists, facts };
  }

  /**
   * What a launch would send now, before it happens: contacts the audience selects, those a
   * message would go to, those skipped as suppressed or without an address for the channel,
   * and the first few recipients. Counted in SQL with the snapshot's own predicates.
   */
  async estimate(workspaceId: string, id: string, sample: number): Promise<AudienceEstimate & { cost: CostEstimate | null }> {
    const row = await this.#load(workspaceId, id);
    const audience = parseJson<Audience>(row.audience);
    const { facts } = await this.#audience(row, audience, false);
    const counts = facts.counts ?? { selected: 0, addressed: 0, deliverable: 0 };
    const recipients = facts.counts
      ? await sampleAudience(this.#deps.db, {
          workspaceId,
          channel: row.channel as Channel,
          fallback: parseFallback(row.fallback).map((f) => f.channel),
          where: audienceWhere(facts.parts),
          limit: sample,
        })
      : [];
    return {
      campaignId: row.id,
      channel: row.channel as Channel,
      selected: counts.selected,
      willSend: counts.deliverable,
      suppressed: counts.addressed - counts.deliverable,
      noAddress: counts.selected - counts.addressed,
      sample: recipients,
      cost: await this.costEstimate(row, facts),
    };
  }

  /**
   * A person's action (`POST /v1/campaigns/{id}/actions/{action}`). Returns the campaign
   * after the action, and for `clone` the new campaign; `delete` returns null.
   */
  async act(
    workspaceId: string,
    id: string,
    action: Action,
    params: ActionParams,
    actor: string,
  ): Promise<{ campaign: Campaign | null; created?: Campaign }> {
    if (params.sendAt !== undefined) {
      // A wall time is read in the workspace's zone; from here on every send time is an instant.
      params = { ...params, sendAt: unwrap(parseSendTime(params.sendAt, await this.#zoneOf(workspaceId))).toISOString() };
    }
    let result: Awaited<ReturnType<CampaignService['transitionOnce']>>;
    for (let attempt = 1; ; attempt++) {
      const row = await this.#load(workspaceId, id);
      if (params.version !== undefined && params.version !== row.version) {
        throw HeraldError.of('VERSION_CONFLICT', `The campaign is at version ${row.version}, not ${params.version}.`, {
          currentVersion: row.version,
        });
      }
      try {
        result = await this.transitionOnce(row, action, params, actor);
        break;
      } catch (err) {
        // Without a version, the caller asked about the campaign as it is now: when the engine
        // moved it meanwhile (say queued → sending), decide again on the fresh row.
        const lostRace = err instanceof HeraldError && err.code === 'VERSION_CONFLICT';
        if (!lostRace || params.version !== undefined || attempt >= 3) throw err;
      }
    }
    if (!result.ok) throw new HeraldError(await this.#explain(workspaceId, id, result.error));
    if (result.value.effect === 'delete') return { campaign: null };
    if (result.value.effect === 'clone') {
      return { campaign: await this.get(workspaceId, id), created: await this.get(workspaceId, result.value.cloneId!) };
    }
    return { campaign: await this.get(workspaceId, id) };
  }

  /** The engine's own moves (start when due, begin sending, complete, fail, auto-pause). */
  async system(row: CampaignRow, action: Action, extra: SystemExtra = {}): Promise<Result<Transition>> {
    return this.#transition(row, action, { ...(extra.reason ? { reason: extra.reason } : {}) }, 'engine', extra);
  }

  /**
   * A scheduled campaign whose send time has come (the engine calls this under the schedule
   * lock). Within the workspace's grace window it starts, late by at most that window.
   * Past it, a one-time send fails with SCHEDULE_PASSED instead of going out hours late
   * unannounced; a recurring one records the occurrences it skipped, shows SCHEDULE_PASSED
   * in its failure reasons, and waits for its next occurrence. An occurrence that already
   * has a run is never started again.
   */
  async fireDue(row: CampaignRow): Promise<Result<unknown>> {
    const db = this.#deps.db;
    const now = this.#deps.clock.now();
    const workspace = await getWorkspace(db, row.workspace_id);
    const zone = workspace?.time_zone ?? 'UTC';
    const graceMinutes = graceOf(workspace);
    const recurrence = row.kind === 'recurring' ? parseJson<Recurrence | null>(row.recurrence ?? 'null') : null;
    const runsSoFar = await this.#runCount(row.id);
    const sendAt = new Date(row.send_at!);
    const ran = await db
      .selectFrom('runs')
      .select('id')
      .where('campaign_id', '=', row.id)
      .where('occurrence_at', '=', sendAt.toISOString())
      .executeTakeFirst();
    if (ran) {
      const next = recurrence ? nextOccurrence(recurrence, zone, sendAt, runsSoFar) : null;
      return this.#skip(row, now, next, 0, `The occurrence ${sendAt.toISOString()} already has a run; it is not sent again.`);
    }
    const decision = dueDecision({ sendAt, now, graceMinutes, recurrence, workspaceZone: zone, runsSoFar });
    switch (decision.kind) {
      case 'start':
        return this.system(row, 'start', { occurrence: decision.occurrence });
      case 'missed':
        return this.system(row, 'fail', {
          reasons: [
            {
              code: 'SCHEDULE_PASSED',
              detail:
                `The send time ${sendAt.toISOString()} passed ${decision.lateMinutes} minutes ago while Herald was not running, ` +
                `beyond the ${graceMinutes}-minute grace window, so it was not sent late. Retry to send now, or schedule a new time.`,
            },
          ],
        });
      case 'skip': {
        const detail =
          `${decision.skipped} occurrence(s) from ${sendAt.toISOString()} passed while Herald was not running, beyond the ` +
          `${graceMinutes}-minute grace window, and were skipped.`;
        if (decision.next === null)
          return this.system(row, 'fail', { reasons: [{ code: 'SCHEDULE_PASSED', detail: `${detail} The rule has no occurrence left.` }] });
        return this.#skip(row, now, decision.next, decision.skipped, detail);
      }
      default:
        return assertUnreachable(decision);
    }
  }

  /** Moves a waiting recurring campaign on to its next occurrence, saying why in its timeline and failure reasons. */
  async #skip(row: CampaignRow, now: Date, next: Date | null, skipped: number, detail: string): Promise<Result<unknown>> {
    if (next === null) return this.system(row, 'fail', { reasons: [{ code: 'SCHEDULE_PASSED', detail }] });
    const reasons = [{ code: 'SCHEDULE_PASSED', detail: `${detail} Next occurrence: ${next.toISOString()}.` }];
    await this.#deps.db.transaction().execute(async (trx) => {
      const done = await updateCampaignGuarded(trx, {
        workspaceId: row.workspace_id,
        id: row.id,
        version: row.version,
        expectedStatus: 'scheduled',
        patch: { send_at: next.toISOString(), failure_reasons: JSON.stringify(reasons), updated_at: now.toISOString() },
      });
      if (!done) throw HeraldError.of('VERSION_CONFLICT', 'The campaign changed meanwhile.');
      await insertEvent(trx, {
        workspaceId: row.workspace_id,
        campaignId: row.id,
        at: now,
        actor: 'engine',
        action: 'skip_occurrence',
        from: 'scheduled',
        to: 'scheduled',
        reason: 'SCHEDULE_PASSED',
        data: { skipped, missed: row.send_at, next: next.toISOString() },
      });
    });
    return ok(null);
  }

  async #runCount(campaignId: string): Promise<number> {
    const row = await this.#deps.db
      .selectFrom('runs')
      .select(sql<number>`count(*)`.as('n'))
      .where('campaign_id', '=', campaignId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  /** Adds to SCHEDULE_PASSED on a recurring campaign the next occurrence of its rule, a ready answer. */
  async #explain(workspaceId: string, id: string, error: Failure): Promise<Failure> {
    if (error.code !== 'SCHEDULE_PASSED') return error;
    const row = await getCampaign(this.#deps.db, workspaceId, id);
    const recurrence = row?.kind === 'recurring' ? parseJson<Recurrence | null>(row.recurrence ?? 'null') : null;
    if (!row || !recurrence) return error;
    const next = nextOccurrence(recurrence, await this.#zoneOf(workspaceId), this.#deps.clock.now(), await this.#runCount(id));
    return next ? { ...error, extra: { ...error.extra, nextOccurrence: next.toISOString() } } : error;
  }

  /** One attempt at a transition; a concurrent change makes it throw VERSION_CONFLICT. */
  transitionOnce(row: CampaignRow, action: Action, params: ActionParams, actor: string) {
    return this.#transition(row, action, params, actor);
  }

  async #transition(
    row: CampaignRow,
    action: Action,
    params: ActionParams,
    actor: string,
    extra: SystemExtra = {},
  ): Promise<Result<Transition & { cloneId?: string }>> {
    const state = this.#state(row);
    const recurrence = row.kind === 'recurring' ? parseJson<Recurrence | null>(row.recurrence ?? 'null') : null;
    const zone = recurrence ? await this.#zoneOf(row.workspace_id) : 'UTC';
    // A recurring campaign is scheduled (or rescheduled without a time) for its rule's next occurrence.
    if (recurrence && (action === 'schedule' || action === 'reschedule') && !params.sendAt) {
      const next = nextOccurrence(recurrence, zone, this.#deps.clock.now(), await this.#runCount(row.id));
      if (next) params = { ...params, sendAt: next.toISOString() };
    }
    const facts: { -readonly [K in keyof LifecycleContext]?: LifecycleContext[K] } = extra.outcome ? { outcome: extra.outcome } : {};
    let nextRunAt: Date | null = null;
    if (recurrence && action === 'complete' && row.current_run_id !== null) {
      // The next occurrence after the one this run was for; one that passed meanwhile is the engine's to judge (grace window).
      const run = await this.#deps.db.selectFrom('runs').select('occurrence_at').where('id', '=', row.current_run_id).executeTakeFirst();
      const after = new Date(run?.occurrence_at ?? this.#deps.clock.now().toISOString());
      nextRunAt = nextOccurrence(recurrence, zone, after, await this.#runCount(row.id));
      facts.nextOccurrence = nextRunAt;
    }
    const { ctx, timeZone: workspaceZone } = await this.#context(row, params, facts);
    const t = apply(state, action, ctx);
    if (!t.ok) return t;
    const next = t.value;
    if (action === 'report') return t;

    const reasons = extra.reasons;
    if (preflightActions.includes(action)) {
      const problems = await this.preflight(row);
      if (problems.length > 0) {
        // A launch that cannot start fails with its reasons, shown on the campaign (seed 003,
        // issue 3); schedule, restart and retry leave the campaign as it was and answer why.
        if (actor !== 'engine' && action !== 'launch') {
          return fail('PREFLIGHT_FAILED', problems.map((p) => p.detail).join(' '), {
            reasons: problems,
            allowedActions: allowedActions(state, ctx),
          });
        }
        // So does a scheduled campaign that comes due and cannot go out.
        return this.#transition(row, 'fail', {}, actor, { reasons: problems });
      }
    }

    const now = this.#deps.clock.now();
    const iso = now.toISOString();
    const patch: CampaignUpdate = { status: next.status, outcome: next.outcome, archived: next.archived ? 1 : 0, updated_at: iso };
    if (action === 'schedule' || action === 'reschedule' || (action === 'restart' && params.sendAt)) {
      patch.send_at = (ctx.params?.sendAt ?? ctx.sendAt)!.toISOString();
      if (action === 'schedule') patch.launch_type = 'scheduled';
    }
    if (action === 'fail' || action === 'auto_pause') patch.failure_reasons = JSON.stringify(reasons ?? []);
    // A new time answers SCHEDULE_PASSED too: the alert (or a skipped occurrence's warning) goes.
    if (['launch', 'start', 'retry', 'retry_failed', 'restart', 'resume', 'schedule', 'reschedule'].includes(action))
      patch.failure_reasons = '[]';
    if (['complete', 'stop', 'fail'].includes(action)) patch.finished_at = iso;
    if (action === 'complete' && next.status === 'scheduled') {
      patch.send_at = nextRunAt!.toISOString();
      patch.finished_at = null;
    }
    // A retry or restart sends again from now: the TTL (pacing.ttlMinutes) counts from here.
    if (['retry', 'retry_failed', 'restart'].includes(action)) patch.launched_at = iso;
    // An automation lets in contacts whose hour comes after it was (last) published.
    if (action === 'publish') patch.launched_at = iso;
    if (['launch', 'start', 'retry', 'retry_failed', 'restart', 'resume'].includes(action)) patch.finished_at = null;

    let cloneId: string | undefined;
    await this.#deps.db.transaction().execute(async (trx) => {
      if (next.effect === 'delete') {
        const runs = await trx.selectFrom('runs').select('id').where('campaign_id', '=', row.id).execute();
        const runIds = runs.map((r) => r.id);
        if (runIds.length) {
          await trx.deleteFrom('messages').where('run_id', 'in', runIds).execute();
          await trx.deleteFrom('run_counters').where('run_id', 'in', runIds).execute();
          await trx.deleteFrom('run_series').where('run_id', 'in', runIds).execute();
        }
        const gone = await trx.deleteFrom('campaigns').where('id', '=', row.id).where('version', '=', row.version).executeTakeFirst();
        if (Number(gone.numDeletedRows) !== 1)
          throw HeraldError.of('VERSION_CONFLICT', 'The campaign changed meanwhile; reload and try again.');
        return;
      }
      if (next.effect === 'snapshot') {
        const number =
          (
            await trx
              .selectFrom('runs')
              .select(sql<number>`coalesce(max(number), 0)`.as('n'))
              .where('campaign_id', '=', row.id)
              .executeTakeFirstOrThrow()
          ).n + 1;
        const run = await trx
          .insertInto('runs')
          .values({
            workspace_id: row.workspace_id,
            campaign_id: row.id,
            number,
            channel: row.channel,
            snapshot_cursor: 0,
            snapshot_done: 0,
            created_at: iso,
            // The instant the run is for: unique per campaign, so an occurrence never runs twice.
            occurrence_at: (extra.occurrence ?? now).toISOString(),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        await trx
          .insertInto('run_counters')
          .values({ run_id: run.id, workspace_id: row.workspace_id } as never)
          .execute();
        patch.current_run_id = run.id;
        patch.launched_at = iso;
      }
      const ok1 = await updateCampaignGuarded(trx, {
        workspaceId: row.workspace_id,
        id: row.id,
        version: row.version,
        expectedStatus: row.status,
        patch,
      });
      if (!ok1) throw HeraldError.of('VERSION_CONFLICT', 'The campaign changed meanwhile; reload and try again.');
      await insertEvent(trx, {
        workspaceId: row.workspace_id,
        campaignId: row.id,
        at: now,
        actor,
        action,
        from: row.status,
        to: next.status,
        reason: params.reason ?? (reasons?.length ? reasons.map((r) => r.code).join(', ') : null),
        data: reasons?.length ? { reasons } : extra.outcome ? { outcome: extra.outcome } : null,
      });
      const runId = row.current_run_id;
      if (action === 'complete' && runId !== null) {
        // The run ends with the campaign, in the same transaction: never one without the other.
        await trx
          .updateTable('runs')
          .set({ finished_at: iso, outcome: extra.outcome ?? next.outcome })
          .where('id', '=', runId)
          .execute();
      }
      const moves: Partial<Record<typeof next.effect, [MessageState, MessageState]>> = {
        cancel_unsent: ['pending', 'cancelled'],
        requeue_cancelled: ['cancelled', 'pending'],
        requeue_failed: ['failed', 'pending'],
      };
      const move = moves[next.effect];
      // An automation's unsent messages may sit in any of its period runs (two around New Year).
      const runIds =
        row.kind === 'automation'
          ? (await trx.selectFrom('runs').select('id').where('campaign_id', '=', row.id).where('finished_at', 'is', null).execute()).map(
              (r) => r.id,
            )
          : runId !== null
            ? [runId]
            : [];
      // A restart keeps each recipient's local send time (docs/time.md); a retry of failures sends at once.
      const delivery = parseJson<Delivery | null>(row.delivery ?? 'null');
      const localTime = next.effect === 'requeue_cancelled' && delivery?.localTime ? delivery : null;
      for (const runId of move ? runIds : []) {
        const due = localTime
          ? await requeueDueSql(trx, { runId, from: move![0], delivery: localTime, launch: now, workspaceZone })
          : undefined;
        const moved = await moveMessages(trx, { runId, from: move![0], to: move![1], now, due });
        if (next.effect !== 'cancel_unsent')
          await trx.updateTable('runs').set({ finished_at: null, outcome: null }).where('id', '=', runId).execute();
        if (moved > 0)
          await insertEvent(trx, {
            workspaceId: row.workspace_id,
            campaignId: row.id,
            at: now,
            actor,
            action: `${action}:messages`,
            from: next.status,
            to: next.status,
            data: { from: move![0], to: move![1], count: moved },
          });
      }
      if (next.effect === 'clone') cloneId = await this.#insertClone(trx, row, now, actor);
    });
    this.#deps.notify();
    return ok({ ...next, ...(cloneId ? { cloneId } : {}) });
  }

  async #insertClone(trx: Db, row: CampaignRow, now: Date, actor: string): Promise<string> {
    const id = newId('cmp', now.getTime());
    const iso = now.toISOString();
    await insertCampaign(trx, {
      ...row,
      id,
      name: `${row.name} (copy)`,
      status: 'draft',
      outcome: null,
      archived: 0,
      // A past send time would only raise SCHEDULE_PASSED; the copy starts without one.
      send_at: row.send_at && new Date(row.send_at) > now ? row.send_at : null,
      failure_reasons: '[]',
      version: 1,
      current_run_id: null,
      cloned_from: row.id,
      created_at: iso,
      updated_at: iso,
      launched_at: null,
      finished_at: null,
    });
    await insertEvent(trx, {
      workspaceId: row.workspace_id,
      campaignId: id,
      at: now,
      actor,
      action: 'clone',
      from: null,
      to: 'draft',
      data: { clonedFrom: row.id },
    });
    return id;
  }

  /**
   * TTL (seed 003): once a campaign's messages have waited `ttlMinutes` since launch, the
   * unsent ones become `expired` in one statement, with an event saying how many.
   */
  async expireUnsent(row: CampaignRow): Promise<number> {
    const ttl = (JSON.parse(row.pacing) as Pacing).ttlMinutes;
    const runId = row.current_run_id;
    const now = this.#deps.clock.now();
    if (!ttl || runId === null || !row.launched_at || Date.parse(row.launched_at) + ttl * 60_000 > now.getTime()) return 0;
    return this.#deps.db.transaction().execute(async (trx) => {
      const moved = await moveMessages(trx, { runId, from: 'pending', to: 'expired', now });
      if (moved > 0) {
        await insertEvent(trx, {
          workspaceId: row.workspace_id,
          campaignId: row.id,
          at: now,
          actor: 'engine',
          action: 'expire:messages',
          from: row.status,
          to: row.status,
          reason: `TTL of ${ttl} minutes passed`,
          data: { from: 'pending', to: 'expired', count: moved },
        });
      }
      return moved;
    });
  }

  async events(workspaceId: string, id: string, limit: number, afterId?: number) {
    await this.#load(workspaceId, id);
    const rows = await listEvents(this.#deps.db, workspaceId, id, limit, afterId);
    return rows.map((e) => ({
      id: e.id,
      at: e.at,
      actor: e.actor,
      action: e.action,
      from: e.from_status,
      to: e.to_status,
      reason: e.reason,
      data: e.data ? (JSON.parse(e.data) as Record<string, unknown>) : null,
    }));
  }

  /** Live stats from the counters (O(1) per run, never a scan of messages) and the per-minute series. */
  async stats(workspaceId: string, id: string) {
    const row = await this.#load(workspaceId, id);
    const states = await readCampaignCounters(this.#deps.db, workspaceId, id);
    const series = row.current_run_id
      ? await this.#deps.db
          .selectFrom('run_series')
          .select(['bucket', 'sent', 'failed'])
          .where('run_id', '=', row.current_run_id)
          .orderBy('bucket')
          .execute()
      : [];
    const runs = await this.#deps.db
      .selectFrom('runs')
      .select(['id', 'number', 'created_at', 'finished_at', 'outcome', 'snapshot_done'])
      .where('workspace_id', '=', workspaceId)
      .where('campaign_id', '=', id)
      .orderBy('number')
      .execute();
    return {
      campaignId: id,
      status: row.status,
      outcome: row.outcome,
      counts: campaignCounts(states),
      states,
      runs: runs.map((r) => ({
        id: r.id,
        number: r.number,
        createdAt: r.created_at,
        finishedAt: r.finished_at,
        outcome: r.outcome,
        snapshotDone: r.snapshot_done === 1,
      })),
      series,
    };
  }

  /** The campaign's runs, newest first, each with its own counts (recurring: one per occurrence). */
  async runs(
    workspaceId: string,
    id: string,
    opts: { limit: number; before?: number },
  ): Promise<{ data: Run[]; nextCursor: string | null }> {
    await this.#load(workspaceId, id);
    let q = this.#deps.db
      .selectFrom('runs')
      .leftJoin('run_counters', 'run_counters.run_id', 'runs.id')
      .selectAll('run_counters')
      .select([
        'runs.id as run',
        'runs.number',
        'runs.occurrence_at',
        'runs.created_at',
        'runs.finished_at',
        'runs.outcome',
        'runs.snapshot_done',
      ])
      .where('runs.workspace_id', '=', workspaceId)
      .where('runs.campaign_id', '=', id);
    if (opts.before !== undefined) q = q.where('runs.number', '<', opts.before);
    const rows = await q
      .orderBy('runs.number', 'desc')
      .limit(opts.limit + 1)
      .execute();
    const more = rows.length > opts.limit;
    const data = (more ? rows.slice(0, opts.limit) : rows).map((r) => {
      const states = zeroCounts();
      for (const state of messageStates) states[state] = Number((r as Record<string, unknown>)[state] ?? 0);
      return {
        id: r.run,
        number: r.number,
        occurrenceAt: r.occurrence_at,
        createdAt: r.created_at,
        finishedAt: r.finished_at,
        outcome: (r.outcome as Outcome | null) ?? null,
        snapshotDone: r.snapshot_done === 1,
        counts: campaignCounts(states),
      };
    });
    return { data, nextCursor: more ? String(data.at(-1)!.number) : null };
  }

  /** Per-recipient outcomes (who failed and why), by keyset on the message id. */
  async messages(workspaceId: string, id: string, opts: { state?: string; limit: number; after?: number }) {
    const row = await this.#load(workspaceId, id);
    if (row.current_run_id === null) return { data: [], nextCursor: null };
    let q = this.#deps.db
      .selectFrom('messages as m')
      .select([
        'm.id',
        'm.contact_id',
        'm.address',
        'm.channel',
        'm.state',
        'm.attempts',
        'm.sent_at',
        'm.error_code',
        'm.error_detail',
        'm.fallback_trail',
        'm.updated_at',
      ])
      .where('m.run_id', '=', row.current_run_id)
      .where('m.workspace_id', '=', workspaceId);
    if (opts.state) q = q.where('m.state', '=', opts.state);
    if (opts.after !== undefined) q = q.where('m.id', '>', opts.after);
    const rows = await q
      .orderBy('m.id')
      .limit(opts.limit + 1)
      .execute();
    const more = rows.length > opts.limit;
    const data = (more ? rows.slice(0, opts.limit) : rows).map((m) => ({
      id: m.id,
      contactId: m.contact_id,
      address: m.address,
      // The channel it goes out on: a fallback's (DESIGN §8), else the campaign's own.
      channel: m.channel ?? row.channel,
      state: m.state,
      attempts: m.attempts,
      sentAt: m.sent_at,
      error: m.error_code ? { code: m.error_code, detail: m.error_detail } : null,
      // The channels it failed on before this one, e.g. "sms: TWILIO_21610: …"; null when none.
      fallbackTrail: m.fallback_trail,
      updatedAt: m.updated_at,
    }));
    return { data, nextCursor: more ? String(data.at(-1)!.id) : null };
  }
}

/**
 * Where a stored template's Liquid no longer parses (templates are checked when saved, so
 * this catches what changed since: a Liquid upgrade, a row written by hand), as
 * "field: message" with Liquid's line.
 */
function liquidProblems(t: { subject: string | null; html: string | null; text: string | null; content: string | null }): string[] {
  const parts = t.content ? liquidParts(JSON.parse(t.content) as unknown) : { subject: t.subject, html: t.html, text: t.text };
  return checkTemplate(parts).map((p) => `${p.field}: ${p.message}`);
}
