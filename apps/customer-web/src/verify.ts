/**
 * Verifying the bank: the safety number (60 digits, Signal's numeric fingerprint over both
 * identity keys from the verified key log) to compare with the one the bank shows, and the
 * QR code each side shows the other (drawn by qr.ts). This reference app has no camera scanner: the
 * customer pastes the payload the bank shows (a real app scans it; the comparison is the same).
 */
import type { Device, VerificationState } from '@parley/client';
import type { Contact, Contacts } from './contacts.js';
import { qrCode } from './qr.js';
import { byId, copyButton, el, errorCode } from './view.js';

const STATE_TEXT: Readonly<Record<VerificationState, string>> = {
  verified: 'Verified by you',
  unverified: 'Not verified by you yet',
  changed: 'Keys changed since you verified: verify again',
};

/**
 * Renders one verification card per contact in `#verify`.
 *
 * @example
 * await renderVerification(device, contacts)
 */
export async function renderVerification(device: Device, contacts: Contacts): Promise<void> {
  const list = byId('verify-list');
  for (const contact of await contacts.list()) {
    const number = await device.keys.safetyNumber(contact.identityId);
    const existing = [...list.querySelectorAll<HTMLElement>('.verify-card')].find((c) => c.dataset['identity'] === contact.identityId);
    // Refresh an existing card in place: what the customer pasted stays.
    if (existing) updateCard(existing, contact, number.groups);
    else list.append(await verificationCard(device, contacts, contact, number.groups));
  }
  byId('verify-empty').hidden = list.childElementCount > 0;
}

function updateCard(card: HTMLElement, contact: Contact, groups: readonly string[]): void {
  const state = card.querySelector<HTMLElement>('[data-role="verification-state"]');
  if (state) {
    state.textContent = STATE_TEXT[contact.verification];
    state.className = `state ${contact.verification}`;
  }
  card.querySelector('[data-role="safety-number"]')?.replaceChildren(...groups.map((g) => el('span', { text: g })));
}

async function verificationCard(device: Device, contacts: Contacts, contact: Contact, groups: readonly string[]): Promise<HTMLElement> {
  const qr = await device.keys.verificationQr(contact.identityId);
  const state = el('p', { class: `state ${contact.verification}`, text: STATE_TEXT[contact.verification], attrs: { 'data-role': 'verification-state' } });
  const input = el('textarea', { attrs: { rows: '2', placeholder: `Paste the code ${contact.name} shows (parley-verify:…)`, 'data-role': 'scanned' } });
  const check = el('button', { text: 'Compare', attrs: { type: 'button', 'data-role': 'compare' } });
  const result = el('p', { class: 'result', attrs: { 'data-role': 'compare-result', 'aria-live': 'polite' } });
  check.addEventListener('click', () => {
    result.textContent = 'Comparing…';
    delete result.dataset['outcome'];
    device.keys.verifyScanned(contact.identityId, input.value.trim()).then(
      async (outcome) => {
        const card = check.closest<HTMLElement>('.verify-card');
        if (card) updateCard(card, await contacts.describe(contact.identityId), (await device.keys.safetyNumber(contact.identityId)).groups);
        result.textContent =
          outcome === 'match'
            ? `Match: ${contact.name} is verified.`
            : outcome === 'version-mismatch'
              ? 'This code was made by a different app version; update both apps and try again.'
              : `No match. Do not trust this conversation; contact ${contact.name} another way.`;
        result.dataset['outcome'] = outcome;
      },
      (error: unknown) => {
        result.textContent = `Could not compare (${errorCode(error)}): is this the code ${contact.name} shows?`;
        result.dataset['outcome'] = 'error';
      },
    );
  });
  return el('section', { class: 'card verify-card', attrs: { 'data-identity': contact.identityId } }, [
    el('h3', { text: contact.name }),
    state,
    el('h4', { text: 'Safety number' }),
    el('p', { class: 'hint', text: `Compare it with the number ${contact.name} shows you. They must be identical.` }),
    el('div', { class: 'safety-number', attrs: { 'data-role': 'safety-number' } }, groups.map((g) => el('span', { text: g }))),
    el('h4', { text: 'Your code for the bank' }),
    el('p', { class: 'hint', text: `${contact.name} scans or pastes this to verify you.` }),
    qrCode(qr, `Your verification code for ${contact.name}`),
    el('code', { class: 'qr-payload', text: qr, attrs: { 'data-role': 'my-qr' } }),
    copyButton(qr),
    el('h4', { text: `${contact.name}'s code` }),
    input,
    check,
    result,
  ]);
}
