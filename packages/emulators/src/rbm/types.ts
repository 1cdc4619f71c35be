/**
 * The RBM emulator's public types (re-exported by `../rbm.ts`) and the API error its
 * roles throw.
 */
import type { KeyObject } from 'node:crypto';

/** What a phone can do: no RCS, plain RCS, or RCS with a Parley-enabled client. */
export type RbmPhoneCapability = 'none' | 'rcs' | 'parley';
/** Fault switches for the RBM API endpoints (the token endpoint is Google OAuth, a separate service, and stays up). */
export type RbmFault = 'unavailable' | 'internal' | 'rate-limited' | 'hang';
/** Webhook forgery switches: a signature made with the wrong client token, or no signature header. */
export type RbmWebhookForgery = 'forged' | 'unsigned';

/** A service account the token endpoint accepts assertions from. */
export interface RbmServiceAccount {
  readonly clientEmail: string;
  /** The public half of the service account key (PEM or KeyObject). */
  readonly publicKey: string | KeyObject;
  /** When set, the assertion's `kid` header must equal it. */
  readonly keyId?: string;
}

/** An RBM agent (a brand's sender). */
export interface RbmAgent {
  readonly agentId: string;
  readonly brand: string;
  /** Only verified agents may reach users. */
  readonly verified: boolean;
  /** The service account allowed to act for this agent. */
  readonly serviceAccountEmail: string;
}

/** How to start the RBM emulator. */
export interface RbmEmulatorOptions {
  readonly serviceAccounts: readonly RbmServiceAccount[];
  readonly agents: readonly RbmAgent[];
  /** Where status events go (can also be set later with `setWebhook`). */
  readonly webhook?: { readonly url: string; readonly clientToken: string };
  /** Phones known at start. Unknown phones have no RCS. */
  readonly phones?: Readonly<Record<string, RbmPhoneCapability>>;
  /** Lifetime of issued access tokens (default 3599 s, as Google). */
  readonly tokenLifetimeSeconds?: number;
  readonly parleyFeature?: string;
  readonly uploadTypes?: readonly string[];
  /** Deliver each accepted message right away (for the demo). */
  readonly autoDeliver?: boolean;
}

/** Where an accepted agent message is. */
export type RbmMessageState = 'pending' | 'delivered' | 'read' | 'revoked' | 'expired';

/** An agent message the API accepted, as the handset holds it. */
export interface RbmHandsetMessage {
  readonly messageId: string;
  readonly agentId: string;
  readonly phone: string;
  /** The `contentMessage` as received (JSON). */
  readonly contentMessage: RbmJson;
  /** For `uploadedRbmFile` messages: the file as uploaded. */
  readonly file?: { readonly name: string; readonly contentType: string; readonly bytes: Uint8Array };
  readonly sendTime: Date;
  state: RbmMessageState;
}

/** A file a Parley RCS client on the phone downloads. */
export interface RbmCiphertextFile {
  readonly messageId: string;
  readonly contentType: string;
  readonly bytes: Uint8Array;
}

/** A webhook post the emulator made, and what the receiver answered. */
export interface RbmSentWebhook {
  readonly eventId: string;
  readonly eventType: string;
  readonly messageId: string | undefined;
  readonly forgery: RbmWebhookForgery | undefined;
  /** HTTP status the webhook answered (0 = no answer / connection error). */
  readonly status: number;
}

/** A JSON value. */
export type RbmJson = null | boolean | number | string | RbmJson[] | { [key: string]: RbmJson };

/** An RBM API error: Google's JSON error body `{"error":{code,message,status}}`. */
export class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
