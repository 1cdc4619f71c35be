/**
 * Routing policy: per business and message class, an ordered chain of delivery steps
 * with a timeout each, and what to do when no end-to-end channel reaches the customer.
 * Declared in configuration (`routing.businesses[id].policies`), validated at start.
 *
 * Steps:
 * - `app`: the relay already pushed the ciphertext to connected devices; wait for an ack;
 * - `push`: wake the customer's devices (FCM / APNs, an opaque "sync"), wait for an ack;
 * - `rcs`: hand the ciphertext to a Parley-enabled RCS client through RBM (only if the
 *   capability check says the phone has one);
 * - `sms-token`: a one-time retrieval link for the app, by SMS (or an RCS rich card);
 *   the app fetches and decrypts the ciphertext.
 *
 * `otherwise` — no end-to-end path reached the customer (the chain ran out, or the
 * customer has no app at all):
 * - `block`: send nothing more;
 * - `invite-to-app`: an SMS inviting the customer to the app, nothing of the message;
 * - `fallback-with-token`: a web retrieval link (customers without the app);
 * - `require-consent`: the same, only if the customer consented to such fallback;
 * - `warn`: the same, recorded and counted as a policy warning.
 */
import { InvalidInputError } from '@parley/core';
import { ESCROW_KEY_ID_PATTERN } from '@parley/core/escrow';

export type StepName = 'app' | 'push' | 'rcs' | 'sms-token';
export type OtherwiseAction = 'block' | 'warn' | 'require-consent' | 'fallback-with-token' | 'invite-to-app';

/** The delivery path a message took, as reported (`parley demo --json` `path`). */
export type DeliveryPath = 'app' | 'push-app' | 'rcs' | 'sms-token-app' | 'sms-token-web' | 'blocked' | 'invited';

export interface RouteStep {
  readonly step: StepName;
  /** How long to wait for delivery before the next step starts. */
  readonly timeoutMs: number;
}

/** Escrow of a class (docs/escrow.md): the registered escrow key's id and the approvals that open a message. */
export interface EscrowPolicy {
  /** The escrow key's self-certifying id (`esk_…`, printed by `parley escrow init`). */
  readonly key: string;
  /** Officers' approvals needed to open a message: the key's threshold. */
  readonly approvals: number;
}

export interface RoutingPolicy {
  readonly chain: readonly RouteStep[];
  readonly otherwise: OtherwiseAction;
  /** The class is under escrow: every message carries its opening and plaintext sealed to this key. */
  readonly escrow?: EscrowPolicy;
}

export const STEP_PATH: Readonly<Record<StepName, DeliveryPath>> = {
  app: 'app',
  push: 'push-app',
  rcs: 'rcs',
  'sms-token': 'sms-token-app',
};

/** Defaults (the examples); a business overrides per class. */
export const DEFAULT_POLICIES: Readonly<Record<string, RoutingPolicy>> = {
  otp: {
    chain: [
      { step: 'app', timeoutMs: 3_000 },
      { step: 'push', timeoutMs: 10_000 },
      { step: 'rcs', timeoutMs: 15_000 },
      { step: 'sms-token', timeoutMs: 120_000 },
    ],
    otherwise: 'fallback-with-token',
  },
  alert: {
    chain: [
      { step: 'app', timeoutMs: 10_000 },
      { step: 'push', timeoutMs: 60_000 },
      { step: 'rcs', timeoutMs: 60_000 },
      { step: 'sms-token', timeoutMs: 600_000 },
    ],
    otherwise: 'require-consent',
  },
  support: {
    chain: [
      { step: 'app', timeoutMs: 30_000 },
      { step: 'push', timeoutMs: 3_600_000 },
    ],
    otherwise: 'invite-to-app',
  },
  statement: { chain: [{ step: 'app', timeoutMs: 86_400_000 }], otherwise: 'invite-to-app' },
};

/** Policy for a class nobody configured: the app, then a push, then an invitation. */
export const FALLBACK_POLICY: RoutingPolicy = {
  chain: [
    { step: 'app', timeoutMs: 30_000 },
    { step: 'push', timeoutMs: 3_600_000 },
  ],
  otherwise: 'invite-to-app',
};

const STEPS: readonly StepName[] = ['app', 'push', 'rcs', 'sms-token'];
const ACTIONS: readonly OtherwiseAction[] = ['block', 'warn', 'require-consent', 'fallback-with-token', 'invite-to-app'];

/** Checks a configured policy; throws InvalidInputError (`invalid_routing_policy`) naming what is wrong. */
export function validatePolicy(where: string, value: unknown): RoutingPolicy {
  const fail = (why: string): never => {
    throw new InvalidInputError(`routing policy ${where}: ${why}`, { code: 'invalid_routing_policy' });
  };
  if (typeof value !== 'object' || value === null) return fail('not an object');
  const { chain, otherwise, escrow } = value as { chain?: unknown; otherwise?: unknown; escrow?: unknown };
  if (!Array.isArray(chain)) return fail('chain must be a list of steps');
  const steps = chain.map((s: unknown, i): RouteStep => {
    const { step, timeoutMs } = (s ?? {}) as { step?: unknown; timeoutMs?: unknown };
    if (typeof step !== 'string' || !STEPS.includes(step as StepName)) fail(`step ${i} must be one of ${STEPS.join(', ')}`);
    if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs < 10 || timeoutMs > 7 * 86_400_000) fail(`step ${i} needs timeoutMs (10 ms … 7 days)`);
    return { step: step as StepName, timeoutMs: timeoutMs as number };
  });
  if (new Set(steps.map((s) => s.step)).size !== steps.length) fail('a step appears twice');
  if (typeof otherwise !== 'string' || !ACTIONS.includes(otherwise as OtherwiseAction)) fail(`otherwise must be one of ${ACTIONS.join(', ')}`);
  const escrowPolicy = escrow === undefined ? undefined : validateEscrowPolicy(escrow, fail);
  return { chain: steps, otherwise: otherwise as OtherwiseAction, ...(escrowPolicy ? { escrow: escrowPolicy } : {}) };
}

const ESCROW_KEY_ID = new RegExp(ESCROW_KEY_ID_PATTERN);

/** `escrow: { key, approvals }` of a policy: a key id and 2 … 16 approvals. */
export function validateEscrowPolicy(value: unknown, fail: (why: string) => never): EscrowPolicy {
  if (typeof value !== 'object' || value === null) return fail('escrow must be { key, approvals }');
  const { key, approvals, ...rest } = value as { key?: unknown; approvals?: unknown };
  if (Object.keys(rest).length > 0) fail(`escrow takes only key and approvals (not ${Object.keys(rest).join(', ')})`);
  if (typeof key !== 'string' || !ESCROW_KEY_ID.test(key)) fail('escrow.key must be an escrow key id (esk_…, from parley escrow init)');
  if (typeof approvals !== 'number' || !Number.isInteger(approvals) || approvals < 2 || approvals > 16) fail('escrow.approvals must be an integer 2 … 16');
  return { key: key as string, approvals: approvals as number };
}
