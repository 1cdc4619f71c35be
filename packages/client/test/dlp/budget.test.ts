import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyContentPolicies } from '../../src/dlp/engine.js';
import type { ContentPolicy, PolicyDecision } from '../../src/dlp/policy.js';
import { cardNumberPolicy } from '../../src/dlp/policies/card.js';
import { input } from './dlp-fixture.js';

/** A policy that never answers; it keeps the signal it got. */
function never(id = 'never'): ContentPolicy & { signals: AbortSignal[] } {
  const signals: AbortSignal[] = [];
  return { id, signals, check: (_m, signal) => (signals.push(signal), new Promise<PolicyDecision>(() => undefined)) };
}

/** A policy that answers `decision` after `ms` (a timer). */
function after(id: string, ms: number, decision: PolicyDecision): ContentPolicy {
  return { id, check: () => new Promise<PolicyDecision>((resolve) => setTimeout(() => resolve(decision), ms)) };
}

describe('time budget (fake timers)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a policy that never answers: block 'policy timed out' at the budget, signal aborted, no timer left", async () => {
    const stuck = never();
    const later = cardNumberPolicy({ action: 'block', id: 'later' });
    let settled = false;
    const result = applyContentPolicies({ rules: [{ policy: stuck }, { policy: later }], budgetMs: 100 }, input('4111 1111 1111 1111'));
    void result.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(99);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(result).resolves.toEqual({ action: 'block', outcomes: [], blocked: { policy: 'never', reason: 'policy timed out', direction: 'send' } });
    expect(stuck.signals[0]?.aborted).toBe(true);
    expect((stuck.signals[0]?.reason as DOMException).name).toBe('TimeoutError');
    expect(vi.getTimerCount()).toBe(0);
  });

  it("onTimeout 'allow': the stuck policy counts as allowing; later synchronous policies still act", async () => {
    const stuck = never();
    const result = applyContentPolicies(
      { rules: [{ policy: stuck }, { policy: cardNumberPolicy({ action: 'redact' }) }], budgetMs: 100, onTimeout: 'allow' },
      input('card 4111 1111 1111 1111'),
    );
    await vi.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toEqual({ action: 'redact', text: 'card •••• •••• •••• 1111', outcomes: [{ policy: 'card', action: 'redact' }] });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the budget is per message, for all policies together', async () => {
    const rules = [
      { policy: after('first', 60, { action: 'redact', text: 'first' }) },
      { policy: after('second', 60, { action: 'allow' }) },
    ];
    const blocked = applyContentPolicies({ rules, budgetMs: 100 }, input('x'));
    await vi.advanceTimersByTimeAsync(200);
    await expect(blocked).resolves.toEqual({
      action: 'block',
      outcomes: [{ policy: 'first', action: 'redact' }],
      blocked: { policy: 'second', reason: 'policy timed out', direction: 'send' },
    });
    const allowed = applyContentPolicies({ rules, budgetMs: 100, onTimeout: 'allow' }, input('x'));
    await vi.advanceTimersByTimeAsync(200);
    await expect(allowed).resolves.toEqual({ action: 'redact', text: 'first', outcomes: [{ policy: 'first', action: 'redact' }] });
    const roomy = applyContentPolicies({ rules, budgetMs: 250 }, input('x'));
    await vi.advanceTimersByTimeAsync(200);
    await expect(roomy).resolves.toEqual({ action: 'redact', text: 'first', outcomes: [{ policy: 'first', action: 'redact' }] });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a synchronous policy that overruns the budget: timed out (block), or its answer used (allow)', async () => {
    const slow: ContentPolicy = {
      id: 'slow',
      check: () => {
        vi.advanceTimersByTime(500); // the clock moves while it computes
        return { action: 'redact', text: '[slow]' };
      },
    };
    await expect(applyContentPolicies({ rules: [{ policy: slow }], budgetMs: 100 }, input('x'))).resolves.toEqual({
      action: 'block',
      outcomes: [],
      blocked: { policy: 'slow', reason: 'policy timed out', direction: 'send' },
    });
    await expect(applyContentPolicies({ rules: [{ policy: slow }], budgetMs: 100, onTimeout: 'allow' }, input('x'))).resolves.toEqual({
      action: 'redact',
      text: '[slow]',
      outcomes: [{ policy: 'slow', action: 'redact' }],
    });
    expect(vi.getTimerCount()).toBe(0);
  });

  it('a late rejection after the timeout is swallowed; a completed run leaves no timer', async () => {
    const lateFailure: ContentPolicy = { id: 'late', check: () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 300)) };
    const result = applyContentPolicies({ rules: [{ policy: lateFailure }], budgetMs: 100 }, input('x'));
    await vi.advanceTimersByTimeAsync(400);
    await expect(result).resolves.toMatchObject({ action: 'block', blocked: { reason: 'policy timed out' } });
    await applyContentPolicies({ rules: [{ policy: cardNumberPolicy({ action: 'redact' }) }] }, input('nothing'));
    expect(vi.getTimerCount()).toBe(0);
  });
});

describe('time budget (real timers)', () => {
  it('never hangs: a stuck policy with a small budget ends quickly', async () => {
    const started = Date.now();
    await expect(applyContentPolicies({ rules: [{ policy: never() }], budgetMs: 20 }, input('x'))).resolves.toMatchObject({
      action: 'block',
      blocked: { reason: 'policy timed out' },
    });
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
