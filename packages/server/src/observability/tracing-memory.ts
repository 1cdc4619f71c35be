/**
 * Where a message's trace context waits for the spans that come later in other requests
 * (deliver, ack, the router's steps): in memory, bounded, oldest dropped first. Nothing goes
 * to the database. A node that did not take the submission (another node of a cluster, or
 * after a restart) has no entry: its deliver / ack spans then carry the message pseudonym
 * only, which still correlates them.
 */
import type { SpanContext } from '@opentelemetry/api';

/** Entries kept by default (a span context is ~100 bytes). */
export const DEFAULT_TRACE_MEMORY = 10_000;

/**
 * @example
 * const memory = new TraceMemory(10_000);
 * memory.remember('envelope:17', span.spanContext());
 * memory.recall('envelope:17') // the submit span's context
 */
export class TraceMemory {
  private readonly entries = new Map<string, SpanContext>();

  constructor(private readonly capacity = DEFAULT_TRACE_MEMORY) {}

  remember(key: string, context: SpanContext): void {
    this.entries.delete(key);
    this.entries.set(key, context);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
  }

  recall(key: string): SpanContext | undefined {
    return this.entries.get(key);
  }

  get size(): number {
    return this.entries.size;
  }
}
