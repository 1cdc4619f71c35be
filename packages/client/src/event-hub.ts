/**
 * Fan-out of device events: every subscriber sees every event in order.
 * `events()` adapts it to an async iterator that ends when the device closes.
 */
export class EventHub<E> {
  private readonly listeners = new Set<(event: E) => void>();
  private readonly closers = new Set<() => void>();
  private closed = false;

  subscribe(listener: (event: E) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: E): void {
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch {
        // A failing listener must not break delivery to the others.
      }
    }
  }

  /** An async iterator over events from now on. */
  iterate(signal?: AbortSignal): AsyncIterableIterator<E> {
    const buffer: E[] = [];
    let wake: (() => void) | undefined;
    let done = this.closed;
    const unsubscribe = this.subscribe((e) => {
      buffer.push(e);
      wake?.();
    });
    const finish = () => {
      done = true;
      unsubscribe();
      this.closers.delete(finish);
      wake?.();
    };
    this.closers.add(finish);
    signal?.addEventListener('abort', finish, { once: true });
    const iterator: AsyncIterableIterator<E> = {
      async next(): Promise<IteratorResult<E>> {
        while (buffer.length === 0 && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        if (buffer.length > 0) return { value: buffer.shift()!, done: false };
        return { value: undefined, done: true };
      },
      async return(): Promise<IteratorResult<E>> {
        finish();
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.closers]) c();
    this.listeners.clear();
  }
}
