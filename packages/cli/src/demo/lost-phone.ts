/**
 * The demo's lost-phone step (issue 14): Alice turns on encrypted backups (a 64-digit recovery
 * key, shown once — never printed in the transcript), loses her phone, the bank
 * re-enrolls her on a new phone (reset: the old keys are revoked in the key log), the new phone
 * restores her history from the backup, and the bank's next alert reaches it. Then the lost
 * phone comes back online: it verifies the revocation against the key log, discards what it had
 * not sent, wipes its store and stops.
 */
import { DeviceRevokedError, generateRecoveryKey, type Device, type DeviceEvent, type KeyStore, type Sender } from '@parley/client';
import type { Transcript } from './transcript.js';

/** What the lost-phone step needs from the scenario (which keeps track of devices and stores). */
export interface LostPhoneOptions {
  readonly transcript: Transcript;
  readonly sender: Sender;
  readonly phone: Device;
  readonly customerId: string;
  /** The Example Bank ↔ Alice conversation: its history must come back. */
  readonly conversationId: string;
  readonly marker: string;
  readonly timeoutMs: number;
  /** Closes the phone and its store: the phone is gone. */
  losePhone(): Promise<void>;
  /** The bank re-enrolls the customer on a new phone (a reset token); the scenario adopts it. */
  enrollNewPhone(): Promise<Device>;
  /** The lost phone is found and switched on: its store opened again (the scenario closes both). */
  reopenLostPhone(): Promise<{ device: Device; store: KeyStore }>;
}

/**
 * Resolves with the first event of `type` the device emits (or has emitted since `since`), or undefined after `timeoutMs`.
 *
 * @example
 * const revoked = await nextEvent(tablet, 'device-revoked', 10_000)
 */
export function nextEvent<T extends DeviceEvent['type']>(device: Device, type: T, timeoutMs: number): Promise<Extract<DeviceEvent, { type: T }> | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, timeoutMs);
    const stop = device.subscribe((event) => {
      if (event.type !== type) return;
      clearTimeout(timer);
      stop();
      resolve(event as Extract<DeviceEvent, { type: T }>);
    });
  });
}

/**
 * @example
 * await runLostPhoneStep({ transcript, sender, phone, customerId: 'c-1001', conversationId, marker, timeoutMs, losePhone, enrollNewPhone, reopenLostPhone })
 */
export async function runLostPhoneStep(o: LostPhoneOptions): Promise<void> {
  const { transcript, phone } = o;
  const before = (await phone.history(o.conversationId, 1000)).length;
  const recoveryKey = generateRecoveryKey();
  const backup = await phone.backups.enableAutomatic({ recoveryKey });
  transcript.step(
    `Alice turns on encrypted backups: a 64-digit recovery key shown once (to Alice only: no digit of it is printed here); backup version ${backup.version}, ${(backup.size / 1024).toFixed(0)} KiB, ${backup.messages} messages, daily increments from now on`,
    backup.messages >= before && before > 0,
  );

  await o.losePhone();
  transcript.step("Alice loses her phone", true);
  const newPhone = await o.enrollNewPhone();
  const online = await newPhone.connect(o.timeoutMs);
  transcript.step("the bank re-enrolls Alice on a new phone (reset: the lost phone's keys are revoked in the key log)", online && (await newPhone.status()) === 'active');

  const wrong = await newPhone.backups.restore({ recoveryKey: generateRecoveryKey() }).then(
    () => 'opened',
    (e: unknown) => (e as { code?: string }).code ?? 'error',
  );
  transcript.step(`a mistyped recovery key is refused (${wrong}) and nothing is written`, wrong === 'backup_wrong_key' && (await newPhone.history(o.conversationId)).length === 0);
  const restored = await newPhone.backups.restore({ recoveryKey });
  const history = await newPhone.history(o.conversationId, 1000);
  transcript.step(
    `the new phone restores the backup with the recovery key: ${restored.messages} messages in ${restored.conversations} conversations, ${restored.verifications} verification(s); the Example Bank thread shows ${history.length} messages`,
    history.length === before,
  );

  const next = await o.sender.send(o.customerId, `Example Bank: welcome back, Alice. Your new phone is set up.${o.marker}`, { class: 'alert' });
  await transcript.record(next, o.sender.device, 'Example Bank ↔ Alice', 'alert', [newPhone], "the bank's next alert reaches the new phone (the Sender adds it: its key is in the log), after the restored history");

  const { device: found, store } = await o.reopenLostPhone();
  const revoked = nextEvent(found, 'device-revoked', o.timeoutMs);
  const outcome = await found.connect(o.timeoutMs).then(
    () => 'still working',
    (e: unknown) => (e instanceof DeviceRevokedError ? e.code : String(e)),
  );
  const event = await revoked;
  const left = await store.list('');
  transcript.step(
    `the lost phone comes back online: it checks the revocation against the key log (${outcome}, revoked by ${event?.revokedBy ?? '?'}), wipes its keys and history (${left.length} records left) and stops`,
    outcome === 'device_revoked' && event !== undefined && left.length === 0,
  );
}
