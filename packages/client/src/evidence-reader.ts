/**
 * Evidence without opening the device: a read-only view of a stored sending device that
 * exports evidence bundles (`Device.exportEvidence`) and writes nothing. A business that
 * runs several gateway instances serves evidence from every instance while only one of
 * them operates the device.
 */
import type { Ed25519Signer } from '@parley/core';
import type { EvidenceBundle } from '@parley/core/audit';
import { ApiClient } from './api-client.js';
import type { ExportEvidenceOptions } from './device-options.js';
import { openIdentity, type DeviceSigners } from './device-signers.js';
import { DeviceRecordError } from './errors.js';
import { exportEvidence } from './evidence.js';
import type { KeyStore } from './key-store.js';
import { RECORDS, getJson, type DeviceRecordV1 } from './records.js';
import { SessionManager } from './session.js';

/**
 * A read-only view of a stored device for evidence export.
 *
 * @example
 * const reader = await EvidenceReader.open({ store })
 * const bundle = await reader.exportEvidence(messageId, { reveal: true })
 */
export class EvidenceReader {
  readonly #api: ApiClient;
  readonly #store: KeyStore;

  private constructor(api: ApiClient, store: KeyStore) {
    this.#api = api;
    this.#store = store;
  }

  /**
   * Reads the device record from `store` (`device_not_enrolled` if there is none). A device
   * whose identity key is held by an external signer needs it in `signers.identity` (the
   * reader signs its sessions; `SignerError` otherwise).
   *
   * @example
   * const reader = await EvidenceReader.open({ store, fetch, signers: { identity: hsmIdentity } })
   */
  static async open(options: {
    store: KeyStore;
    fetch?: typeof fetch;
    /** The identity signer, or where to get the one that holds the key the record names now (after a rotation). */
    signers?: Pick<DeviceSigners, 'identity'> | (() => Promise<Pick<DeviceSigners, 'identity'>>);
  }): Promise<EvidenceReader> {
    const read = async (): Promise<DeviceRecordV1> => {
      const record = await getJson<DeviceRecordV1>(options.store, RECORDS.device);
      if (!record) throw new DeviceRecordError('device_not_enrolled', 'this store holds no device');
      return record;
    };
    const record = await read();
    const api = new ApiClient({ serverUrl: record.serverUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
    // The device that runs elsewhere may rotate its keys (docs/key-rotation.md): each new session
    // is signed with the identity key the stored record names then.
    const signers = async () => (typeof options.signers === 'function' ? await options.signers() : options.signers);
    let identity = await openIdentity(record, await signers());
    const current: Ed25519Signer = {
      get publicKey() {
        return identity.publicKey;
      },
      sign: async (message) => {
        identity = await openIdentity(await read(), await signers());
        return identity.sign(message);
      },
    };
    const session = new SessionManager(api, record.deviceId, current);
    api.useSession((refresh) => session.get(refresh));
    return new EvidenceReader(api, options.store);
  }

  /**
   * The evidence bundle of a message this device sent or received (with `reveal`: its opening and text).
   *
   * @example
   * const bundle = await reader.exportEvidence(messageId)
   */
  exportEvidence(messageId: string, options: ExportEvidenceOptions = {}): Promise<EvidenceBundle> {
    return exportEvidence(this.#api, this.#store, messageId, options);
  }
}
