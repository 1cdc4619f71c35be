/** The demo scenario's options and what it reports (demo/scenario.ts). */
import type { KeyStore } from '@parley/client';
import type { EvidenceReport, EvidenceTrust } from '@parley/core/audit';
import type { LocalProviders, SecondFactorInbox } from './providers.js';

/**
 * Options of `runScenario`.
 *
 * @example
 * const options: ScenarioOptions = { serverUrl: server.url, adminToken, workDir: '/tmp/demo' };
 */
export interface ScenarioOptions {
  readonly serverUrl: string;
  /**
   * Several nodes of one deployment: devices enroll round-robin on them, in the
   * order the scenario enrolls them (the bank's sender on the first), so messages
   * cross nodes. Absent: every device uses `serverUrl`.
   */
  readonly serverUrls?: readonly string[];
  readonly adminToken: string;
  /** Directory for the devices' encrypted stores. */
  readonly workDir: string;
  /** Where the bank's gateway keeps its database and key file (a 0700 directory; default: `<workDir>/gateway`). */
  readonly gatewayDir?: string;
  /** Appended to every plaintext (the privacy test looks for it everywhere). */
  readonly marker?: string;
  /** Progress callback: one call per step. */
  readonly onStep?: (step: ScenarioStep) => void;
  /** Cheaper Argon2 for the device stores (tests). */
  readonly fastKeyStores?: boolean;
  readonly deliveryTimeoutMs?: number;
  /** Test hook: called at named points of the scenario (`tablet-offline`). */
  readonly checkpoint?: (name: string) => Promise<void>;
  /** Where to write the payment alert's evidence bundle, mode 0600 (default: in `workDir`); its directory should be 0700. */
  readonly evidencePath?: string;
  /** Test hook: called with every device's store before it is closed. */
  readonly inspectStore?: (label: string, store: KeyStore) => Promise<void>;
  /**
   * The delivery providers the server routes through (emulators on loopback) and the
   * bank's second-factor inbox: enables the delivery-path part of the scenario (push,
   * RCS, SMS links, the web page). Absent against a remote server.
   */
  readonly channels?: { readonly providers: LocalProviders; readonly secondFactor: SecondFactorInbox };
  /** The customer web app (apps/customer-web) served on loopback, its origin allowed by the server: enables its Chromium step. */
  readonly customerWeb?: { readonly appUrl: string };
}

/**
 * One step of the scenario, as it happened.
 *
 * @example
 * const step: ScenarioStep = { name: 'connect every device over WebSocket', ok: true };
 */
export interface ScenarioStep {
  readonly name: string;
  readonly ok: boolean;
  readonly detail?: string;
}

/**
 * One message of the transcript: who sent what to whom, how it travelled.
 *
 * @example
 * for (const m of result.messages) console.log(m.fromLabel, m.path, m.deliveredToLabels);
 */
/** One attachment of a transcript message. */
export interface ScenarioAttachment {
  readonly name: string;
  readonly mime: string;
  /** Plaintext bytes. */
  readonly size: number;
  /** Ciphertext bytes in the server's blob store. */
  readonly cipherSize: number;
  /** base64url SHA-256 of the ciphertext (a business message's commitment names it). */
  readonly sha256: string;
  /** Labels of the devices that decrypted it. */
  readonly decryptedBy: string[];
}

export interface ScenarioMessage {
  readonly id: string;
  readonly conversation: string;
  readonly conversationLabel: string;
  readonly from: string;
  readonly fromLabel: string;
  readonly class: string;
  /** What the receiving devices decrypted. */
  readonly text: string;
  readonly deliveredTo: string[];
  readonly expectedTo: string[];
  readonly deliveredToLabels: string[];
  readonly epoch: string;
  /**
   * The conversation's MLS cipher suite: `MLS_256_XWING_AES256GCM_SHA512_Ed25519` (hybrid
   * post-quantum) or `MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519` (classic); `-` off the app.
   */
  readonly suite: string;
  readonly storedBytes: number;
  /**
   * Files sent with the message: what the reference says (the server holds only their
   * ciphertext) and the devices that downloaded and decrypted each one, every chunk and the
   * ciphertext's SHA-256 checked.
   */
  readonly attachments?: ScenarioAttachment[];
  /** How it reached the customer: app, push-app, rcs, sms-token-app, sms-token-web, blocked, invited. */
  path: string;
  /** The routing decisions, in order (metadata only). */
  route: string;
}

/**
 * The scenario's outcome: every step, every message, the devices and the evidence.
 *
 * @example
 * const result = await runScenario(options);
 * if (!result.ok) console.error(result.steps.find((s) => !s.ok));
 */
export interface ScenarioResult {
  readonly ok: boolean;
  readonly businessId: string;
  readonly messages: ScenarioMessage[];
  readonly steps: ScenarioStep[];
  readonly devices: { label: string; deviceId: string; identityId: string; server?: string }[];
  /** The payment alert's evidence bundle, verified offline (absent if the scenario stopped earlier). */
  readonly evidence?: ScenarioEvidence;
}

/**
 * The payment alert's evidence bundle and its offline verification.
 *
 * @example
 * if (result.evidence && !result.evidence.report.ok) console.error('evidence did not verify');
 */
export interface ScenarioEvidence {
  readonly messageId: string;
  /** Where the bundle was written (with the opening and plaintext revealed by Alice's phone). */
  readonly path: string;
  readonly bytes: number;
  /** The trust the auditor pinned: the two logs' verifier keys and the directory's VRF key. */
  readonly trust: EvidenceTrust;
  /** Checks of the bundle as the bank exports it (no opening, no plaintext). */
  readonly report: EvidenceReport;
  /** The same bundle with the opening Alice's phone revealed: proves the exact text. */
  readonly revealed: EvidenceReport;
  /** The same opening against a forged amount: must fail. */
  readonly forgedTextRejected: boolean;
}
