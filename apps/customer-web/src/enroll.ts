/**
 * Getting a device: enroll from the bank's enrollment link on first run, open it
 * from IndexedDB on every later run.
 *
 * The link is `…/index.html#enroll=<single-use token>&server=<Parley server URL>`. It is
 * in the fragment, so it never reaches the web server hosting the app; it is removed
 * from the address bar (and history) as soon as it is read.
 */
import { Device, isClientError } from '@parley/client';
import { IndexedDbKeyStore, browserRuntime } from '@parley/client/browser';

/**
 * The IndexedDB database holding this app's one device.
 *
 * @example
 * await IndexedDbKeyStore.open(STORE_NAME)
 */
export const STORE_NAME = 'parley-customer-web';

/**
 * What the bank's enrollment link carries.
 *
 * @example
 * const link = readEnrollmentLink(location.hash)
 */
export interface EnrollmentLink {
  readonly token: string;
  readonly serverUrl: string;
}

/**
 * Parses `#enroll=<token>&server=<url>`; undefined when the fragment is not an enrollment link.
 * Only http(s) server URLs are accepted.
 *
 * @example
 * readEnrollmentLink('#enroll=eyJ…&server=https%3A%2F%2Fparley.bank.example') // { token: 'eyJ…', serverUrl: 'https://parley.bank.example' }
 */
export function readEnrollmentLink(hash: string): EnrollmentLink | undefined {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const token = params.get('enroll');
  const server = params.get('server');
  if (!token || !server) return undefined;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  return { token, serverUrl: url.origin + url.pathname.replace(/\/+$/, '') };
}

/**
 * Removes the enrollment link from the address bar and the session history entry.
 *
 * @example
 * forgetEnrollmentLink()
 */
export function forgetEnrollmentLink(): void {
  history.replaceState(null, '', location.pathname + location.search);
}

/**
 * The device of this browser: opened from IndexedDB if one is stored, otherwise enrolled with
 * the link (undefined when there is neither). `enrolledNow` tells the page which happened.
 *
 * @example
 * const started = await startDevice(readEnrollmentLink(location.hash))
 */
export async function startDevice(link: EnrollmentLink | undefined): Promise<{ device: Device; enrolledNow: boolean } | undefined> {
  const store = await IndexedDbKeyStore.open(STORE_NAME);
  try {
    return { device: await Device.open({ store, ...browserRuntime }), enrolledNow: false };
  } catch (error) {
    if (!isClientError(error) || error.code !== 'device_not_enrolled') throw error;
  }
  if (!link) return undefined;
  const device = await Device.enroll({ serverUrl: link.serverUrl, enrollmentToken: link.token, store, label: 'Web browser', ...browserRuntime });
  return { device, enrolledNow: true };
}
