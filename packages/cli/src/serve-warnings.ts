/**
 * What a `parley serve` configuration cannot do, said at start: a node without an SMS or
 * push provider skips those steps (so routes whose policy relies on them end `exhausted`),
 * `/metrics` without a listener or token of its own, no admin token (admin API off), and
 * embedded PGlite (one node only). Pure: `serve` prints each warning on stderr and logs it
 * as a JSON line with the server's logger.
 */
import { DEFAULT_POLICIES, type DatabaseConfig, type RoutingConfig, type RoutingPolicy } from '@parley/server';

/**
 * One thing the configuration cannot do: a stable `code` and a sentence for the operator.
 *
 * @example
 * const w: ServeWarning = { code: 'no_sms_channel', message: 'no SMS channel configured: …' };
 */
export interface ServeWarning {
  readonly code: 'no_sms_channel' | 'no_push_channel' | 'no_rcs_channel' | 'no_public_url' | 'metrics_admin_token_only' | 'admin_api_disabled' | 'embedded_single_node';
  readonly message: string;
}

/**
 * What `serve` starts with, as far as the warnings need it.
 *
 * @example
 * const setup: ServeSetup = { database: { kind: 'pglite', dataDir }, adminToken, routing, metrics: {} };
 */
export interface ServeSetup {
  readonly database: DatabaseConfig;
  readonly adminToken: string | undefined;
  /** The routing config file's content (absent: the app channel only). */
  readonly routing: Partial<RoutingConfig> | undefined;
  readonly metrics: { readonly listen?: unknown; readonly token?: string | undefined };
}

/** Every policy in effect, named `<business> <class>`: each business's own (and the default business's) first, then the defaults. */
function policiesInEffect(routing: Partial<RoutingConfig> | undefined): [string, RoutingPolicy][] {
  const all: [string, RoutingPolicy][] = [];
  const businesses = { ...(routing?.businesses ?? {}), ...(routing?.defaultBusiness ? { '(default business)': routing.defaultBusiness } : {}) };
  for (const [id, business] of Object.entries(businesses)) {
    for (const [c, p] of Object.entries(business.policies ?? {})) all.push([`${id} ${c}`, p]);
  }
  return [...all, ...Object.entries(DEFAULT_POLICIES).map(([c, p]): [string, RoutingPolicy] => [`default ${c}`, p])];
}

/** The policies (`where class`) that need `step`, or whose `otherwise` is one of `otherwise`. */
function needing(policies: [string, RoutingPolicy][], step: string, otherwise: readonly string[] = []): string[] {
  return policies.filter(([, p]) => p.chain.some((s) => s.step === step) || otherwise.includes(p.otherwise)).map(([where]) => where);
}

/** At most a few names, then how many more. */
function few(names: readonly string[]): string {
  return names.length <= 4 ? names.join(', ') : `${names.slice(0, 4).join(', ')} and ${names.length - 4} more`;
}

/**
 * The warnings for one `serve` configuration, most consequential first; empty when it can do everything.
 *
 * @example
 * for (const w of serveWarnings({ database, adminToken, routing, metrics })) process.stderr.write(`warning: ${w.message}\n`);
 */
export function serveWarnings(setup: ServeSetup): ServeWarning[] {
  const warnings: ServeWarning[] = [];
  const channels = setup.routing?.channels ?? {};
  const policies = policiesInEffect(setup.routing);
  if (setup.routing?.enabled !== false) {
    if (channels.sms === undefined) {
      const affected = needing(policies, 'sms-token', ['invite-to-app']);
      warnings.push({
        code: 'no_sms_channel',
        message:
          `no SMS channel configured (routing config channels.twilio or channels.smpp): sms-token steps are skipped and invitations cannot be sent, ` +
          `so routes of ${few(affected)} end 'exhausted' when the app does not answer`,
      });
    }
    if (channels.fcm === undefined && channels.apns === undefined) {
      warnings.push({
        code: 'no_push_channel',
        message: `no push channel configured (routing config channels.fcm or channels.apns): push steps are skipped (policies ${few(needing(policies, 'push'))}); a device that is not connected is not woken`,
      });
    }
    if (channels.rbm === undefined) {
      warnings.push({ code: 'no_rcs_channel', message: `no RCS channel configured (routing config channels.rbm): rcs steps are skipped (policies ${few(needing(policies, 'rcs'))})` });
    }
    if (channels.sms !== undefined && setup.routing?.publicUrl === undefined) {
      warnings.push({ code: 'no_public_url', message: "routing config has no publicUrl: retrieval links sent by SMS point at this node's own URL" });
    }
  }
  if (setup.adminToken === undefined || setup.adminToken === '') {
    warnings.push({ code: 'admin_api_disabled', message: 'no admin token: the admin API (/v1/admin/*) is disabled, and /metrics needs a metrics token' });
  } else if (setup.metrics.listen === undefined && setup.metrics.token === undefined) {
    warnings.push({
      code: 'metrics_admin_token_only',
      message: 'no metrics listener or token (--metrics-listen HOST:PORT or --metrics-token-file FILE): /metrics on the main port accepts only the admin token',
    });
  }
  if (setup.database.kind === 'pglite') {
    warnings.push({
      code: 'embedded_single_node',
      message: 'embedded PGlite serves one node only: for several nodes use --database-url (PostgreSQL) with a shared --key-dir',
    });
  }
  return warnings;
}
