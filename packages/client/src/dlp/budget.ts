/**
 * The time budget of one message: one timer for all its policies, an AbortSignal that aborts
 * when it fires, and a race of each policy's answer against it. Never hangs on a policy that
 * never answers; the timer is cleared when the message is done.
 */
import { parseDecision, type ContentInput, type ContentPolicy, type PolicyDecision } from './policy.js';

/**
 * @internal How one policy's run ended: `ok` (its decision, in time), `late` (a synchronous
 * decision that came after the deadline), `timed-out` (no decision before the deadline),
 * `failed` (it threw, rejected or answered something that is not a valid decision).
 *
 * @example
 * const run: PolicyRun = await budget.run(policy, input) // { status: 'ok', decision: { action: 'allow' } }
 */
export type PolicyRun =
  | { readonly status: 'ok'; readonly decision: PolicyDecision }
  | { readonly status: 'late'; readonly decision: PolicyDecision }
  | { readonly status: 'timed-out' }
  | { readonly status: 'failed' };

const FAILED: PolicyRun = { status: 'failed' };
const TIMED_OUT: PolicyRun = { status: 'timed-out' };

/**
 * @internal One message's budget. `dispose()` clears the timer (always call it).
 *
 * @example
 * const budget = new PolicyBudget(250)
 * try { const run = await budget.run(policy, input) } finally { budget.dispose() }
 */
export class PolicyBudget {
  readonly #controller = new AbortController();
  readonly #deadline: number;
  readonly #timer: ReturnType<typeof setTimeout>;

  constructor(budgetMs: number) {
    this.#deadline = Date.now() + budgetMs;
    this.#timer = setTimeout(() => this.#controller.abort(new DOMException('the content policy budget ran out', 'TimeoutError')), budgetMs);
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** True once the budget is spent (the timer fired, or the clock passed the deadline during synchronous work). */
  get expired(): boolean {
    return this.#controller.signal.aborted || Date.now() >= this.#deadline;
  }

  dispose(): void {
    clearTimeout(this.#timer);
  }

  /** Runs `policy` on `input` against the budget. Never throws, never waits past the deadline. */
  run(policy: ContentPolicy, input: ContentInput): Promise<PolicyRun> | PolicyRun {
    const signal = this.signal;
    let answer: unknown;
    try {
      answer = policy.check(input, signal);
    } catch {
      return FAILED;
    }
    if (!isThenable(answer)) {
      const decision = safeParse(answer);
      if (decision === undefined) return FAILED;
      return this.expired ? { status: 'late', decision } : { status: 'ok', decision };
    }
    const pending = Promise.resolve(answer);
    if (signal.aborted) {
      pending.catch(() => undefined);
      return TIMED_OUT;
    }
    return new Promise<PolicyRun>((resolve) => {
      const onAbort = (): void => resolve(TIMED_OUT);
      signal.addEventListener('abort', onAbort, { once: true });
      pending.then(
        (value) => {
          signal.removeEventListener('abort', onAbort);
          const decision = safeParse(value);
          resolve(decision === undefined ? FAILED : { status: 'ok', decision });
        },
        () => {
          signal.removeEventListener('abort', onAbort);
          resolve(FAILED);
        },
      );
    });
  }
}

/** The decision, or undefined for anything else — including an object whose getters throw. */
function safeParse(value: unknown): PolicyDecision | undefined {
  try {
    return parseDecision(value);
  } catch {
    return undefined;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  try {
    return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
  } catch {
    return false;
  }
}
