/**
 * Backups (`device.backups`, docs/backup-format.md): "Create backup" makes a recovery key in
 * this browser and shows it once, in groups of four digits; only after the customer confirms
 * having written it down is it hidden and the encrypted backup uploaded. The stored versions are
 * listed. "Restore from backup", on a device the bank enrolled again after the old one was lost,
 * takes the typed key (spaces, dashes and other separators ignored), restores the history and
 * shows it in the inbox.
 *
 * The recovery key lives only in the page while it is shown or typed: never logged, never in
 * localStorage, and removed from the page once used.
 */
import { generateRecoveryKey, type Device, type RestoreSummary, type StoredBackup } from '@parley/client';
import type { Inbox } from './inbox.js';
import { byId, el, errorCode, formatTime } from './view.js';

/** Plain words for the errors a backup or a restore can end in (the code is shown too). */
const ERROR_TEXT: Readonly<Record<string, string>> = {
  backup_wrong_key: 'This recovery key does not open your backup. Check the digits and try again.',
  backup_invalid_secret: 'A recovery key has 64 digits. Check that you typed all of them, and digits only.',
  backup_not_found: 'There is no backup for your account yet.',
  backup_corrupt: 'The backup is damaged and cannot be restored.',
  backup_truncated: 'The backup is incomplete and cannot be restored.',
  backup_unsupported: 'This backup was made by a newer version of the app. Update the app and try again.',
  rate_limited: 'Too many attempts. Wait an hour, then try again.',
  transport_error: 'The server could not be reached. Check your connection and try again.',
};

/**
 * A backup error as the page says it: plain words, then the code.
 *
 * @example
 * backupErrorText(new BackupError('backup_wrong_key', '…')) // 'This recovery key does not open your backup. … (backup_wrong_key)'
 */
export function backupErrorText(error: unknown): string {
  const code = errorCode(error);
  return `${ERROR_TEXT[code] ?? 'Something went wrong.'} (${code})`;
}

/**
 * The digits of a typed recovery key: separators (spaces, dashes, dots…) dropped, letters kept
 * so that a mistyped key is refused rather than shortened.
 *
 * @example
 * recoveryKeyDigits('1234-5678 9012.…') // '123456789012…'
 */
export function recoveryKeyDigits(typed: string): string {
  return typed.replace(/[^\p{L}\p{N}]/gu, '');
}

/**
 * A byte count in the page's words.
 *
 * @example
 * formatSize(12_345) // '12.1 KB'
 */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * What a restore brought back, in words.
 *
 * @example
 * restoredText({ conversations: 1, messages: 3, tags: 0, verifications: 1, conversationIds: [] }) // 'Restored 3 messages in 1 conversation, and 1 verification.'
 */
export function restoredText(s: RestoreSummary): string {
  const n = (count: number, one: string) => `${count} ${one}${count === 1 ? '' : 's'}`;
  return `Restored ${n(s.messages, 'message')} in ${n(s.conversations, 'conversation')}, and ${n(s.verifications, 'verification')}.`;
}

/** Says something in a result line (`data-outcome` lets tests and styles tell outcomes apart). */
function say(id: string, text: string, outcome: 'busy' | 'done' | 'failed'): void {
  const line = byId(id);
  line.textContent = text;
  line.dataset['outcome'] = outcome;
}

function backupRow(b: StoredBackup): HTMLLIElement {
  const protectedBy = b.kdf.name === 'recovery-key' ? 'recovery key' : 'passphrase';
  return el('li', { class: 'backup', attrs: { 'data-version': String(b.version) } }, [
    el('span', { class: 'backup-version', text: `Backup ${b.version}` }),
    el('time', { text: formatTime(b.createdAt), attrs: { datetime: b.createdAt } }),
    el('span', { class: 'backup-size', text: formatSize(b.size) }),
    el('span', { class: 'hint', text: `protected by a ${protectedBy}` }),
  ]);
}

/**
 * Renders `#backup-list`: the account's stored backups, newest first.
 *
 * @example
 * await renderBackups(device)
 */
export async function renderBackups(device: Device): Promise<void> {
  try {
    const backups = await device.backups.list();
    byId('backup-list').replaceChildren(...backups.map(backupRow));
    byId('backups-empty').hidden = backups.length > 0;
  } catch (error) {
    byId('backup-list').replaceChildren(el('li', { class: 'warn-line', text: `Could not list the backups. ${backupErrorText(error)}` }));
  }
}

/** Shows the key in `#recovery-key` in its groups of four (each group its own element). */
function showKey(recoveryKey: string): void {
  byId('recovery-key').replaceChildren(...recoveryKey.split(' ').map((group) => el('span', { text: group })));
}

/**
 * Wires "Create backup": a new key shown once, the "I wrote it down" confirmation, then the
 * key hidden and the backup uploaded.
 */
function wireCreate(device: Device): void {
  const create = byId('backup-create') as HTMLButtonElement;
  const panel = byId('recovery-key-panel');
  const confirmed = byId('recovery-key-confirmed') as HTMLInputElement;
  const upload = byId('backup-upload') as HTMLButtonElement;
  const cancel = byId('backup-cancel') as HTMLButtonElement;
  let recoveryKey: string | undefined;
  const hide = () => {
    recoveryKey = undefined;
    byId('recovery-key').replaceChildren();
    confirmed.checked = false;
    upload.disabled = true;
    panel.hidden = true;
    create.disabled = false;
  };
  create.addEventListener('click', () => {
    recoveryKey = generateRecoveryKey();
    showKey(recoveryKey);
    panel.hidden = false;
    create.disabled = true;
    say('backup-result', '', 'busy');
  });
  confirmed.addEventListener('change', () => (upload.disabled = !confirmed.checked));
  cancel.addEventListener('click', hide);
  upload.addEventListener('click', () => {
    const key = recoveryKey;
    if (key === undefined || !confirmed.checked) return;
    hide();
    create.disabled = true;
    say('backup-result', 'Encrypting and uploading your backup…', 'busy');
    device.backups.upload({ recoveryKey: key }).then(
      async ({ version, size }) => {
        say('backup-result', `Backup ${version} stored (${formatSize(size)}). Keep your recovery key safe: it is the only way to open it.`, 'done');
        await renderBackups(device);
      },
      (error: unknown) => say('backup-result', `The backup was not stored. ${backupErrorText(error)} Create a new backup to try again (the key shown is no longer used).`, 'failed'),
    ).finally(() => (create.disabled = false));
  });
}

/** Wires "Restore from backup" (`#restore-form`): the typed key, the restore, the counts, the history in the inbox. */
function wireRestore(device: Device, inbox: Inbox): void {
  const form = byId('restore-form') as HTMLFormElement;
  const input = byId('restore-key') as HTMLInputElement;
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    if (button) button.disabled = true;
    say('restore-result', 'Restoring your backup…', 'busy');
    device.backups.restore({ recoveryKey: recoveryKeyDigits(input.value) }).then(
      async (summary) => {
        input.value = '';
        say('restore-result', restoredText(summary), 'done');
        await inbox.addRestored(summary.conversationIds);
      },
      (error: unknown) => say('restore-result', `Nothing was restored. ${backupErrorText(error)}`, 'failed'),
    ).finally(() => {
      if (button) button.disabled = false;
    });
  });
}

/**
 * Wires the backup view (`#backup-section`) and lists the stored backups.
 *
 * @example
 * await wireBackup(device, inbox)
 */
export async function wireBackup(device: Device, inbox: Inbox): Promise<void> {
  wireCreate(device);
  wireRestore(device, inbox);
  await renderBackups(device);
}
