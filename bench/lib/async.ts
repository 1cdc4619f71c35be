/** Small async helpers shared by the benchmarks and their load generators. */

/**
 * Runs `fn` over `items` with at most `limit` at a time; the results keep the items' order.
 *
 * @example
 * const devices = await inPool(names, 8, (name) => register(name));
 */
export async function inPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

/**
 * True when `promise` settles within `ms`; the timer never outlives it.
 *
 * @example
 * if (!(await within(allDrained, 15_000))) note('drain incomplete');
 */
export async function within(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise.then(() => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves after `ms`.
 *
 * @example
 * await sleep(50);
 */
export const sleep = (ms: number): Promise<void> => new Promise<void>((r) => setTimeout(r, ms));

/**
 * The message of an error (or its string form).
 *
 * @example
 * notes.push(`plan probes failed: ${errorText(error)}`);
 */
export const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * The URL a `fetch` call was made with.
 *
 * @example
 * const path = new URL(urlOf(input)).pathname;
 */
export function urlOf(input: RequestInfo | URL): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}
