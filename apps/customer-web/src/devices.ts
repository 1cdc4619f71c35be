/**
 * The customer's devices, as the verified key-transparency log shows them: approve a new
 * device by the code it shows (typed short code or pasted QR payload), revoke a lost one.
 * A new device waits, showing its own code, until one of the customer's devices approves it.
 */
import type { Device } from '@parley/client';
import { AppError } from './errors.js';
import { byId, el, errorCode } from './view.js';
import { qrCode } from './qr.js';

const STATUS_TEXT: Readonly<Record<string, string>> = {
  approved: 'Active',
  pending: 'Waiting for approval: enter the code it shows below',
  revoked: 'Removed',
};

/**
 * Renders `#devices`: every device of this customer, the approval form and revoke buttons.
 *
 * @example
 * await renderDevices(device)
 */
export async function renderDevices(device: Device): Promise<void> {
  const [logged, server] = await Promise.all([device.keys.devicesOf(device.identityId), device.api.identityDevices(device.identityId)]);
  // Status comes from the verified log; the label is the server's display hint only.
  const labels = new Map(server.devices.map((d) => [d.deviceId, d.label ?? 'Device']));
  const rows = logged
    .sort((a, b) => a.addedAt - b.addedAt)
    .map((d) => {
      const self = d.deviceId === device.deviceId;
      const row = el('li', { class: `device ${d.status}`, attrs: { 'data-device-id': d.deviceId, 'data-status': d.status } }, [
        el('span', { class: 'device-label', text: `${labels.get(d.deviceId) ?? 'Device'}${self ? ' (this browser)' : ''}` }),
        el('span', { class: 'device-id', text: d.deviceId }),
        el('span', { class: 'device-status', text: STATUS_TEXT[d.status] ?? d.status }),
      ]);
      if (!self && d.status !== 'revoked') row.append(revokeButton(device, d.deviceId));
      return row;
    });
  byId('device-list').replaceChildren(...rows);
}

function revokeButton(device: Device, deviceId: string): HTMLButtonElement {
  const button = el('button', { class: 'danger', text: 'Remove', attrs: { type: 'button', 'data-role': 'revoke' } });
  button.addEventListener('click', () => {
    if (!confirm('Remove this device? It will no longer receive your messages.')) return;
    button.disabled = true;
    device.keys.revokeDevice(deviceId).then(
      () => renderDevices(device),
      (error: unknown) => {
        button.disabled = false;
        byId('approve-result').textContent = `Could not remove the device (${errorCode(error)})`;
      },
    );
  });
  return button;
}

/**
 * Wires the approval form (`#approve-form`): the code typed or pasted from the new device.
 *
 * @example
 * wireApproval(device)
 */
export function wireApproval(device: Device): void {
  const form = byId('approve-form') as HTMLFormElement;
  const input = byId('approve-code') as HTMLInputElement;
  const result = byId('approve-result');
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    result.textContent = 'Approving…';
    device.keys.approveDevice(input.value).then(
      async ({ deviceId }) => {
        input.value = '';
        result.textContent = `Approved device ${deviceId}.`;
        result.dataset['outcome'] = 'approved';
        await renderDevices(device);
      },
      (error: unknown) => {
        result.dataset['outcome'] = 'failed';
        result.textContent =
          errorCode(error) === 'no_matching_device'
            ? 'No device waiting for approval shows this code. Check it, or do not approve.'
            : `Could not approve (${errorCode(error)})`;
      },
    );
  });
}

/**
 * On a new device: shows the code to enter on an existing device and resolves once this
 * device is approved in the key log (checked every `pollMs`), or rejects if it is revoked.
 *
 * @example
 * await waitForApproval(device)
 */
export async function waitForApproval(device: Device, pollMs = 2000): Promise<void> {
  const request = device.keys.approvalRequest();
  byId('pending-code').textContent = request.shortCode;
  byId('pending-qr').textContent = request.qr;
  byId('pending-qr-image').replaceChildren(qrCode(request.qr, 'Approval code for this browser'));
  byId('pending').hidden = false;
  for (;;) {
    const status = await device.status().catch(() => 'pending' as const);
    if (status === 'active') break;
    if (status === 'revoked') throw new AppError('device_removed', 'this device was removed before it was approved');
    await new Promise((r) => setTimeout(r, pollMs));
  }
  byId('pending').hidden = true;
}
