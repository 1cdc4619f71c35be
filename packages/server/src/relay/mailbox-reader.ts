/**
 * Mailbox reads, batched: the pages asked for while the previous read is running (many
 * connections paging at once, cross-node wake-ups of many devices, HTTP fetches) are read
 * by ONE statement (`pendingEnvelopePages`), the way appends and acks are written. Under
 * load a cross-node message then costs a share of one query instead of one query of its own.
 * A failed batch is split like a failed write (group-commit.ts), so one bad page fails alone.
 */
import { pendingEnvelopePages, type EnvelopeRow, type PageRequest } from '../repos/mailbox.js';
import type { Database } from '../storage/database.js';
import { GroupCommitter, type Batching } from './group-commit.js';

/**
 * @example
 * const reader = new MailboxReader(db, { maxBatch: 256, concurrency: 4 });
 * const rows = await reader.read(deviceId, '0', 101);
 */
export class MailboxReader {
  private readonly batcher: GroupCommitter<PageRequest, EnvelopeRow[]>;

  constructor(
    private readonly db: Database,
    batching: Batching,
  ) {
    this.batcher = new GroupCommitter(async (requests) => (await pendingEnvelopePages(this.db, requests)).map((value) => ({ ok: true as const, value })), batching);
  }

  /** Up to `limit` pending envelopes of `deviceId` with ids above `after`, oldest first. */
  read(deviceId: string, after: string, limit: number): Promise<EnvelopeRow[]> {
    return this.batcher.submit({ deviceId, after, limit });
  }
}
