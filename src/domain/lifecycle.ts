import { type Failure, type Result, fail, ok } from './errors.js';

/**
 * The campaign lifecycle as data (DESIGN §2). One table of
 * (kind, status, action) → next status, with guards and the side effect the
 * engine must carry out; `apply` reads it and `allowedActions` derives from it.
 * Nothing else in Herald encodes a lifecycle rule.
 */

export const campaignKinds = ['broadcast', 'recurring', 'automation', 'always_on'] as const;
export type CampaignKind = (typeof campaignKinds)[number];

export const broadcastStatuses = ['draft', 'ready', 'scheduled', 'queued', 'sending', 'paused', 'completed', 'stopped', 'failed'] as const;
export const automationStatuses = ['draft', 'live', 'unpublished'] as const;
export const alwaysOnStatuses = ['draft', 'active', 'paused', 'stopped'] as const;
export const campaignStatuses = [...broadcastStatuses, 'live', 'unpublished', 'active'] as const;
export type CampaignStatus = (typeof campaignStatuses)[number];

export const outcomes = ['fully_sent', 'partially_sent'] as const;
export type Outcome = (typeof outcomes)[number];

export const channels = ['email', 'sms', 'voice', 'webpush', 'push', 'telegram', 'viber', 'webhook'] as const;
export type Channel = (typeof channels)[number];

/** Actions a person (API, CLI, UI) may ask for. */
export const userActions = [
  'edit',
  'finalize',
  'schedule',
  'reschedule',
  'launch',
  'pause',
  'resume',
  'stop',
  'restart',
  'retry_failed',
  'retry',
  'clone',
  'delete',
  'archive',
  'unarchive',
  'report',
  'publish',
  'unpublish',
  'activate',
] as const;
export type UserAction = (typeof userActions)[number];

/** Actions only the engine takes, as time passes and work finishes. */
export const systemActions = ['start', 'begin_sending', 'complete', 'fail', 'auto_pause'] as const;
export type SystemAction = (typeof systemActions)[number];
export type Action = UserAction | SystemAction;

/** Groups of campaign fields, for the per-status edit rules. */
export const editGroups = ['meta', 'content', 'audience', 'schedule', 'pacing'] as const;
export type EditGroup = (typeof editGroups)[number];

/** What the engine must do, in the same transaction as the status change where it can. */
export type Effect =
  | 'none'
  | 'snapshot' // create a run and materialise its audience
  | 'cancel_unsent' // pending → cancelled, in one statement
  | 'requeue_cancelled' // restart: cancelled → pending (unsent recipients only)
  | 'requeue_failed' // retry: failed → pending
  | 'clone'
  | 'delete'
  | 'set_archived'
  | 'clear_archived';

export interface ChannelPolicy {
  /** Field groups a person may still edit while the campaign waits for its send time. */
  readonly editWhileScheduled: readonly EditGroup[];
  /** Whether a stopped campaign may be restarted (unsent recipients only) or must be cloned. */
  readonly restartAfterStop: boolean;
  /** SMS restarts re-plan the per-message schedule instead of reusing the old one (seed 004). */
  readonly restartRebuildsSchedule: boolean;
}

const contentLocked: ChannelPolicy = {
  editWhileScheduled: ['meta', 'schedule'],
  restartAfterStop: true,
  restartRebuildsSchedule: false,
};

/** Default channel policies (DESIGN §2); a workspace may override the booleans. */
export const defaultChannelPolicies: Readonly<Record<Channel, ChannelPolicy>> = Object.freeze({
  email: contentLocked,
  push: contentLocked,
  webpush: contentLocked,
  telegram: contentLocked,
  viber: contentLocked,
  webhook: contentLocked,
  // Seed 004: "details are locked and only the send schedule … can be adjusted"; restart rebuilds the schedule.
  sms: { editWhileScheduled: ['schedule'], restartAfterStop: true, restartRebuildsSchedule: true },
  // Seed 004: voice keeps settings and start time editable, and a stopped voice campaign never restarts.
  voice: {
    editWhileScheduled: ['meta', 'content', 'schedule', 'pacing'],
    restartAfterStop: false,
    restartRebuildsSchedule: false,
  },
});

export type PolicyOverrides = Partial<Record<Channel, Partial<Pick<ChannelPolicy, 'restartAfterStop'>>>>;

/** The channel policy in force for a workspace: defaults with its boolean overrides. */
export function channelPolicy(channel: Channel, overrides?: PolicyOverrides): ChannelPolicy {
  const base = defaultChannelPolicies[channel];
  const own = overrides?.[channel];
  return own?.restartAfterStop === undefined ? base : { ...base, restartAfterStop: own.restartAfterStop };
}

/** The parts of a campaign the lifecycle looks at. */
export interface CampaignState {
  readonly kind: CampaignKind;
  readonly channel: Channel;
  readonly status: CampaignStatus;
  readonly archived: boolean;
  readonly outcome: Outcome | null;
}

/** Facts about the campaign and the moment, gathered by the caller (the domain does no I/O). */
export interface LifecycleContext {
  readonly now: Date;
  /** Every field needed to send is set (content, sender, audience, and a time when scheduled). */
  readonly complete: boolean;
  /** A run exists, i.e. the audience was snapshotted at least once. */
  readonly hasRun: boolean;
  /** At least one message left for a recipient; after that, delete is refused (reports are kept). */
  readonly sentAny: boolean;
  readonly failedCount: number;
  /** The campaign's send time, for scheduled launches. */
  readonly sendAt: Date | null;
  readonly policy: ChannelPolicy;
  /** Parameters of this action: a new send time, or the answer to SCHEDULE_PASSED. */
  readonly params?: { readonly sendAt?: Date; readonly sendNow?: boolean };
  /** For `complete`: how the run ended. */
  readonly outcome?: Outcome;
  /** For `complete` of a recurring campaign: its next occurrence, or null when the rule has ended. */
  readonly nextOccurrence?: Date | null;
}

export interface Transition {
  readonly status: CampaignStatus;
  readonly archived: boolean;
  readonly outcome: Outcome | null;
  readonly effect: Effect;
}

type Guard = (state: CampaignState, ctx: LifecycleContext) => Failure | null;
type Next = CampaignStatus | 'same' | ((state: CampaignState, ctx: LifecycleContext) => Result<CampaignStatus>);

interface Row {
  readonly from: readonly CampaignStatus[];
  readonly action: Action;
  readonly to: Next;
  readonly effect: Effect | ((state: CampaignState, ctx: LifecycleContext) => Effect);
  readonly guard?: Guard;
  /** Keeps the outcome (report, clone, archive); everything else that moves clears it. */
  readonly keepsOutcome?: boolean;
}

const needsComplete: Guard = (s, ctx) =>
  ctx.complete ? null : { code: 'CAMPAIGN_INCOMPLETE', detail: `The ${s.status} campaign is not complete enough to be sent.` };

const needsEditable: Guard = (s, ctx) =>
  editableGroups(s, ctx).length > 0
    ? null
    : { code: 'ACTION_NOT_ALLOWED', detail: `Nothing can be edited while the campaign is ${s.status}.` };

const needsNothingSent: Guard = (_s, ctx) =>
  ctx.sentAny ? { code: 'ALREADY_SENT', detail: 'Messages were already sent; archive the campaign instead.' } : null;

const needsFailures: Guard = (_s, ctx) =>
  ctx.failedCount > 0 ? null : { code: 'NOTHING_TO_RETRY', detail: 'No message of this campaign failed.' };

const needsRestartPolicy: Guard = (s) => ({
  code: 'ACTION_NOT_ALLOWED',
  detail: `A stopped ${s.channel} campaign cannot be restarted in this workspace; clone it instead.`,
});

/** A new send time must lie in the future; otherwise the person must answer seed 003's alert. */
const futureSendTime = (_s: CampaignState, ctx: LifecycleContext): Result<CampaignStatus> => {
  const at = ctx.params?.sendAt ?? ctx.sendAt;
  if (!at) return fail('CAMPAIGN_INCOMPLETE', 'A send time is required to schedule the campaign.');
  if (at.getTime() <= ctx.now.getTime())
    return fail('SCHEDULE_PASSED', `The send time ${at.toISOString()} has passed.`, { sendAt: at.toISOString() });
  return ok('scheduled');
};

/**
 * Restart: a campaign that already sent continues with its unsent recipients; one stopped
 * before its first send goes back to waiting for its time, or raises SCHEDULE_PASSED
 * when that time has gone by (send now, or pick a new time).
 */
const restartTarget = (s: CampaignState, ctx: LifecycleContext): Result<CampaignStatus> => {
  if (ctx.hasRun) return ok('sending');
  if (ctx.params?.sendNow) return ok('queued');
  if (ctx.params?.sendAt || ctx.sendAt) return futureSendTime(s, ctx);
  return ok('queued');
};

const broadcastTable: readonly Row[] = [
  {
    from: ['draft', 'ready', 'stopped', 'failed', 'scheduled', 'paused'],
    action: 'edit',
    // A scheduled campaign must stay sendable and keep a send time in the future; a ready
    // one an edit leaves incomplete goes back to draft.
    to: (s, ctx) => {
      if (s.status !== 'scheduled') return ok(s.status === 'ready' && !ctx.complete ? 'draft' : s.status);
      const incomplete = needsComplete(s, ctx);
      return incomplete ? { ok: false, error: incomplete } : futureSendTime(s, ctx);
    },
    effect: 'none',
    guard: needsEditable,
    keepsOutcome: true,
  },
  { from: ['draft'], action: 'finalize', to: 'ready', effect: 'none', guard: needsComplete },
  {
    // From failed too, before any run: a schedule missed past its grace window fails with
    // SCHEDULE_PASSED, and picking a new time is one of its two answers (retry sends now).
    from: ['draft', 'ready', 'failed'],
    action: 'schedule',
    to: futureSendTime,
    effect: 'none',
    guard: (s, ctx) =>
      s.status === 'failed' && ctx.hasRun
        ? { code: 'ACTION_NOT_ALLOWED', detail: 'A failed campaign that already ran is retried, not scheduled again.' }
        : needsComplete(s, ctx),
  },
  { from: ['scheduled'], action: 'reschedule', to: futureSendTime, effect: 'none' },
  { from: ['draft', 'ready'], action: 'launch', to: 'queued', effect: 'snapshot', guard: needsComplete },
  { from: ['queued', 'sending'], action: 'pause', to: 'paused', effect: 'none' },
  { from: ['paused'], action: 'resume', to: (_s, ctx) => ok(ctx.hasRun ? 'sending' : 'queued'), effect: 'none' },
  { from: ['scheduled', 'queued', 'sending', 'paused'], action: 'stop', to: 'stopped', effect: 'cancel_unsent' },
  {
    from: ['stopped'],
    action: 'restart',
    to: restartTarget,
    effect: (_s, ctx) =>
      ctx.hasRun ? 'requeue_cancelled' : ctx.params?.sendNow || !(ctx.params?.sendAt ?? ctx.sendAt) ? 'snapshot' : 'none',
    guard: (s, ctx) => (ctx.policy.restartAfterStop ? needsComplete(s, ctx) : needsRestartPolicy(s, ctx)),
  },
  { from: ['completed'], action: 'retry_failed', to: 'sending', effect: 'requeue_failed', guard: needsFailures },
  {
    from: ['failed'],
    action: 'retry',
    to: (_s, ctx) => ok(ctx.hasRun ? 'sending' : 'queued'),
    effect: (_s, ctx) => (ctx.hasRun ? 'requeue_failed' : 'snapshot'),
    guard: needsComplete,
  },
  { from: broadcastStatuses, action: 'clone', to: 'same', effect: 'clone', keepsOutcome: true },
  { from: ['draft', 'ready', 'failed'], action: 'delete', to: 'same', effect: 'delete', guard: needsNothingSent, keepsOutcome: true },
  {
    from: ['draft', 'ready', 'paused', 'completed', 'stopped', 'failed'],
    action: 'archive',
    to: 'same',
    effect: 'set_archived',
    keepsOutcome: true,
  },
  {
    from: ['scheduled', 'queued', 'sending', 'paused', 'completed', 'stopped', 'failed'],
    action: 'report',
    to: 'same',
    effect: 'none',
    keepsOutcome: true,
  },
  // The engine's own moves.
  { from: ['scheduled'], action: 'start', to: 'queued', effect: 'snapshot' },
  { from: ['queued'], action: 'begin_sending', to: 'sending', effect: 'none' },
  {
    from: ['sending'],
    action: 'complete',
    // A recurring campaign waits for its next occurrence (seed 003's Waiting between runs) until its rule ends.
    to: (s, ctx) => ok(s.kind === 'recurring' && ctx.nextOccurrence ? 'scheduled' : 'completed'),
    effect: 'none',
    guard: (_s, ctx) => (ctx.outcome ? null : { code: 'VALIDATION_FAILED', detail: 'complete needs an outcome' }),
  },
  // A launch that fails preflight (seed 003: Failed, for launch types Now and Manual too), a
  // schedule that comes due and cannot go out, and a provider that refuses the campaign.
  { from: ['draft', 'ready', 'scheduled', 'queued', 'sending', 'paused'], action: 'fail', to: 'failed', effect: 'none' },
  { from: ['sending'], action: 'auto_pause', to: 'paused', effect: 'none' },
];

const automationTable: readonly Row[] = [
  { from: ['draft', 'unpublished'], action: 'edit', to: 'same', effect: 'none', guard: needsEditable },
  { from: ['draft', 'unpublished'], action: 'publish', to: 'live', effect: 'none', guard: needsComplete },
  // Unpublishing stops new entries, and the messages queued but not yet sent are cancelled, so that
  // nothing goes out while unpublished nor days late when it is published again (seed 000).
  { from: ['live'], action: 'unpublish', to: 'unpublished', effect: 'cancel_unsent' },
  { from: automationStatuses, action: 'clone', to: 'same', effect: 'clone' },
  { from: ['draft', 'unpublished'], action: 'delete', to: 'same', effect: 'delete', guard: needsNothingSent },
  { from: ['draft', 'unpublished'], action: 'archive', to: 'same', effect: 'set_archived' },
  { from: ['live', 'unpublished'], action: 'report', to: 'same', effect: 'none' },
  { from: ['live'], action: 'fail', to: 'unpublished', effect: 'cancel_unsent' },
];

const alwaysOnTable: readonly Row[] = [
  { from: ['draft', 'paused'], action: 'edit', to: 'same', effect: 'none', guard: needsEditable },
  { from: ['draft'], action: 'activate', to: 'active', effect: 'none', guard: needsComplete },
  { from: ['active'], action: 'pause', to: 'paused', effect: 'none' },
  { from: ['paused'], action: 'resume', to: 'active', effect: 'none' },
  // Seed 002: "Stopped … This status is permanent."
  { from: ['active', 'paused'], action: 'stop', to: 'stopped', effect: 'none' },
  { from: alwaysOnStatuses, action: 'clone', to: 'same', effect: 'clone' },
  { from: ['draft'], action: 'delete', to: 'same', effect: 'delete', guard: needsNothingSent },
  { from: ['draft', 'stopped'], action: 'archive', to: 'same', effect: 'set_archived' },
  { from: ['active', 'paused', 'stopped'], action: 'report', to: 'same', effect: 'none' },
];

const tables: Readonly<Record<CampaignKind, readonly Row[]>> = {
  broadcast: broadcastTable,
  recurring: broadcastTable,
  automation: automationTable,
  always_on: alwaysOnTable,
};

/** The statuses a campaign of this kind can be in. */
export function statusesOf(kind: CampaignKind): readonly CampaignStatus[] {
  switch (kind) {
    case 'broadcast':
    case 'recurring':
      return broadcastStatuses;
    case 'automation':
      return automationStatuses;
    case 'always_on':
      return alwaysOnStatuses;
  }
}

// An archived campaign is read-only: it can be looked at and brought back (seed 004's Archived row).
const archivedActions: readonly Action[] = ['unarchive', 'report'];

function findRow(state: CampaignState, action: Action): Row | undefined {
  return tables[state.kind].find((row) => row.action === action && row.from.includes(state.status));
}

function guardFailure(row: Row, state: CampaignState, ctx: LifecycleContext): Failure | null {
  return row.guard ? row.guard(state, ctx) : null;
}

function notAllowed(state: CampaignState, action: Action, ctx: LifecycleContext): Result<never> {
  const where = state.archived ? `archived ${state.status}` : state.status;
  return fail('ACTION_NOT_ALLOWED', `Cannot ${action} a ${where} ${state.kind} campaign.`, {
    campaignStatus: state.status,
    allowedActions: allowedActions(state, ctx),
  });
}

/**
 * Applies an action to a campaign: the next state and the effect to carry out, or a coded
 * failure (ACTION_NOT_ALLOWED carries the allowed actions). Pure: no clock, no I/O.
 */
export function apply(state: CampaignState, action: Action, ctx: LifecycleContext): Result<Transition> {
  if (state.archived) {
    const keep = { status: state.status, outcome: state.outcome };
    if (action === 'unarchive') return ok({ ...keep, archived: false, effect: 'clear_archived' });
    if (action === 'report') return ok({ ...keep, archived: true, effect: 'none' });
    return notAllowed(state, action, ctx);
  }
  const row = findRow(state, action);
  if (!row) return notAllowed(state, action, ctx);
  const blocked = guardFailure(row, state, ctx);
  if (blocked) {
    return blocked.code === 'ACTION_NOT_ALLOWED'
      ? fail(blocked.code, blocked.detail, { campaignStatus: state.status, allowedActions: allowedActions(state, ctx) })
      : { ok: false, error: blocked };
  }
  let status: CampaignStatus = state.status;
  if (typeof row.to === 'function') {
    const next = row.to(state, ctx);
    if (!next.ok) return next;
    status = next.value;
  } else if (row.to !== 'same') {
    status = row.to;
  }
  const effect = typeof row.effect === 'function' ? row.effect(state, ctx) : row.effect;
  // The outcome belongs to a completed campaign; a recurring run's own outcome is kept on its run.
  const outcome = action === 'complete' ? (status === 'completed' ? (ctx.outcome ?? null) : null) : row.keepsOutcome ? state.outcome : null;
  return ok({ status, archived: effect === 'set_archived' ? true : state.archived, outcome, effect });
}

/** The user actions `apply` would accept now (warnings such as SCHEDULE_PASSED still count as allowed). */
export function allowedActions(state: CampaignState, ctx: LifecycleContext): UserAction[] {
  if (state.archived) return userActions.filter((a) => archivedActions.includes(a));
  return userActions.filter((action) => {
    const row = findRow(state, action);
    return row !== undefined && guardFailure(row, state, ctx) === null;
  });
}

/** Whether the action exists only for the engine. */
export function isSystemAction(action: string): action is SystemAction {
  return (systemActions as readonly string[]).includes(action);
}

export function isUserAction(action: string): action is UserAction {
  return (userActions as readonly string[]).includes(action);
}

/** The field groups a person may edit in the campaign's current status (DESIGN §2 table). */
export function editableGroups(state: CampaignState, ctx: Pick<LifecycleContext, 'policy' | 'hasRun'>): EditGroup[] {
  if (state.archived) return [];
  switch (state.status) {
    case 'draft':
    case 'ready':
    case 'failed':
    case 'unpublished':
      return [...editGroups];
    case 'stopped':
      // An always-on stop is permanent (seed 002) and its table has no edit row: nothing to edit.
      if (state.kind === 'always_on') return [];
      // The audience snapshot of a run that already sent is history; restart sends to its unsent rows.
      return editGroups.filter((g) => g !== 'audience' || !ctx.hasRun);
    case 'scheduled':
      return [...ctx.policy.editWhileScheduled];
    case 'paused':
      return state.kind === 'always_on' ? [...editGroups] : ['meta', 'pacing'];
    case 'queued':
    case 'sending':
    case 'completed':
    case 'live':
    case 'active':
      return [];
  }
}
