/**
 * Backlogs read from the database at scrape time (cached a few seconds, scrape-cache.ts):
 * the mailbox (deliveries a device has not acknowledged yet) and each transparency log's
 * integrated size, entries waiting to be sequenced and the age of the oldest one. The log
 * label is a log's short name (`keys`, `audit`): a set fixed by the code.
 */
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';
import type { Sql } from '../storage/database.js';
import { ScrapeCache } from './scrape-cache.js';

/** How long a scrape-time reading is reused. */
export const BACKLOG_CACHE_MS = 5_000;

interface MailboxRow {
  deliveries: string;
  envelopes: string;
}

interface TlogRow {
  name: string;
  tree_size: string;
  pending: string;
  oldest_age: number | string | null;
}

/**
 * Registers `parley_mailbox_pending_deliveries`, `parley_mailbox_pending_envelopes`,
 * `parley_tlog_entries`, `parley_tlog_pending_entries` and
 * `parley_tlog_oldest_pending_age_seconds`.
 *
 * @example
 * registerBacklogMetrics(metrics.registry, db, log);
 */
export function registerBacklogMetrics(registry: Registry, db: Sql, log: Logger, cacheMs = BACKLOG_CACHE_MS): void {
  const registers = [registry];
  const mailbox = new ScrapeCache(
    async () =>
      (await db.query<MailboxRow>('SELECT count(*) AS deliveries, count(DISTINCT envelope_id) AS envelopes FROM deliveries'))[0] ?? { deliveries: '0', envelopes: '0' },
    cacheMs,
  );
  const tlogs = new ScrapeCache(
    () =>
      db.query<TlogRow>(
        `SELECT t.name, t.tree_size,
                (SELECT count(*) FROM tlog_pending p WHERE p.log = t.name) AS pending,
                (SELECT extract(epoch FROM now() - min(p.created_at)) FROM tlog_pending p WHERE p.log = t.name) AS oldest_age
           FROM tlogs t ORDER BY t.name`,
      ),
    cacheMs,
  );
  /** A failed read leaves the gauges as they were and says so once per scrape at debug level. */
  const readOrKeep = async <T>(cache: ScrapeCache<T>, what: string): Promise<T | undefined> => {
    try {
      return await cache.get();
    } catch (error) {
      log.debug({ err: { message: (error as Error).message }, what }, 'metrics: backlog read failed');
      return undefined;
    }
  };

  new Gauge({
    name: 'parley_mailbox_pending_deliveries',
    help: 'Deliveries not yet acknowledged: one per recipient device and envelope',
    registers,
    async collect() {
      const row = await readOrKeep(mailbox, 'mailbox');
      if (row) this.set(Number(row.deliveries));
    },
  });
  new Gauge({
    name: 'parley_mailbox_pending_envelopes',
    help: 'Envelopes at least one recipient device has not acknowledged',
    registers,
    async collect() {
      const row = await readOrKeep(mailbox, 'mailbox');
      if (row) this.set(Number(row.envelopes));
    },
  });
  const perLog = (name: string, help: string, value: (row: TlogRow) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['log'],
      registers,
      async collect() {
        const rows = await readOrKeep(tlogs, 'tlog');
        for (const row of rows ?? []) this.set({ log: row.name }, value(row));
      },
    });
  perLog('parley_tlog_entries', 'Entries integrated into the transparency log (its tree size), by log', (r) => Number(r.tree_size));
  perLog('parley_tlog_pending_entries', 'Entries accepted but not yet sequenced into the log, by log', (r) => Number(r.pending));
  perLog('parley_tlog_oldest_pending_age_seconds', 'Age of the oldest entry waiting to be sequenced (0 when none), by log', (r) => Math.max(0, Number(r.oldest_age ?? 0)));
}
