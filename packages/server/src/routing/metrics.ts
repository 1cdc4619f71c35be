/**
 * Routing and channel metrics in Prometheus format (`prom-client`), served at
 * `/metrics`. Labels are metadata only: channel, message class, step, path, reason —
 * never a recipient, a token or content.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class RoutingMetrics {
  readonly registry = new Registry();
  readonly deliveries: Counter<'channel' | 'class' | 'path'>;
  readonly routes: Counter<'class' | 'outcome'>;
  readonly fallbacks: Counter<'class' | 'from' | 'to'>;
  readonly policyBlocks: Counter<'class' | 'reason'>;
  readonly policyWarnings: Counter<'class'>;
  readonly sends: Counter<'channel' | 'result'>;
  readonly sendLatency: Histogram<'channel'>;
  readonly deliveryLatency: Histogram<'class' | 'path'>;
  readonly webhookSignatureFailures: Counter<'channel'>;
  readonly tokenRedemptions: Counter<'kind' | 'result'>;

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_process_' });
    const r = [this.registry];
    this.deliveries = new Counter({ name: 'parley_deliveries_total', help: 'Messages delivered, by the channel step that delivered them', labelNames: ['channel', 'class', 'path'], registers: r });
    this.routes = new Counter({ name: 'parley_routes_total', help: 'Routes finished, by outcome', labelNames: ['class', 'outcome'], registers: r });
    this.fallbacks = new Counter({ name: 'parley_route_fallbacks_total', help: 'Step changes: a step timed out or failed and the next one started', labelNames: ['class', 'from', 'to'], registers: r });
    this.policyBlocks = new Counter({ name: 'parley_policy_blocks_total', help: 'Messages the routing policy blocked', labelNames: ['class', 'reason'], registers: r });
    this.policyWarnings = new Counter({ name: 'parley_policy_warnings_total', help: 'Messages sent through a non-end-to-end fallback under a warn policy', labelNames: ['class'], registers: r });
    this.sends = new Counter({ name: 'parley_channel_sends_total', help: 'Items handed to providers, by result (accepted or a failure reason)', labelNames: ['channel', 'result'], registers: r });
    this.sendLatency = new Histogram({
      name: 'parley_channel_send_seconds',
      help: 'Time for a provider to accept an item',
      labelNames: ['channel'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.deliveryLatency = new Histogram({
      name: 'parley_delivery_seconds',
      help: 'From acceptance to delivery, by path',
      labelNames: ['class', 'path'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900],
      registers: r,
    });
    this.webhookSignatureFailures = new Counter({ name: 'parley_webhook_signature_failures_total', help: 'Provider webhooks refused for a bad or missing signature', labelNames: ['channel'], registers: r });
    this.tokenRedemptions = new Counter({ name: 'parley_retrieval_redemptions_total', help: 'Retrieval-token redemptions, by result', labelNames: ['kind', 'result'], registers: r });
  }
}
