import { describe, expect, it } from 'vitest';
import {
  type CampaignKind,
  type CampaignState,
  type CampaignStatus,
  type Channel,
  type EditGroup,
  type LifecycleContext,
  type PolicyOverrides,
  type UserAction,
  allowedActions,
  apply,
  channelPolicy,
  channels,
  editableGroups,
  userActions,
} from './lifecycle.js';

/*
 * The seeds' action tables, as /work/shared/seeds/MATRICES.md reads them into Herald's words,
 * one row per test. A row names the seed's status, Herald's status, and the seed's actions
 * mapped to Herald's (View report / View details / View results / View error / Investigate = report;
 * Cancel = stop; Edit schedule = reschedule).
 */

const NOW = new Date('2025-03-01T12:00:00.000Z');
const HOUR = 3_600_000;
const PAST = new Date(NOW.getTime() - HOUR);
const FUTURE = new Date(NOW.getTime() + 24 * HOUR);

const campaign = (
  kind: CampaignKind,
  channel: Channel,
  status: CampaignStatus,
  rest: Partial<Pick<CampaignState, 'archived' | 'outcome'>> = {},
): CampaignState => ({
  kind,
  channel,
  status,
  archived: false,
  outcome: status === 'completed' ? 'fully_sent' : null,
  ...rest,
});

/**
 * The facts that usually hold in a status: nothing sent before the campaign is queued, a run
 * (and some failed messages) once it has sent, the send time still ahead, and the campaign complete.
 */
function typicalContext(
  channel: Channel,
  status: CampaignStatus,
  facts: Partial<LifecycleContext> = {},
  overrides?: PolicyOverrides,
): LifecycleContext {
  const beforeSend = status === 'draft' || status === 'ready' || status === 'scheduled';
  return {
    now: NOW,
    complete: true,
    hasRun: !beforeSend,
    sentAny: !beforeSend && status !== 'queued',
    failedCount: beforeSend ? 0 : 3,
    sendAt: FUTURE,
    policy: channelPolicy(channel, overrides),
    ...facts,
  };
}

/** Every seed action of the row is allowed and applies; every refused one is refused as not allowed. */
function expectMatrixRow(
  state: CampaignState,
  ctx: LifecycleContext,
  allowed: readonly UserAction[],
  refused: readonly UserAction[],
): void {
  const actions = allowedActions(state, ctx);
  for (const action of allowed) {
    expect(actions, `${action} should be offered`).toContain(action);
    expect(apply(state, action, ctx).ok, `${action} should apply`).toBe(true);
  }
  for (const action of refused) {
    expect(actions, `${action} should not be offered`).not.toContain(action);
    expect(apply(state, action, ctx), `${action} should be refused`).toMatchObject({
      ok: false,
      error: { code: 'ACTION_NOT_ALLOWED' },
    });
  }
}

const statusAfter = (state: CampaignState, action: UserAction, ctx: LifecycleContext) => {
  const result = apply(state, action, ctx);
  if (!result.ok) throw new Error(`${action} from ${state.status} failed: ${result.error.code}`);
  return result.value.status;
};

// Seed 001 is a messaging platform with no channel of its own; its table must hold on every channel.
describe.each(channels)('seed 001 (broadcast messaging) "Actions available" on %s', (channel) => {
  it.each<[string, CampaignStatus, UserAction[]]>([
    ['Draft: Edit, Add recipients, Delete', 'draft', ['edit', 'delete']],
    ['Scheduled: Edit schedule, Cancel', 'scheduled', ['reschedule', 'stop']],
    ['Queued: Pause, Cancel', 'queued', ['pause', 'stop']],
    ['Processing: Pause, Cancel', 'sending', ['pause', 'stop']],
    ['Paused: Resume, Cancel', 'paused', ['resume', 'stop']],
    ['Completed: Retry failed, View report', 'completed', ['retry_failed', 'report']],
    ['Failed: Retry, Investigate', 'failed', ['retry', 'report']],
  ])('allows %s (%s)', (_seed, status, actions) => {
    expectMatrixRow(campaign('broadcast', channel, status), typicalContext(channel, status), actions, []);
  });

  it('lets a draft still take recipients (Add recipients = edit of the audience), even while incomplete', () => {
    const draft = campaign('broadcast', channel, 'draft');
    const ctx = typicalContext(channel, 'draft', { complete: false });
    expect(allowedActions(draft, ctx)).toContain('edit');
    expect(editableGroups(draft, ctx)).toContain('audience');
  });

  it('allows View partial report on Cancelled (stopped with restart off), and refuses to resume or restart it', () => {
    const cancelled = campaign('broadcast', channel, 'stopped');
    const ctx = typicalContext(channel, 'stopped', {}, { [channel]: { restartAfterStop: false } });
    expectMatrixRow(cancelled, ctx, ['report'], ['resume', 'restart']);
  });

  it('refuses to pause a completed campaign', () => {
    expectMatrixRow(campaign('broadcast', channel, 'completed'), typicalContext(channel, 'completed'), [], ['pause']);
  });

  it('resumes a paused campaign where it left off, not from a new snapshot', () => {
    const paused = campaign('broadcast', channel, 'paused');
    expect(apply(paused, 'resume', typicalContext(channel, 'paused'))).toMatchObject({
      ok: true,
      value: { status: 'sending', effect: 'none' },
    });
  });
});

describe('seed 004 SMS matrix (Schedule, Stop, Restart, View Details, Archive, Clone)', () => {
  it.each<[string, CampaignStatus, UserAction[], UserAction[]]>([
    ['Defined', 'draft', ['schedule', 'archive', 'clone'], ['stop', 'restart']],
    ['Defined', 'ready', ['schedule', 'archive', 'clone'], ['stop', 'restart']],
    ['Scheduled', 'scheduled', ['stop', 'report'], ['restart', 'archive']],
    ['Running', 'sending', ['stop', 'report', 'clone'], ['restart', 'archive']],
    ['Stopped', 'stopped', ['restart', 'report', 'archive', 'clone'], ['stop']],
    ['Completed', 'completed', ['report', 'archive', 'clone'], ['stop', 'restart']],
  ])('%s (%s) allows %j and refuses %j', (_seed, status, allowed, refused) => {
    expectMatrixRow(campaign('broadcast', 'sms', status), typicalContext('sms', status), allowed, refused);
  });

  it.each<CampaignStatus>(['draft', 'completed', 'stopped', 'failed'])('Archived (%s) allows only View Details and unarchive', (status) => {
    const archived = campaign('broadcast', 'sms', status, { archived: true });
    const ctx = typicalContext('sms', status);
    expect(allowedActions(archived, ctx)).toEqual(['unarchive', 'report']);
    const everythingElse = userActions.filter((a) => a !== 'unarchive' && a !== 'report');
    expectMatrixRow(archived, ctx, ['report', 'unarchive'], everythingElse);
  });

  it('locks the content of a scheduled SMS campaign; only the schedule can change', () => {
    const scheduled = campaign('broadcast', 'sms', 'scheduled');
    expect(editableGroups(scheduled, typicalContext('sms', 'scheduled'))).toEqual(['schedule']);
  });

  it('restarts a stopped SMS campaign that already ran by sending to its unsent recipients, on a rebuilt schedule', () => {
    const stopped = campaign('broadcast', 'sms', 'stopped');
    const ctx = typicalContext('sms', 'stopped');
    expect(apply(stopped, 'restart', ctx)).toMatchObject({ ok: true, value: { status: 'sending', effect: 'requeue_cancelled' } });
    expect(ctx.policy.restartRebuildsSchedule).toBe(true);
  });

  it('archives a stopped campaign without changing its status, and does not delete it', () => {
    const stopped = campaign('broadcast', 'sms', 'stopped');
    expect(apply(stopped, 'archive', typicalContext('sms', 'stopped'))).toMatchObject({
      ok: true,
      value: { status: 'stopped', archived: true, effect: 'set_archived' },
    });
  });

  it('archives a scheduled campaign once it is stopped first', () => {
    const scheduled = campaign('broadcast', 'sms', 'scheduled');
    const ctx = typicalContext('sms', 'scheduled');
    const stopped = { ...scheduled, status: statusAfter(scheduled, 'stop', ctx) };
    expect(apply(stopped, 'archive', ctx)).toMatchObject({ ok: true, value: { status: 'stopped', archived: true } });
  });
});

describe('seed 004 Voice matrix (Schedule, Edit, Stop, View Results, View Error, Archive)', () => {
  it.each<[string, CampaignStatus, UserAction[], UserAction[]]>([
    ['Defined', 'draft', ['schedule', 'edit'], ['stop']],
    ['Defined', 'ready', ['schedule', 'edit'], ['stop']],
    ['Scheduled', 'scheduled', ['edit', 'stop'], []],
    ['Running', 'sending', ['stop', 'report'], ['edit', 'archive']],
    ['Stopped', 'stopped', ['report', 'archive'], ['restart']],
    ['Errored', 'failed', ['report', 'archive'], ['restart']],
    ['Completed', 'completed', ['report', 'archive'], ['edit', 'stop']],
  ])('%s (%s) allows %j and refuses %j', (_seed, status, allowed, refused) => {
    expectMatrixRow(campaign('broadcast', 'voice', status), typicalContext('voice', status), allowed, refused);
  });

  it('keeps settings and start time of a scheduled voice campaign editable', () => {
    const scheduled = campaign('broadcast', 'voice', 'scheduled');
    expect(editableGroups(scheduled, typicalContext('voice', 'scheduled'))).toEqual(['meta', 'content', 'schedule', 'pacing']);
  });

  it('refuses to restart a stopped voice campaign and says to clone it, which is allowed', () => {
    const stopped = campaign('broadcast', 'voice', 'stopped');
    const ctx = typicalContext('voice', 'stopped');
    const refused = apply(stopped, 'restart', ctx);
    expect(refused).toMatchObject({
      ok: false,
      error: { code: 'ACTION_NOT_ALLOWED', extra: { allowedActions: allowedActions(stopped, ctx) } },
    });
    expect(refused.ok ? '' : refused.error.detail).toMatch(/clone/);
    expect(apply(stopped, 'clone', ctx)).toMatchObject({ ok: true, value: { effect: 'clone' } });
  });

  it('restarts a stopped voice campaign where the workspace turned restarting on', () => {
    const stopped = campaign('broadcast', 'voice', 'stopped');
    const ctx = typicalContext('voice', 'stopped', {}, { voice: { restartAfterStop: true } });
    expect(apply(stopped, 'restart', ctx)).toMatchObject({ ok: true, value: { status: 'sending' } });
  });
});

describe('edit rules while scheduled, per channel (DESIGN §2 channel policies)', () => {
  it.each<[Channel, EditGroup[]]>([
    ['email', ['meta', 'schedule']],
    ['push', ['meta', 'schedule']],
    ['webpush', ['meta', 'schedule']],
    ['telegram', ['meta', 'schedule']],
    ['viber', ['meta', 'schedule']],
    ['sms', ['schedule']],
    ['voice', ['meta', 'content', 'schedule', 'pacing']],
  ])('a scheduled %s campaign may edit %j', (channel, groups) => {
    const scheduled = campaign('broadcast', channel, 'scheduled');
    const ctx = typicalContext(channel, 'scheduled');
    expect(editableGroups(scheduled, ctx)).toEqual(groups);
    expect(allowedActions(scheduled, ctx)).toEqual(expect.arrayContaining(['edit', 'reschedule', 'stop']));
    expect(editableGroups(scheduled, ctx)).not.toContain('audience');
  });
});

describe('seed 003 (omnichannel outbound) rules', () => {
  it('Draft is editable but cannot launch while incomplete', () => {
    const draft = campaign('broadcast', 'telegram', 'draft');
    const ctx = typicalContext('telegram', 'draft', { complete: false });
    expect(allowedActions(draft, ctx)).toContain('edit');
    for (const action of ['launch', 'schedule', 'finalize'] as const) {
      expect(allowedActions(draft, ctx)).not.toContain(action);
      expect(apply(draft, action, ctx)).toMatchObject({ ok: false, error: { code: 'CAMPAIGN_INCOMPLETE' } });
    }
  });

  it('Ready is launchable and editable (manual launch type)', () => {
    const ready = campaign('broadcast', 'viber', 'ready');
    const ctx = typicalContext('viber', 'ready');
    expectMatrixRow(ready, ctx, ['launch', 'edit'], []);
    expect(apply(ready, 'launch', ctx)).toMatchObject({ ok: true, value: { status: 'queued', effect: 'snapshot' } });
  });

  it('Waiting (scheduled) can be stopped', () => {
    const waiting = campaign('recurring', 'email', 'scheduled');
    expect(statusAfter(waiting, 'stop', typicalContext('email', 'scheduled'))).toBe('stopped');
  });

  describe('a Waiting campaign stopped before its first run, restarted after its time passed', () => {
    const stopped = campaign('broadcast', 'webpush', 'stopped');
    const passed = (params?: LifecycleContext['params']) =>
      typicalContext('webpush', 'stopped', { hasRun: false, sentAny: false, sendAt: PAST, ...(params ? { params } : {}) });

    it('offers restart, and warns SCHEDULE_PASSED with the passed time', () => {
      expect(allowedActions(stopped, passed())).toContain('restart');
      expect(apply(stopped, 'restart', passed())).toMatchObject({
        ok: false,
        error: { code: 'SCHEDULE_PASSED', extra: { sendAt: PAST.toISOString() } },
      });
    });

    it('sends now when the person answers "send now"', () => {
      expect(apply(stopped, 'restart', passed({ sendNow: true }))).toMatchObject({
        ok: true,
        value: { status: 'queued', effect: 'snapshot' },
      });
    });

    it('waits again when the person picks a new time in the future', () => {
      expect(apply(stopped, 'restart', passed({ sendAt: FUTURE }))).toMatchObject({
        ok: true,
        value: { status: 'scheduled', effect: 'none' },
      });
    });

    it('warns again when the new time has passed too', () => {
      expect(apply(stopped, 'restart', passed({ sendAt: new Date(NOW.getTime() - 5 * HOUR) }))).toMatchObject({
        ok: false,
        error: { code: 'SCHEDULE_PASSED' },
      });
    });

    it('waits for its time without a warning when that time is still ahead', () => {
      const ahead = typicalContext('webpush', 'stopped', { hasRun: false, sentAny: false, sendAt: FUTURE });
      expect(apply(stopped, 'restart', ahead)).toMatchObject({ ok: true, value: { status: 'scheduled' } });
    });
  });

  it('Running (sending) can be stopped but not edited', () => {
    expectMatrixRow(campaign('broadcast', 'email', 'sending'), typicalContext('email', 'sending'), ['stop'], ['edit']);
    expect(editableGroups(campaign('broadcast', 'email', 'sending'), typicalContext('email', 'sending'))).toEqual([]);
  });

  it('Stopped is editable and can be relaunched (restart)', () => {
    expectMatrixRow(campaign('broadcast', 'email', 'stopped'), typicalContext('email', 'stopped'), ['edit', 'restart'], []);
  });

  it('Done (completed) is not editable and cannot be relaunched', () => {
    const done = campaign('broadcast', 'email', 'completed');
    const ctx = typicalContext('email', 'completed');
    expect(editableGroups(done, ctx)).toEqual([]);
    expectMatrixRow(done, ctx, [], ['edit', 'restart', 'launch', 'resume', 'schedule']);
  });

  it('Failed is editable and can be retried', () => {
    const failed = campaign('broadcast', 'sms', 'failed');
    const ctx = typicalContext('sms', 'failed');
    expect(editableGroups(failed, ctx).length).toBeGreaterThan(0);
    expectMatrixRow(failed, ctx, ['edit', 'retry', 'report'], []);
  });

  it('a Failed campaign that never started retries from a fresh snapshot; one that ran retries its failures', () => {
    const failed = campaign('broadcast', 'sms', 'failed');
    expect(apply(failed, 'retry', typicalContext('sms', 'failed', { hasRun: false, sentAny: false }))).toMatchObject({
      ok: true,
      value: { status: 'queued', effect: 'snapshot' },
    });
    expect(apply(failed, 'retry', typicalContext('sms', 'failed'))).toMatchObject({
      ok: true,
      value: { status: 'sending', effect: 'requeue_failed' },
    });
  });
});

describe('seed 002 (engagement suite) and seed 000 (email growth module)', () => {
  it('seed 002: a stopped campaign is permanent where the workspace turns restart off', () => {
    const stopped = campaign('broadcast', 'email', 'stopped');
    const ctx = typicalContext('email', 'stopped', {}, { email: { restartAfterStop: false } });
    expectMatrixRow(stopped, ctx, ['report', 'clone', 'archive'], ['restart', 'resume', 'launch', 'retry']);
    for (const action of allowedActions(stopped, ctx)) expect(statusAfter(stopped, action, ctx)).toBe('stopped');
  });

  it.each(['fully_sent', 'partially_sent'] as const)('seed 000: a run that ends %s completes with that outcome', (outcome) => {
    const sending = campaign('broadcast', 'email', 'sending');
    expect(apply(sending, 'complete', typicalContext('email', 'sending', { outcome }))).toEqual({
      ok: true,
      value: { status: 'completed', archived: false, outcome, effect: 'none' },
    });
  });

  it('seed 002: Finished (completed) keeps its outcome through report, clone and archive', () => {
    const finished = campaign('broadcast', 'email', 'completed', { outcome: 'partially_sent' });
    const ctx = typicalContext('email', 'completed');
    for (const action of ['report', 'clone', 'archive'] as const) {
      expect(apply(finished, action, ctx)).toMatchObject({ ok: true, value: { status: 'completed', outcome: 'partially_sent' } });
    }
  });

  it('seed 000: an automation goes draft → publish → live → unpublish → unpublished → publish → live', () => {
    let state = campaign('automation', 'email', 'draft');
    const ctx = typicalContext('email', 'draft');
    const path: CampaignStatus[] = [];
    for (const action of ['publish', 'unpublish', 'publish'] as const) {
      state = { ...state, status: statusAfter(state, action, ctx) };
      path.push(state.status);
    }
    expect(path).toEqual(['live', 'unpublished', 'live']);
  });

  it('seed 000: an incomplete automation cannot be published', () => {
    const draft = campaign('automation', 'email', 'draft');
    expect(apply(draft, 'publish', typicalContext('email', 'draft', { complete: false }))).toMatchObject({
      ok: false,
      error: { code: 'CAMPAIGN_INCOMPLETE' },
    });
  });

  it.each<[CampaignStatus, UserAction[], UserAction[]]>([
    ['draft', ['edit', 'publish', 'clone', 'delete', 'archive'], ['unpublish', 'report']],
    ['live', ['unpublish', 'report', 'clone'], ['edit', 'publish', 'archive', 'delete']],
    ['unpublished', ['edit', 'publish', 'report', 'clone', 'archive'], ['unpublish']],
  ])('seed 000: an automation %s allows %j and refuses %j', (status, allowed, refused) => {
    const ctx = typicalContext('email', 'draft');
    expectMatrixRow(campaign('automation', 'email', status), ctx, allowed, refused);
  });

  it('seed 002: an always-on message goes draft → activate → active ⇄ paused, and stop is permanent', () => {
    let state = campaign('always_on', 'push', 'draft');
    const ctx = typicalContext('push', 'draft');
    const path: CampaignStatus[] = [];
    for (const action of ['activate', 'pause', 'resume', 'pause', 'stop'] as const) {
      state = { ...state, status: statusAfter(state, action, ctx) };
      path.push(state.status);
    }
    expect(path).toEqual(['active', 'paused', 'active', 'paused', 'stopped']);
    expectMatrixRow(state, ctx, ['report', 'clone', 'archive'], ['resume', 'activate', 'restart', 'edit', 'pause']);
    for (const action of allowedActions(state, ctx)) expect(statusAfter(state, action, ctx)).toBe('stopped');
  });

  it('seed 002: an active always-on message (a published landing page) can be stopped directly', () => {
    const active = campaign('always_on', 'webpush', 'active');
    const ctx = typicalContext('webpush', 'active');
    expectMatrixRow(active, ctx, ['pause', 'stop', 'report'], ['edit', 'resume', 'archive']);
    expect(statusAfter(active, 'stop', ctx)).toBe('stopped');
  });
});
