/**
 * Web origins (RFC 6454) as the configuration names them: exact `scheme://host[:port]`,
 * normalised the way browsers serialise the `Origin` header (lowercase scheme and host,
 * default port dropped), so a configured origin and a request's header compare as strings.
 */
import { ParleyError } from '@parley/core/errors';

/**
 * Normalises one configured origin; throws `invalid_config` on anything but an exact
 * `http(s)://host[:port]` (a path, a trailing slash, a query, credentials or a wildcard).
 *
 * @example
 * normaliseOrigin('HTTPS://App.Bank.example:443') // 'https://app.bank.example'
 * normaliseOrigin('*') // throws ParleyError invalid_config
 */
export function normaliseOrigin(value: string): string {
  const refuse = (why: string): never => {
    throw new ParleyError('invalid_config', `allowed origin ${JSON.stringify(value)}: ${why}`, { status: 500, details: { origin: value } });
  };
  const raw = value.trim();
  if (raw.includes('*')) refuse('wildcards are not accepted; list each origin exactly (scheme://host[:port])');
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return refuse('not an origin (expected scheme://host[:port])');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') refuse('the scheme must be http or https');
  if (url.username !== '' || url.password !== '') refuse('credentials are not part of an origin');
  if (url.search !== '' || url.hash !== '' || raw.includes('?') || raw.includes('#')) refuse('a query or fragment is not part of an origin');
  // The URL parser turns "https://host" into pathname "/": the raw text must not carry one.
  if (url.pathname !== '/' || /^[a-z][a-z0-9+.-]*:\/\/[^/]*\//i.test(raw)) refuse('no path and no trailing slash (scheme://host[:port])');
  if (url.hostname === '') refuse('a host is required');
  return url.origin;
}

/**
 * Normalises a list of configured origins (duplicates removed, order kept).
 *
 * @example
 * normaliseOrigins(['https://a.example', 'https://A.example:443']) // ['https://a.example']
 */
export function normaliseOrigins(values: readonly string[]): readonly string[] {
  return Object.freeze([...new Set(values.map(normaliseOrigin))]);
}

/**
 * Parses a comma-separated origin list (`--allowed-origins`, `PARLEY_ALLOWED_ORIGINS`);
 * empty items are ignored, each item is validated by {@link normaliseOrigin}.
 *
 * @example
 * parseOriginList('https://app.bank.example, https://admin.bank.example:8443')
 * // ['https://app.bank.example', 'https://admin.bank.example:8443']
 */
export function parseOriginList(list: string): readonly string[] {
  return normaliseOrigins(
    list
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== ''),
  );
}

/**
 * The serialised origin of a request's `Origin` header value, or `undefined` when it is
 * not a tuple origin (`null`, garbage). Never throws.
 *
 * @example
 * requestOrigin('https://App.example') // 'https://app.example'
 * requestOrigin('null') // undefined
 */
export function requestOrigin(header: string): string | undefined {
  try {
    const url = new URL(header);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    return url.origin;
  } catch {
    return undefined;
  }
}
