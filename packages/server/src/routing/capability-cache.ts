/**
 * Advisory capability answers per recipient and channel, keyed by a pseudonymous id
 * (HMAC-SHA-256 of the E.164 number under a server key): no raw phone number at rest
 * here. Each entry records where it came from and expires after the channel's TTL; a
 * failure on the channel invalidates it, so the next message re-detects.
 */
import { createHmac } from 'node:crypto';
import { toBase64Url } from '@parley/core';
import type { Capabilities, ChannelName } from '../channels/channel.js';
import type { Sql } from '../storage/database.js';

export class Pseudonyms {
  constructor(private readonly key: Uint8Array) {}

  /** The pseudonymous id of a phone number (stable per server key). */
  of(phone: string): string {
    return toBase64Url(new Uint8Array(createHmac('sha256', this.key).update(`parley/v1/recipient\n${phone}`).digest()));
  }
}

interface CacheRow {
  reachable: boolean;
  end_to_end: boolean;
  features: string;
  source: Capabilities['source'];
  expires_at: Date;
}

export class CapabilityCache {
  constructor(private readonly db: Sql) {}

  /** The cached answer, if still fresh. */
  async get(pseudonym: string, channel: ChannelName): Promise<Capabilities | undefined> {
    const [row] = await this.db.query<CacheRow>(
      'SELECT reachable, end_to_end, features, source, expires_at FROM capability_cache WHERE pseudonym = $1 AND channel = $2 AND expires_at > now()',
      [pseudonym, channel],
    );
    if (!row) return undefined;
    return {
      reachable: row.reachable,
      endToEnd: row.end_to_end,
      features: row.features === '' ? [] : row.features.split(','),
      source: row.source,
      ttlMs: Math.max(0, new Date(row.expires_at).getTime() - Date.now()),
    };
  }

  async put(pseudonym: string, channel: ChannelName, caps: Capabilities): Promise<void> {
    await this.db.query(
      `INSERT INTO capability_cache (pseudonym, channel, reachable, end_to_end, features, source, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + ($7::integer * interval '1 millisecond'))
       ON CONFLICT (pseudonym, channel) DO UPDATE SET reachable = EXCLUDED.reachable, end_to_end = EXCLUDED.end_to_end,
         features = EXCLUDED.features, source = EXCLUDED.source, expires_at = EXCLUDED.expires_at`,
      [pseudonym, channel, caps.reachable, caps.endToEnd, caps.features.join(','), caps.source, Math.round(caps.ttlMs)],
    );
  }

  /** A failure on the channel: forget the answer so the next message re-detects. */
  async invalidate(pseudonym: string, channel: ChannelName): Promise<void> {
    await this.db.query('DELETE FROM capability_cache WHERE pseudonym = $1 AND channel = $2', [pseudonym, channel]);
  }

  /** Fresh answer from the cache, else from the channel (and cached for its TTL). */
  async resolve(pseudonym: string, channel: ChannelName, ask: () => Promise<Capabilities>): Promise<Capabilities> {
    const cached = await this.get(pseudonym, channel);
    if (cached) return cached;
    const fresh = await ask();
    if (fresh.ttlMs > 0) await this.put(pseudonym, channel, fresh);
    return fresh;
  }
}
