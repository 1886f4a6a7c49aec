import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ErrorCode } from './errors.js';
import {
  type Action,
  type CampaignKind,
  type CampaignState,
  type CampaignStatus,
  type Channel,
  type Effect,
  type LifecycleContext,
  type PolicyOverrides,
  type Transition,
  type UserAction,
  allowedActions,
  apply,
  campaignKinds,
  channelPolicy,
  channels,
  defaultChannelPolicies,
  editGroups,
  editableGroups,
  isSystemAction,
  isUserAction,
  outcomes,
  statusesOf,
  systemActions,
  userActions,
} from './lifecycle.js';

const NOW = new Date('2025-03-01T12:00:00.000Z');
const HOUR = 3_600_000;
const at = (hours: number) => new Date(NOW.getTime() + hours * HOUR);

const allActions: readonly Action[] = [...userActions, ...systemActions];

/** The ways a refused user action may be refused; anything else is a lifecycle bug. */
const refusalCodes: readonly ErrorCode[] = ['ACTION_NOT_ALLOWED', 'CAMPAIGN_INCOMPLETE', 'NOTHING_TO_RETRY', 'ALREADY_SENT'];

function draftOf(kind: CampaignKind, channel: Channel): CampaignState {
  return { kind, channel, status: 'draft', archived: false, outcome: null };
}

function context(channel: Channel, facts: Partial<LifecycleContext> = {}, overrides?: PolicyOverrides): LifecycleContext {
  return {
    now: NOW,
    complete: true,
    hasRun: false,
    sentAny: false,
    failedCount: 0,
    sendAt: at(24),
    policy: channelPolicy(channel, overrides),
    ...facts,
  };
}

/** Freezes a value all the way down, so that any write by the code under test throws (ESM is strict). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/**
 * `schedule` and `reschedule` take their time from the action (params.sendAt) or the campaign
 * (sendAt). With neither, the action is allowed but asks for a time; see the unit test below.
 * An edit of a scheduled campaign is refused when it would leave the campaign incomplete.
 */
const asksForSendTime = (action: Action, ctx: LifecycleContext, status: CampaignStatus) =>
  ((action === 'schedule' || action === 'reschedule') && !(ctx.params?.sendAt ?? ctx.sendAt)) ||
  (action === 'edit' && status === 'scheduled' && (!ctx.complete || !ctx.sendAt));

// ---------------------------------------------------------------------------------------------
// Arbitraries: a workspace (kind, channel, policy overrides) and a walk of actions with random facts.

const timeArb = fc.integer({ min: -3, max: 3 }).map(at); // includes `now` itself, which counts as passed
const paramsArb = fc.oneof(
  fc.constant(undefined),
  fc.record({ sendNow: fc.boolean() }),
  fc.record({ sendAt: timeArb }),
  fc.record({ sendAt: timeArb, sendNow: fc.boolean() }),
);
const overridesArb: fc.Arbitrary<PolicyOverrides> = fc
  .array(fc.tuple(fc.constantFrom(...channels), fc.boolean()), { maxLength: 3 })
  .map((pairs) => Object.fromEntries(pairs.map(([channel, restartAfterStop]) => [channel, { restartAfterStop }])));

const factsArb = fc.record({
  complete: fc.boolean(),
  hasRun: fc.boolean(),
  sentAny: fc.boolean(),
  failedCount: fc.nat({ max: 3 }),
  sendAt: fc.option(timeArb, { nil: null }),
  params: paramsArb,
  outcome: fc.option(fc.constantFrom(...outcomes), { nil: undefined }),
  nextOccurrence: fc.option(timeArb, { nil: null }),
});

// Most steps pick an action (a person's or the engine's) that moves the campaign, so that walks go deep;
// the rest pick any action at all, so that refusals are exercised too.
// fast-check leans integers towards 0; unbiased, the index picks any move rather than mostly the first.
const stepArb = fc.record({ pickMove: fc.nat({ max: 9 }).map((n) => n < 7), index: fc.noBias(fc.nat()), facts: factsArb });

const walkArb = fc.record({
  kind: fc.constantFrom(...campaignKinds),
  channel: fc.constantFrom(...channels),
  overrides: overridesArb,
  steps: fc.array(stepArb, { minLength: 1, maxLength: 40, size: 'max' }),
});

type Walk = typeof walkArb extends fc.Arbitrary<infer W> ? W : never;

/**
 * Every invariant that must hold in `state` under `ctx`, for every action, as a list of broken
 * ones (one `expect` per state rather than hundreds keeps 800 walks fast and the report readable).
 */
function violations(state: CampaignState, ctx: LifecycleContext): string[] {
  const broken: string[] = [];
  const where = `${state.kind} ${state.status}${state.archived ? ' (archived)' : ''}`;
  const check = (holds: boolean, what: string) => {
    if (!holds) broken.push(`${where}: ${what}`);
  };
  const same = (a: readonly unknown[], b: readonly unknown[]) => a.length === b.length && a.every((x, i) => x === b[i]);

  check(statusesOf(state.kind).includes(state.status), 'status outside its kind');
  // The outcome belongs to a completed campaign, and a completed campaign always has one.
  check((state.outcome !== null) === (state.status === 'completed'), `outcome ${state.outcome}`);
  // Archiving is refused while the campaign is waiting or sending.
  check(!state.archived || !['scheduled', 'queued', 'sending'].includes(state.status), 'archived while in flight');

  const allowed = allowedActions(state, ctx);
  check(allowed.every(isUserAction), `allowedActions holds an engine action: ${allowed.join(',')}`);
  if (state.archived) check(same(allowed, ['unarchive', 'report']), `archived allows ${allowed.join(',')}`);
  // The edit action and the edit rules agree: editing is offered exactly when some field may change.
  check(allowed.includes('edit') === editableGroups(state, ctx).length > 0, 'edit disagrees with editableGroups');

  for (const action of allActions) {
    const result = apply(state, action, ctx);
    if (result.ok) {
      check(isUserAction(action) ? allowed.includes(action) : !state.archived, `${action} applies but is not allowed`);
      check(statusesOf(state.kind).includes(result.value.status), `${action} leads to ${result.value.status}`);
      continue;
    }
    const { code, extra } = result.error;
    if (code === 'ACTION_NOT_ALLOWED') {
      const listed = extra?.allowedActions;
      check(Array.isArray(listed) && same(listed, allowed), `${action} refusal lists ${String(listed)}`);
    }
    if (isSystemAction(action)) continue;
    if (allowed.includes(action)) {
      // An allowed action may only come back as a warning the person answers.
      const answerable = code === 'SCHEDULE_PASSED' || (code === 'CAMPAIGN_INCOMPLETE' && asksForSendTime(action, ctx, state.status));
      check(answerable, `allowed ${action} fails with ${code}`);
    } else {
      check(refusalCodes.includes(code), `refused ${action} fails with ${code}`);
    }
  }
  return broken;
}

/** The campaign after a transition: its status, archived flag and outcome change; nothing else does. */
function next(state: CampaignState, { status, archived, outcome }: Transition): CampaignState {
  return { ...state, status, archived, outcome };
}

function contextFor(walk: Walk, facts: Walk['steps'][number]['facts']): LifecycleContext {
  return { now: NOW, policy: channelPolicy(walk.channel, walk.overrides), ...facts };
}

function pickAction(state: CampaignState, ctx: LifecycleContext, step: Walk['steps'][number]): Action {
  // One action per place it leads to, so that stop (reachable from four statuses) does not crowd out complete.
  const moves = new Map<string, Action>();
  for (const action of allActions) {
    const result = apply(state, action, ctx);
    if (!result.ok) continue;
    const { status, archived } = result.value;
    if (status !== state.status || archived !== state.archived) moves.set(`${status}:${archived}`, action);
  }
  const pool = step.pickMove && moves.size > 0 ? [...moves.values()] : allActions;
  return pool[step.index % pool.length] ?? 'report';
}

// Some 30,000 transitions each; generous, so that a loaded CI machine does not time them out.
const PROPERTY_TIMEOUT_MS = 30_000;

describe('lifecycle properties over random walks from a fresh draft', () => {
  it('stays within its kind, and allowedActions agrees with apply in every reachable state', () => {
    const reached = new Set<string>();
    fc.assert(
      fc.property(walkArb, (walk) => {
        let state = draftOf(walk.kind, walk.channel);
        for (const step of walk.steps) {
          const ctx = contextFor(walk, step.facts);
          expect(violations(state, ctx)).toEqual([]);
          const result = apply(state, pickAction(state, ctx, step), ctx);
          if (result.ok) state = next(state, result.value);
          reached.add(`${state.kind}:${state.status}${state.archived ? ':archived' : ''}`);
        }
        expect(violations(state, contextFor(walk, walk.steps[0]!.facts))).toEqual([]);
      }),
      { numRuns: 800 },
    );
    // The walks must actually visit every status of every kind, or the property above proves little.
    for (const kind of campaignKinds) for (const status of statusesOf(kind)) expect(reached).toContain(`${kind}:${status}`);
    expect(reached).toContain('broadcast:completed:archived');
    expect(reached).toContain('always_on:stopped:archived');
    expect(reached).toContain('automation:unpublished:archived');
  });

  it(
    'is pure: the same input gives the same output and neither state nor context is mutated',
    () => {
      fc.assert(
        fc.property(walkArb, fc.constantFrom(...allActions), (walk, action) => {
          let state = draftOf(walk.kind, walk.channel);
          for (const step of walk.steps) {
            const ctx = contextFor(walk, step.facts);
            const result = apply(state, pickAction(state, ctx, step), ctx);
            if (result.ok) state = next(state, result.value);
          }
          const ctx = contextFor(walk, walk.steps[0]!.facts);
          const frozenState = deepFreeze(structuredClone(state));
          const frozenCtx = deepFreeze(structuredClone(ctx));
          const first = apply(frozenState, action, frozenCtx);
          expect(apply(frozenState, action, frozenCtx)).toEqual(first);
          expect(allowedActions(frozenState, frozenCtx)).toEqual(allowedActions(frozenState, frozenCtx));
          expect(frozenState).toEqual(state);
          expect(frozenCtx).toEqual(ctx);
          expect(apply(state, action, ctx)).toEqual(first);
        }),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    'never moves a stopped campaign out of stopped when restarting is off for its channel or it is always-on',
    () => {
      fc.assert(
        fc.property(walkArb, (walk) => {
          const permanent = walk.kind === 'always_on' || !channelPolicy(walk.channel, walk.overrides).restartAfterStop;
          let state = draftOf(walk.kind, walk.channel);
          let stopped = false;
          for (const step of walk.steps) {
            const ctx = contextFor(walk, step.facts);
            const result = apply(state, pickAction(state, ctx, step), ctx);
            if (result.ok) state = next(state, result.value);
            stopped ||= state.status === 'stopped';
            if (stopped && permanent) expect(state.status).toBe('stopped');
          }
        }),
        { numRuns: 300 },
      );
    },
    PROPERTY_TIMEOUT_MS,
  );
});

describe('apply', () => {
  it('refuses an action with no row, naming the allowed actions', () => {
    const state: CampaignState = { kind: 'broadcast', channel: 'email', status: 'sending', archived: false, outcome: null };
    const ctx = context('email', { hasRun: true, sentAny: true });
    const result = apply(state, 'launch', ctx);
    expect(result).toMatchObject({
      ok: false,
      error: { code: 'ACTION_NOT_ALLOWED', extra: { allowedActions: ['pause', 'stop', 'clone', 'report'] } },
    });
  });

  it('refuses every action but unarchive and report on an archived campaign, and unarchive keeps the status', () => {
    const state: CampaignState = {
      kind: 'broadcast',
      channel: 'sms',
      status: 'completed',
      archived: true,
      outcome: 'partially_sent',
    };
    const ctx = context('sms', { hasRun: true, sentAny: true, failedCount: 4 });
    for (const action of allActions.filter((a) => a !== 'unarchive' && a !== 'report')) {
      expect(apply(state, action, ctx), action).toMatchObject({ ok: false, error: { code: 'ACTION_NOT_ALLOWED' } });
    }
    expect(apply(state, 'unarchive', ctx)).toMatchObject({
      ok: true,
      value: { status: 'completed', archived: false, outcome: 'partially_sent', effect: 'clear_archived' },
    });
    expect(apply(state, 'report', ctx)).toMatchObject({ ok: true, value: { status: 'completed', archived: true } });
  });

  it('refuses to unarchive a campaign that is not archived', () => {
    const state = draftOf('broadcast', 'email');
    expect(apply(state, 'unarchive', context('email'))).toMatchObject({ ok: false, error: { code: 'ACTION_NOT_ALLOWED' } });
  });

  it('refuses delete once anything was sent, and says to archive instead', () => {
    const state: CampaignState = { kind: 'broadcast', channel: 'email', status: 'failed', archived: false, outcome: null };
    expect(apply(state, 'delete', context('email', { sentAny: false }))).toMatchObject({ ok: true, value: { effect: 'delete' } });
    const refused = apply(state, 'delete', context('email', { sentAny: true, hasRun: true }));
    expect(refused).toMatchObject({ ok: false, error: { code: 'ALREADY_SENT' } });
    expect(allowedActions(state, context('email', { sentAny: true }))).toContain('archive');
  });

  it('counts a send time equal to now as passed', () => {
    const state = draftOf('broadcast', 'email');
    expect(apply(state, 'schedule', context('email', { sendAt: NOW }))).toMatchObject({
      ok: false,
      error: { code: 'SCHEDULE_PASSED', extra: { sendAt: NOW.toISOString() } },
    });
    expect(apply(state, 'schedule', context('email', { sendAt: new Date(NOW.getTime() + 1) }))).toMatchObject({
      ok: true,
      value: { status: 'scheduled' },
    });
  });

  it('prefers the time given with schedule over the campaign’s own', () => {
    const state = draftOf('broadcast', 'email');
    const ctx = context('email', { sendAt: at(-1), params: { sendAt: at(2) } });
    expect(apply(state, 'schedule', ctx)).toMatchObject({ ok: true, value: { status: 'scheduled', effect: 'none' } });
    const pastParam = context('email', { sendAt: at(2), params: { sendAt: at(-2) } });
    expect(apply(state, 'schedule', pastParam)).toMatchObject({ ok: false, error: { code: 'SCHEDULE_PASSED' } });
  });

  it('offers schedule without a send time, and asks for one when it is taken', () => {
    const state = draftOf('broadcast', 'email');
    const ctx = context('email', { sendAt: null });
    expect(allowedActions(state, ctx)).toContain('schedule');
    expect(apply(state, 'schedule', ctx)).toMatchObject({ ok: false, error: { code: 'CAMPAIGN_INCOMPLETE' } });
  });

  it('needs an outcome to complete a run', () => {
    const sending: CampaignState = { kind: 'broadcast', channel: 'email', status: 'sending', archived: false, outcome: null };
    const ctx = context('email', { hasRun: true, sentAny: true });
    expect(apply(sending, 'complete', ctx)).toMatchObject({ ok: false, error: { code: 'VALIDATION_FAILED' } });
  });

  it('clears the outcome when a completed campaign sends again', () => {
    const done: CampaignState = { kind: 'broadcast', channel: 'email', status: 'completed', archived: false, outcome: 'partially_sent' };
    const ctx = context('email', { hasRun: true, sentAny: true, failedCount: 2 });
    expect(apply(done, 'retry_failed', ctx)).toEqual({
      ok: true,
      value: { status: 'sending', archived: false, outcome: null, effect: 'requeue_failed' },
    });
    expect(apply(done, 'retry_failed', { ...ctx, failedCount: 0 })).toMatchObject({
      ok: false,
      error: { code: 'NOTHING_TO_RETRY' },
    });
  });

  it('sends an edited ready campaign back to draft when it is no longer complete', () => {
    const ready: CampaignState = { kind: 'recurring', channel: 'push', status: 'ready', archived: false, outcome: null };
    expect(apply(ready, 'edit', context('push', { complete: false }))).toMatchObject({ ok: true, value: { status: 'draft' } });
    expect(apply(ready, 'edit', context('push', { complete: true }))).toMatchObject({ ok: true, value: { status: 'ready' } });
  });

  // The broadcast table's moves, with the effect the engine must carry out.
  it.each<[CampaignStatus, Action, CampaignStatus, Effect, Partial<LifecycleContext>]>([
    ['draft', 'finalize', 'ready', 'none', {}],
    ['draft', 'launch', 'queued', 'snapshot', {}],
    ['ready', 'launch', 'queued', 'snapshot', {}],
    ['ready', 'schedule', 'scheduled', 'none', {}],
    ['scheduled', 'reschedule', 'scheduled', 'none', { params: { sendAt: at(48) } }],
    ['scheduled', 'start', 'queued', 'snapshot', {}],
    ['scheduled', 'stop', 'stopped', 'cancel_unsent', {}],
    ['queued', 'begin_sending', 'sending', 'none', { hasRun: true }],
    ['queued', 'pause', 'paused', 'none', { hasRun: true }],
    ['sending', 'auto_pause', 'paused', 'none', { hasRun: true }],
    ['sending', 'stop', 'stopped', 'cancel_unsent', { hasRun: true }],
    ['sending', 'fail', 'failed', 'none', { hasRun: true }],
    ['paused', 'resume', 'sending', 'none', { hasRun: true }],
    ['paused', 'resume', 'queued', 'none', { hasRun: false }],
    ['paused', 'stop', 'stopped', 'cancel_unsent', { hasRun: true }],
    ['stopped', 'restart', 'sending', 'requeue_cancelled', { hasRun: true }],
    ['failed', 'retry', 'sending', 'requeue_failed', { hasRun: true }],
    ['failed', 'retry', 'queued', 'snapshot', { hasRun: false }],
    ['completed', 'clone', 'completed', 'clone', { hasRun: true }],
    ['stopped', 'archive', 'stopped', 'set_archived', { hasRun: true }],
  ])('moves %s by %s to %s with effect %s', (status, action, to, effect, facts) => {
    const state: CampaignState = { kind: 'broadcast', channel: 'email', status, archived: false, outcome: null };
    const result = apply(state, action, context('email', facts));
    expect(result).toMatchObject({ ok: true, value: { status: to, effect } });
  });
});

describe('time (issue 6)', () => {
  const recurring = (status: CampaignStatus): CampaignState => ({
    kind: 'recurring',
    channel: 'email',
    status,
    archived: false,
    outcome: null,
  });

  it('sends a recurring campaign back to scheduled after a run while its rule has occurrences left, and keeps no outcome', () => {
    const ctx = context('email', { hasRun: true, sentAny: true, outcome: 'fully_sent', nextOccurrence: at(168) });
    expect(apply(recurring('sending'), 'complete', ctx)).toEqual({
      ok: true,
      value: { status: 'scheduled', archived: false, outcome: null, effect: 'none' },
    });
    expect(apply(recurring('sending'), 'complete', { ...ctx, nextOccurrence: null })).toMatchObject({
      ok: true,
      value: { status: 'completed', outcome: 'fully_sent' },
    });
    // A one-time broadcast completes whatever the context says about occurrences.
    const broadcast: CampaignState = { ...recurring('sending'), kind: 'broadcast' };
    expect(apply(broadcast, 'complete', ctx)).toMatchObject({ ok: true, value: { status: 'completed' } });
  });

  it('lets a campaign that failed before any run (a missed schedule) be scheduled again, and not one that ran', () => {
    const failed: CampaignState = { kind: 'broadcast', channel: 'email', status: 'failed', archived: false, outcome: null };
    expect(apply(failed, 'schedule', context('email', { params: { sendAt: at(2) } }))).toMatchObject({
      ok: true,
      value: { status: 'scheduled' },
    });
    expect(apply(failed, 'schedule', context('email', { sendAt: at(-2) }))).toMatchObject({
      ok: false,
      error: { code: 'SCHEDULE_PASSED' },
    });
    expect(apply(failed, 'schedule', context('email', { hasRun: true }))).toMatchObject({
      ok: false,
      error: { code: 'ACTION_NOT_ALLOWED' },
    });
    expect(allowedActions(failed, context('email'))).toEqual(expect.arrayContaining(['retry', 'schedule', 'edit']));
  });

  it('restarts a recurring campaign stopped between runs at its next occurrence, or raises SCHEDULE_PASSED once it passed', () => {
    const stopped = recurring('stopped');
    expect(apply(stopped, 'restart', context('email', { sendAt: at(5) }))).toMatchObject({
      ok: true,
      value: { status: 'scheduled', effect: 'none' },
    });
    expect(apply(stopped, 'restart', context('email', { sendAt: at(-5) }))).toMatchObject({
      ok: false,
      error: { code: 'SCHEDULE_PASSED' },
    });
    expect(apply(stopped, 'restart', context('email', { sendAt: at(-5), params: { sendNow: true } }))).toMatchObject({
      ok: true,
      value: { status: 'queued', effect: 'snapshot' },
    });
  });
});

describe('automations (seed 000)', () => {
  it('unpublishing stops a live automation and cancels what it queued but has not sent; publishing again resumes', () => {
    const live: CampaignState = { kind: 'automation', channel: 'email', status: 'live', archived: false, outcome: null };
    expect(apply(live, 'unpublish', context('email', { hasRun: true }))).toEqual({
      ok: true,
      value: { status: 'unpublished', archived: false, outcome: null, effect: 'cancel_unsent' },
    });
    const unpublished: CampaignState = { ...live, status: 'unpublished' };
    expect(apply(unpublished, 'publish', context('email', { hasRun: true }))).toMatchObject({
      ok: true,
      value: { status: 'live', effect: 'none' },
    });
  });
});

describe('engine moves outside broadcasts', () => {
  it('unpublishes a live automation the engine cannot run, so that a person publishes it again', () => {
    const live: CampaignState = { kind: 'automation', channel: 'email', status: 'live', archived: false, outcome: null };
    expect(apply(live, 'fail', context('email', { hasRun: true }))).toMatchObject({ ok: true, value: { status: 'unpublished' } });
  });

  it.each(systemActions)('has no %s for an always-on message', (action) => {
    const active: CampaignState = { kind: 'always_on', channel: 'push', status: 'active', archived: false, outcome: null };
    expect(apply(active, action, context('push', { outcome: 'fully_sent' }))).toMatchObject({ ok: false });
  });
});

describe('editableGroups', () => {
  const groups = (kind: CampaignKind, status: CampaignStatus, channel: Channel = 'email', hasRun = true) =>
    editableGroups({ kind, channel, status, archived: false, outcome: null }, { policy: channelPolicy(channel), hasRun });

  it.each<[CampaignKind, CampaignStatus]>([
    ['broadcast', 'draft'],
    ['broadcast', 'ready'],
    ['broadcast', 'failed'],
    ['automation', 'draft'],
    ['automation', 'unpublished'],
    ['always_on', 'draft'],
    ['always_on', 'paused'],
  ])('lets every field of a %s %s campaign change', (kind, status) => {
    expect(groups(kind, status)).toEqual([...editGroups]);
  });

  it.each<[CampaignKind, CampaignStatus]>([
    ['broadcast', 'queued'],
    ['broadcast', 'sending'],
    ['broadcast', 'completed'],
    ['recurring', 'sending'],
    ['automation', 'live'],
    ['always_on', 'active'],
    ['always_on', 'stopped'],
  ])('locks every field of a %s %s campaign', (kind, status) => {
    expect(groups(kind, status)).toEqual([]);
  });

  it('lets a paused send change only its name and pacing', () => {
    expect(groups('broadcast', 'paused')).toEqual(['meta', 'pacing']);
  });

  it('keeps the audience of a stopped campaign that already sent, as its history', () => {
    expect(groups('broadcast', 'stopped', 'email', true)).not.toContain('audience');
    expect(groups('broadcast', 'stopped', 'email', false)).toContain('audience');
  });

  it('locks everything on an archived campaign', () => {
    const archived: CampaignState = { kind: 'broadcast', channel: 'email', status: 'draft', archived: true, outcome: null };
    expect(editableGroups(archived, { policy: channelPolicy('email'), hasRun: false })).toEqual([]);
  });
});

describe('channelPolicy', () => {
  it.each<[Channel, boolean]>([
    ['email', true],
    ['push', true],
    ['webpush', true],
    ['telegram', true],
    ['viber', true],
    ['sms', true],
    ['voice', false],
  ])('lets a stopped %s campaign restart: %s by default', (channel, restarts) => {
    expect(channelPolicy(channel).restartAfterStop).toBe(restarts);
  });

  it('rebuilds the schedule only for SMS restarts', () => {
    expect(channels.filter((c) => channelPolicy(c).restartRebuildsSchedule)).toEqual(['sms']);
  });

  it('applies a workspace override to its own channel only', () => {
    const overrides: PolicyOverrides = { email: { restartAfterStop: false }, voice: { restartAfterStop: true } };
    expect(channelPolicy('email', overrides)).toEqual({ ...defaultChannelPolicies.email, restartAfterStop: false });
    expect(channelPolicy('voice', overrides).restartAfterStop).toBe(true);
    expect(channelPolicy('voice', overrides).editWhileScheduled).toEqual(defaultChannelPolicies.voice.editWhileScheduled);
    expect(channelPolicy('sms', overrides)).toEqual(defaultChannelPolicies.sms);
  });

  it('does not let an override touch the defaults', () => {
    channelPolicy('email', { email: { restartAfterStop: false } });
    expect(channelPolicy('email').restartAfterStop).toBe(true);
  });
});

describe('action names', () => {
  it('keeps user and engine actions apart', () => {
    const both = userActions.filter((a: UserAction) => isSystemAction(a));
    expect(both).toEqual([]);
    expect(systemActions.every((a) => !isUserAction(a))).toBe(true);
    expect(isUserAction('launch')).toBe(true);
    expect(isSystemAction('start')).toBe(true);
    expect(isUserAction('explode')).toBe(false);
  });
});
