/**
 * Routing and channel metrics in Prometheus format (`prom-client`), served at
 * `/metrics` (behind a token on the main port, or on a separate listener). Labels are
 * metadata only: channel, message class, step, path, reason — never a recipient, a
 * token or content. The message class is chosen by senders, so a class label is always
 * written through `classLabel`: a class the configuration does not name is `other`,
 * which keeps the number of series bounded.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DEFAULT_POLICIES } from './policy.js';
import type { RoutingConfig } from './routing-config.js';

/** prom-client default gauges whose names end in `_total` (Prometheus reserves it for counters): not exported. */
const GAUGES_NAMED_AS_COUNTERS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** The label value of a class no policy names. */
export const OTHER_CLASS = 'other';

/** The classes the policy configuration names: the built-in defaults and every business's policies. */
export function policyClasses(routing: Pick<RoutingConfig, 'businesses' | 'defaultBusiness'>): Set<string> {
  const classes = new Set(Object.keys(DEFAULT_POLICIES));
  for (const business of [...Object.values(routing.businesses ?? {}), routing.defaultBusiness]) {
    for (const name of Object.keys(business?.policies ?? {})) classes.add(name);
  }
  return classes;
}

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
  /** Route steps started, by step name (a policy chain's step: app, push, rcs, sms-token). */
  readonly stepsStarted: Counter<'step'>;
  /** Route steps finished, by step name and outcome (`waiting`, `skipped`, `error`). */
  readonly stepsFinished: Counter<'step' | 'outcome'>;

  /** @param classes the classes that may appear as label values (`policyClasses`); any other is `other`. */
  constructor(
    nodeId: string,
    private readonly classes: ReadonlySet<string> = new Set(Object.keys(DEFAULT_POLICIES)),
  ) {
    this.registry.setDefaultLabels({ node: nodeId });
    // Prefix `parley_`: prom-client's names already start with `process_` / `nodejs_`
    // (`parley_process_cpu_seconds_total`, `parley_nodejs_eventloop_lag_seconds`).
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
    // prom-client names three gauges `…_total` (a counter's suffix). Their per-type
    // companions stay (`parley_nodejs_active_handles` …); the total is their sum in PromQL.
    for (const name of GAUGES_NAMED_AS_COUNTERS) this.registry.removeSingleMetric(`parley_${name}`);
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
    this.stepsStarted = new Counter({ name: 'parley_route_steps_started_total', help: 'Route steps started, by step', labelNames: ['step'], registers: r });
    this.stepsFinished = new Counter({ name: 'parley_route_steps_finished_total', help: 'Route steps finished, by step and outcome (waiting, skipped, error)', labelNames: ['step', 'outcome'], registers: r });
  }

  /** The label value of a message class: the class if the configuration names it, else `other`. Every class label goes through here. */
  classLabel(messageClass: string): string {
    return this.classes.has(messageClass) ? messageClass : OTHER_CLASS;
  }
}

/** A separate listener that serves only `GET /metrics`, without authentication (bind it to a private address). */
export async function serveMetrics(registry: Registry, host: string, port: number): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => response.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
