/**
 * Where `parley serve` sends traces, by the OpenTelemetry environment variables' rules
 * (OTLP exporter specification): `--otlp-endpoint URL` first, then
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the traces URL as given), then
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL: `/v1/traces` is appended). A flag naming only
 * an origin (`http://collector:4318`) gets `/v1/traces` too. Unset everywhere: no tracing.
 */
import { InvalidInputError } from '@parley/core/errors';

/**
 * The OTLP/HTTP traces URL, or undefined. Throws `invalid_url` for a URL that is
 * not http(s) or carries credentials.
 *
 * @example
 * otlpTracesEndpoint(undefined, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }) // 'http://127.0.0.1:4318/v1/traces'
 */
export function otlpTracesEndpoint(flag: string | undefined, env: Readonly<Record<string, string | undefined>>): string | undefined {
  const traces = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] || undefined;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'] || undefined;
  if (flag !== undefined) return checked(flag, true);
  if (traces !== undefined) return checked(traces, false);
  if (base !== undefined) return checked(`${base.replace(/\/+$/, '')}/v1/traces`, false);
  return undefined;
}

function checked(value: string, appendPathToOrigin: boolean): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidInputError('the OTLP endpoint is not a URL', { code: 'invalid_url' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidInputError('the OTLP endpoint must be an http or https URL', { code: 'invalid_url' });
  if (url.username !== '' || url.password !== '') throw new InvalidInputError('the OTLP endpoint must not carry credentials', { code: 'invalid_url' });
  if (appendPathToOrigin && (url.pathname === '/' || url.pathname === '')) url.pathname = '/v1/traces';
  return url.toString();
}
