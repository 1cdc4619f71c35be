/** Which webhook URLs the gateway calls. */

/**
 * True for an absolute `http:` or `https:` URL without credentials, at most 2048 characters:
 * the only URLs the gateway posts webhooks to (checked when an event is appended and again
 * before each attempt). Redirects are never followed, so this is the URL that is called.
 *
 * @example
 * isWebhookUrl('https://bank.example/parley/status') // true
 * isWebhookUrl('file:///etc/passwd') // false
 */
export function isWebhookUrl(url: string): boolean {
  if (typeof url !== 'string' || url.length === 0 || url.length > 2048) return false;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return (parsed.protocol === 'http:' || parsed.protocol === 'https:') && parsed.hostname !== '' && parsed.username === '' && parsed.password === '';
}
