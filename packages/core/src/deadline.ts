/**
 * A deadline for one call, as an AbortSignal: aborted with a `TimeoutError` after `timeoutMs`,
 * or when any of `signals` aborts. Unlike `AbortSignal.any([AbortSignal.timeout(ms), …])`, the
 * timer is held until `clear()`: a combined signal whose timeout source was garbage-collected
 * never fires, and the call it guards then hangs (seen under GC pressure in Node 20).
 *
 * @example
 * const deadline = callDeadline(10_000, [closing]);
 * try { await fetch(url, { signal: deadline.signal }) } finally { deadline.clear() }
 */
export function callDeadline(timeoutMs: number, signals: readonly AbortSignal[] = []): { readonly signal: AbortSignal; clear(): void } {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError')), timeoutMs);
  const listeners = signals.map((source) => {
    const onAbort = () => controller.abort(source.reason);
    if (source.aborted) onAbort();
    else source.addEventListener('abort', onAbort, { once: true });
    return () => source.removeEventListener('abort', onAbort);
  });
  return {
    signal: controller.signal,
    clear() {
      clearTimeout(timer);
      for (const remove of listeners) remove();
    },
  };
}
