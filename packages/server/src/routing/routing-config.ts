/**
 * What routing is configured with: the provider adapters a node has, each business's
 * brand, policies and SMS texts, and the lookups over them (which channel, which
 * business, which policy). No state and no I/O.
 */
import type { Channel } from '../channels/channel.js';
import { DEFAULT_POLICIES, FALLBACK_POLICY, type RoutingPolicy } from './policy.js';

/**
 * The provider adapters a node routes through (any may be absent).
 *
 * @example
 * const channels: ChannelSet = { fcm: new FcmChannel(fcmOptions), sms: new TwilioChannel(twilioOptions) };
 */
export interface ChannelSet {
  readonly fcm?: Channel;
  readonly apns?: Channel;
  readonly rbm?: Channel;
  /** The SMS gateway (Twilio or SMPP). */
  readonly sms?: Channel;
}

/**
 * One business's routing settings.
 *
 * @example
 * const bank: BusinessRouting = { brand: 'Example Bank', appUrl: 'https://bank.example/app', policies: { otp: DEFAULT_POLICIES.otp! } };
 */
export interface BusinessRouting {
  /** Brand name shown in SMS and on the retrieval page. */
  readonly brand: string;
  /** Per-class policies; classes not listed use DEFAULT_POLICIES, then FALLBACK_POLICY. */
  readonly policies?: Readonly<Record<string, RoutingPolicy>>;
  /** SMS text for a retrieval link: `{brand}` and `{link}` are replaced. Never content. */
  readonly linkTemplate?: string;
  /** SMS text for a web retrieval link (customers without the app): `{brand}`, `{link}`. */
  readonly webTemplate?: string;
  /** SMS text inviting a customer to the app: `{brand}` and `{app}` are replaced. */
  readonly inviteTemplate?: string;
  /** Where the app is installed from (the invitation's `{app}`). */
  readonly appUrl?: string;
  /**
   * Identity kinds that may send business messages (signed commitments that create routes:
   * push, RCS and SMS at the business's expense). Default `['sender']`; customers never may.
   */
  readonly senderKinds?: readonly ('sender' | 'agent' | 'bot')[];
  /** Second factor for web retrieval: Parley POSTs `{identityId, code}` here, HMAC-signed. */
  readonly secondFactor?: { readonly url: string; readonly secret: string };
}

/**
 * The `routing` section of the server configuration.
 *
 * @example
 * const routing: RoutingConfig = { channels, businesses: { 'example-bank': bank }, tokenTtlSeconds: 86_400, maxTokenAttempts: 5, tickMs: 1_000 };
 */
export interface RoutingConfig {
  /** Routes business messages (default true). False: the relay alone, no route per message (benchmarks' baseline). */
  readonly enabled?: boolean;
  /** Public base URL of this deployment, for retrieval links and webhook signatures. Default: the node's URL. */
  readonly publicUrl?: string;
  readonly channels: ChannelSet;
  readonly businesses: Readonly<Record<string, BusinessRouting>>;
  /** For businesses not listed in `businesses` (e.g. a single-tenant deployment). */
  readonly defaultBusiness?: BusinessRouting;
  /** Lifetime of a retrieval link. */
  readonly tokenTtlSeconds: number;
  /** Failed attempts (wrong code) before a web link is burned. */
  readonly maxTokenAttempts: number;
  /** How often due routes are looked for (they are also kicked on every change). */
  readonly tickMs: number;
}

/** SMS text of an app retrieval link (`sms-token` step). */
export const DEFAULT_LINK_TEMPLATE = '{brand}: you have a new secure message. Open it in the app: {link}';
/** SMS text of a web retrieval link (customers without the app). */
export const DEFAULT_WEB_TEMPLATE = '{brand}: you have a new secure message. Read it here: {link}';
/** SMS text of an invitation to the app. */
export const DEFAULT_INVITE_TEMPLATE = '{brand}: you have a new message in the {brand} app. Get the app: {app}';

/**
 * MIME type of a Parley envelope (JSON around MLS ciphertext) carried by RCS to a Parley client.
 *
 * @example
 * const item: OutboundItem = { kind: 'ciphertext', bytes, contentType: PARLEY_ENVELOPE_TYPE };
 */
export const PARLEY_ENVELOPE_TYPE = 'application/vnd.parley.envelope+json';

/**
 * Fills `{name}` placeholders; unknown ones stay as they are.
 *
 * @example
 * fill('{brand}: {link}', { brand: 'Example Bank', link: 'https://p.example/r/x' }) // 'Example Bank: https://p.example/r/x'
 */
export function fill(template: string, values: Readonly<Record<string, string>>): string {
  return template.replace(/\{(\w+)\}/g, (m, key: string) => values[key] ?? m);
}

/** The configured channels, in a fixed order. */
export function configuredChannels(channels: ChannelSet): Channel[] {
  const { fcm, apns, rbm, sms } = channels;
  return [fcm, apns, rbm, sms].filter((c): c is Channel => c !== undefined);
}

/** A business's settings: its own, else the default business's, else its id as the brand. */
export function businessRouting(config: RoutingConfig, businessId: string): BusinessRouting {
  return config.businesses[businessId] ?? config.defaultBusiness ?? { brand: businessId };
}

/** The policy of a business and message class: the business's, else the default for the class, else FALLBACK_POLICY. */
export function policyOf(config: RoutingConfig, businessId: string, messageClass: string): RoutingPolicy {
  return businessRouting(config, businessId).policies?.[messageClass] ?? DEFAULT_POLICIES[messageClass] ?? FALLBACK_POLICY;
}
