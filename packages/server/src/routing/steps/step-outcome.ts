/**
 * How a step ended: `waiting` — something went out (or the app step waits): the next
 * step starts after this one's timeout; `skipped` — nothing went out: the next starts now.
 */
export type StepOutcome = 'waiting' | 'skipped';
