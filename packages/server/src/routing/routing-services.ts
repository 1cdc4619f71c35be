/**
 * What the router's parts share: storage, configuration, metrics, the recipient
 * pseudonyms and capability cache, this node's public URL, the lookups over the
 * configuration, the decision record and the loop's kick. The steps (steps/), the
 * hand-off, status events and finishing all take it; the Router owns it.
 */
import type { Logger } from 'pino';
import type { Channel } from '../channels/channel.js';
import type { Database } from '../storage/database.js';
import { CapabilityCache, Pseudonyms } from './capability-cache.js';
import type { RoutingMetrics } from './metrics.js';
import type { RoutingPolicy } from './policy.js';
import { recordRouteEvent } from './route-events.js';
import { Tracing } from '../observability/tracing.js';
import { traceDecision } from '../observability/span-routing.js';
import { businessRouting, configuredChannels, policyOf, type BusinessRouting, type RoutingConfig } from './routing-config.js';

/**
 * @example
 * const services = new RoutingServices(db, config, pseudonymKey, metrics, log, () => router.kick());
 * await services.event(messageId, 'push', null, 'skipped', 'no push token');
 */
export class RoutingServices {
  readonly pseudonyms: Pseudonyms;
  readonly capabilities: CapabilityCache;
  /** Public base URL of this deployment (retrieval links, webhook URLs): configured, or the node's URL once it listens. */
  publicUrl: string;

  constructor(
    readonly db: Database,
    readonly config: RoutingConfig,
    pseudonymKey: Uint8Array,
    readonly metrics: RoutingMetrics,
    readonly log: Logger,
    /** Asks the router's loop to look for due routes now. */
    readonly kick: () => void,
    /** Spans of the route steps (observability/); off by default. */
    readonly tracing: Tracing = Tracing.off,
  ) {
    this.pseudonyms = new Pseudonyms(pseudonymKey);
    this.capabilities = new CapabilityCache(db);
    this.publicUrl = config.publicUrl ?? '';
  }

  /** The configured channels. */
  channels(): Channel[] {
    return configuredChannels(this.config.channels);
  }

  /** The configured channel of that name, if any. */
  channel(name: string): Channel | undefined {
    return this.channels().find((c) => c.name === name);
  }

  business(id: string): BusinessRouting {
    return businessRouting(this.config, id);
  }

  policyFor(businessId: string, messageClass: string): RoutingPolicy {
    return policyOf(this.config, businessId, messageClass);
  }

  /** Records one decision about a route (route_events). */
  event(messageId: string, step: string, channel: string | null, decision: string, reason: string | null): Promise<void> {
    traceDecision(this.tracing, messageId, step, channel, decision, reason);
    return recordRouteEvent(this.db, messageId, step, channel, decision, reason);
  }

  /** The customer's phone number (E.164), if the enrollment token gave one. */
  async phoneOf(identityId: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ phone: string | null }>('SELECT phone FROM identities WHERE id = $1', [identityId]);
    return row?.phone ?? undefined;
  }
}
