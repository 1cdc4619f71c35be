import { describe, expect, it } from 'vitest';
import { callDeadline } from '../src/index.js';

describe('callDeadline', () => {
  it('aborts with a TimeoutError once the time is up, even after heavy garbage collection', async () => {
    const deadline = callDeadline(50);
    // Drop every other reference the way a long call does; only the signal is held.
    const { signal } = deadline;
    (globalThis as { gc?: () => void }).gc?.();
    await new Promise((r) => setTimeout(r, 120));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as DOMException).name).toBe('TimeoutError');
  });

  it('aborts with the source’s reason when a source aborts first, and not at all once cleared', async () => {
    const source = new AbortController();
    const first = callDeadline(10_000, [source.signal]);
    source.abort(new Error('closing'));
    expect(first.signal.aborted).toBe(true);
    expect((first.signal.reason as Error).message).toBe('closing');
    first.clear();

    const cleared = callDeadline(30);
    cleared.clear();
    await new Promise((r) => setTimeout(r, 80));
    expect(cleared.signal.aborted).toBe(false);

    const already = new AbortController();
    already.abort('gone');
    const late = callDeadline(10_000, [already.signal]);
    expect(late.signal.reason).toBe('gone');
    late.clear();
  });
});
