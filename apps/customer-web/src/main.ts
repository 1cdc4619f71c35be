/**
 * The customer app: enroll (or reopen) this browser's device, wait for approval if it is
 * a second device, go online, and show the inbox (with its files), the support composer, the
 * bank's verification, the devices and the backups.
 */
import type { Device, DeviceEvent } from '@parley/client';
import { wireBackup } from './backup.js';
import { Composer } from './compose.js';
import { Contacts } from './contacts.js';
import { renderDevices, waitForApproval, wireApproval } from './devices.js';
import { forgetEnrollmentLink, readEnrollmentLink, startDevice } from './enroll.js';
import { Inbox } from './inbox.js';
import { renderVerification } from './verify.js';
import { addBanner, byId, errorCode, setStatus } from './view.js';

const KEY_CHECK_INTERVAL_MS = 15_000;

const ALERT_TEXT: Readonly<Record<Extract<DeviceEvent, { type: 'key-change-alert' }>['change'], string>> = {
  'pending-device': 'A new device was added to your account and waits for approval. Approve it only if you added it yourself.',
  'added-without-approval': 'A device was added to your account without your approval. If it was not you, contact your bank now.',
  'this-device-revoked': 'This browser was removed from your account. It no longer receives your messages.',
  'this-device-not-logged': "This browser's keys are not in the public key log as expected. Contact your bank before trusting messages here.",
  'this-device-suites-not-logged': "The public key log does not show this browser's encryption suites as it stated them. Contact your bank.",
};

function onDeviceEvent(event: DeviceEvent, refresh: () => void): void {
  switch (event.type) {
    case 'connection':
      setStatus(event.online ? 'Connected · end-to-end encrypted' : 'Offline: reconnecting…', event.online ? 'ok' : 'busy');
      break;
    case 'key-change-alert':
      addBanner(`key-${event.change}-${event.deviceId}`, ALERT_TEXT[event.change], event.change === 'pending-device' ? 'warn' : 'error');
      refresh();
      break;
    case 'key-transparency-error':
      addBanner(`kt-${event.identityId}`, `The key log did not check out for a contact (${event.code}): messages from it are not shown. Contact your bank.`, 'error');
      break;
    case 'resynced':
      addBanner(`resync-${event.conversationId}`, 'This device rejoined a conversation; messages sent meanwhile may be missing.', 'info');
      break;
    case 'removed-from-conversation':
      addBanner(`removed-${event.conversationId}`, 'This browser was removed from a conversation.', 'info');
      break;
    case 'device-revoked':
      // The device checked the revocation against the key log and wiped its keys and history.
      addBanner('device-revoked', 'This browser was removed from your account and has erased its keys and messages. To use it again, enroll it anew from your bank.', 'error');
      setStatus('Removed from your account', 'error');
      byId('app').hidden = true;
      break;
    case 'outbox-discarded':
      addBanner('outbox-discarded', `${event.messageIds.length} message(s) you wrote were not sent: this browser was removed from your account.`, 'warn');
      break;
    case 'conversation-joined':
    case 'membership-changed':
      refresh();
      break;
    default:
      break;
  }
}

async function run(device: Device): Promise<void> {
  byId('whoami').textContent = device.identityId;
  document.body.dataset['deviceId'] = device.deviceId;
  const contacts = new Contacts(device);
  const composer = new Composer(device, contacts);
  let refreshing = false;
  const refresh = () => {
    if (refreshing) return;
    refreshing = true;
    Promise.all([renderDevices(device), renderVerification(device, contacts)])
      .catch((error: unknown) => addBanner('refresh', `Could not refresh (${errorCode(error)})`, 'error'))
      .finally(() => (refreshing = false));
  };
  device.subscribe((event) => onDeviceEvent(event, refresh));
  // The conversations the customer can write in change when staff open or change one.
  device.subscribe((event) => {
    if (event.type === 'conversation-joined' || event.type === 'membership-changed' || event.type === 'removed-from-conversation') void composer.refresh();
  });
  if ((await device.status()) === 'pending') {
    setStatus('Waiting for approval from one of your devices', 'busy');
    await waitForApproval(device);
  }
  const inbox = new Inbox(device, contacts);
  await inbox.start();
  wireApproval(device);
  composer.wire();
  byId('app').hidden = false;
  const online = await device.connect();
  setStatus(online ? 'Connected · end-to-end encrypted' : 'Offline: reconnecting…', online ? 'ok' : 'busy');
  await Promise.all([renderDevices(device), renderVerification(device, contacts), wireBackup(device, inbox), composer.refresh()]);
  setInterval(() => {
    device.keys.checkOwnKeys().then(refresh, () => {});
  }, KEY_CHECK_INTERVAL_MS);
  document.body.dataset['state'] = 'ready';
}

async function main(): Promise<void> {
  const link = readEnrollmentLink(location.hash);
  // The token is single-use and secret: off the address bar before anything else happens.
  if (link) forgetEnrollmentLink();
  setStatus(link ? 'Enrolling this browser…' : 'Opening…');
  const started = await startDevice(link);
  if (!started) {
    byId('welcome').hidden = false;
    setStatus('This browser is not enrolled yet', 'error');
    document.body.dataset['state'] = 'not-enrolled';
    return;
  }
  if (link && !started.enrolledNow) addBanner('already-enrolled', 'This browser is already enrolled: the enrollment link was not used.', 'info');
  await run(started.device);
}

main().catch((error: unknown) => {
  setStatus(`Something went wrong (${errorCode(error)}). Reload to try again.`, 'error');
  document.body.dataset['state'] = 'error';
});
