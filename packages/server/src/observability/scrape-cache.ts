/**
 * A value read at scrape time and kept for a few seconds: several scrapes (or several
 * Prometheus servers) within the window cost one database query. A failed read is not
 * cached; the gauge then keeps its last value.
 */
export class ScrapeCache<T> {
  private value: { at: number; data: T } | undefined;
  private inFlight: Promise<T> | undefined;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly ttlMs: number,
  ) {}

  /**
   * The cached value when fresh, else a new read (concurrent callers share it).
   *
   * @example
   * const cache = new ScrapeCache(() => db.query('SELECT count(*) AS n FROM deliveries'), 5_000);
   * const rows = await cache.get();
   */
  async get(): Promise<T> {
    if (this.value && Date.now() - this.value.at < this.ttlMs) return this.value.data;
    this.inFlight ??= this.read()
      .then((data) => {
        this.value = { at: Date.now(), data };
        return data;
      })
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }
}
