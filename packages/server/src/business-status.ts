/**
 * Whether a business is disabled (admin API), with a short per-node cache: message
 * submissions check it on every call, so a disable reaches every node within the cache's
 * lifetime (5 s), and the node that disabled it at once (`forget`).
 */
import { ForbiddenError } from '@parley/core';
import { isBusinessDisabled } from './repos/business-admin.js';
import type { Sql } from './storage/database.js';

/**
 * The refusal of anything a disabled business or its devices ask for (403 `business_disabled`).
 *
 * @example
 * if (claims.businessDisabled) throw businessDisabledError();
 */
export function businessDisabledError(): ForbiddenError {
  return new ForbiddenError('business_disabled', 'this business is disabled');
}

/**
 * Business status with a short cache (at most `ttlMs` stale, 5 s by default).
 *
 * @example
 * const status = new BusinessStatusCache(db);
 * await status.assertActive(device.businessId); // 403 business_disabled
 */
export class BusinessStatusCache {
  private readonly cache = new Map<string, { disabled: boolean; at: number }>();
  constructor(
    private readonly db: Sql,
    private readonly ttlMs = 5000,
  ) {}

  /**
   * Whether business `id` is disabled (at most the cache's lifetime stale).
   *
   * @example
   * if (await status.disabled('example-bank')) …
   */
  async disabled(id: string): Promise<boolean> {
    const hit = this.cache.get(id);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.disabled;
    const disabled = await isBusinessDisabled(this.db, id);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(id, { disabled, at: Date.now() });
    return disabled;
  }

  /**
   * Throws 403 `business_disabled` when business `id` is disabled.
   *
   * @example
   * await status.assertActive(sender.businessId);
   */
  async assertActive(id: string): Promise<void> {
    if (await this.disabled(id)) throw businessDisabledError();
  }

  /**
   * Drops the cached status of business `id` (this node changed it).
   *
   * @example
   * status.forget('example-bank');
   */
  forget(id: string): void {
    this.cache.delete(id);
  }
}
