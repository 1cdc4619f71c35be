/**
 * `parley serve --routing FILE`: the routing configuration of a deployment — which
 * providers it talks to and each business's policies and templates — as one JSON file.
 * Secrets are never inline: each is named by a file (`…File`, read at start) or an
 * environment variable (`…Env`). Every problem is reported with its JSON path.
 *
 * @example
 * {
 *   "publicUrl": "https://parley.examplebank.com",
 *   "channels": {
 *     "fcm": { "serviceAccountFile": "/etc/parley/fcm.json" },
 *     "apns": { "teamId": "EXBANK1234", "keyId": "ABC123DEFG", "privateKeyFile": "/etc/parley/AuthKey.p8", "topic": "com.examplebank.app" },
 *     "rbm": { "agentId": "example-bank-agent", "brand": "Example Bank", "serviceAccountFile": "/etc/parley/rbm.json", "webhookClientTokenEnv": "RBM_CLIENT_TOKEN" },
 *     "twilio": { "accountSid": "AC…", "authTokenEnv": "TWILIO_AUTH_TOKEN", "from": "+15005550006" }
 *   },
 *   "businesses": {
 *     "example-bank": {
 *       "brand": "Example Bank",
 *       "secondFactor": { "url": "https://backend.examplebank.com/parley/codes", "secretEnv": "SECOND_FACTOR_SECRET" },
 *       "policies": { "otp": { "chain": [{ "step": "app", "timeoutMs": 3000 }, { "step": "sms-token", "timeoutMs": 120000 }], "otherwise": "fallback-with-token" } }
 *     }
 *   }
 * }
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import {
  ApnsChannel,
  FcmChannel,
  RbmChannel,
  SmppChannel,
  TwilioChannel,
  validatePolicy,
  type BusinessRouting,
  type ChannelSet,
  type RoutingConfig,
  type RoutingPolicy,
} from '@parley/server';
import { UsageError } from './errors.js';

type Json = Record<string, unknown>;

class ConfigReader {
  constructor(
    private readonly base: string,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  fail(path: string, why: string): never {
    throw new UsageError(`routing config ${path}: ${why}`);
  }

  object(value: unknown, path: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'must be an object');
    return value as Json;
  }

  string(obj: Json, key: string, path: string): string;
  string(obj: Json, key: string, path: string, optional: true): string | undefined;
  string(obj: Json, key: string, path: string, optional = false): string | undefined {
    const v = obj[key];
    if (v === undefined && optional) return undefined;
    if (typeof v !== 'string' || v.length === 0) this.fail(`${path}.${key}`, 'must be a non-empty string');
    return v;
  }

  number(obj: Json, key: string, path: string): number | undefined {
    const v = obj[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) this.fail(`${path}.${key}`, 'must be a positive integer');
    return v;
  }

  /** A secret given as `<key>File` (read) or `<key>Env` (environment); never inline. */
  async secret(obj: Json, key: string, path: string): Promise<string> {
    if (obj[key] !== undefined) this.fail(`${path}.${key}`, `secrets are not written inline: use ${key}File or ${key}Env`);
    const file = obj[`${key}File`];
    const env = obj[`${key}Env`];
    if (typeof file === 'string') {
      try {
        return (await readFile(resolve(this.base, file), 'utf8')).trim();
      } catch {
        this.fail(`${path}.${key}File`, `cannot read ${file}`);
      }
    }
    if (typeof env === 'string') {
      const value = this.env[env];
      if (!value) this.fail(`${path}.${key}Env`, `environment variable ${env} is not set`);
      return value;
    }
    return this.fail(path, `needs ${key}File or ${key}Env`);
  }

  async serviceAccount(obj: Json, path: string): Promise<{ client_email: string; private_key: string; token_uri?: string; project_id?: string; private_key_id?: string }> {
    const file = this.string(obj, 'serviceAccountFile', path);
    let json: Json;
    try {
      json = this.object(JSON.parse(await readFile(resolve(this.base, file), 'utf8')), `${path}.serviceAccountFile`);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      return this.fail(`${path}.serviceAccountFile`, `cannot read a service-account JSON from ${file}`);
    }
    const sa = {
      client_email: this.string(json, 'client_email', file),
      private_key: this.string(json, 'private_key', file),
    };
    const extra = (k: 'token_uri' | 'project_id' | 'private_key_id') => (typeof json[k] === 'string' ? { [k]: json[k] as string } : {});
    return { ...sa, ...extra('token_uri'), ...extra('project_id'), ...extra('private_key_id') };
  }
}

/** Reads and checks a routing configuration file; builds the production channel adapters it names. */
export async function loadRoutingConfig(file: string, options: { env?: NodeJS.ProcessEnv; publicUrl?: string } = {}): Promise<Partial<RoutingConfig>> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`cannot read the routing config ${file}: ${error instanceof SyntaxError ? 'not valid JSON' : 'unreadable'}`);
  }
  const r = new ConfigReader(dirname(resolve(file)), options.env ?? process.env);
  const root = r.object(raw, '$');
  for (const key of Object.keys(root)) {
    if (!['publicUrl', 'channels', 'businesses', 'defaultBusiness', 'tokenTtlSeconds', 'maxTokenAttempts'].includes(key)) r.fail(`$.${key}`, 'unknown setting');
  }
  const publicUrl = r.string(root, 'publicUrl', '$', true) ?? options.publicUrl;
  if (publicUrl !== undefined && !/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(publicUrl)) r.fail('$.publicUrl', 'must be an http(s) URL');
  const base = publicUrl?.replace(/\/+$/, '');
  const channels = await buildChannels(r, root['channels'] === undefined ? {} : r.object(root['channels'], '$.channels'), base);
  const businesses: Record<string, BusinessRouting> = {};
  const list = root['businesses'] === undefined ? {} : r.object(root['businesses'], '$.businesses');
  for (const [id, value] of Object.entries(list)) businesses[id] = await business(r, r.object(value, `$.businesses.${id}`), `$.businesses.${id}`);
  const ttl = r.number(root, 'tokenTtlSeconds', '$');
  const attempts = r.number(root, 'maxTokenAttempts', '$');
  return {
    channels,
    businesses,
    ...(base ? { publicUrl: base } : {}),
    ...(root['defaultBusiness'] !== undefined ? { defaultBusiness: await business(r, r.object(root['defaultBusiness'], '$.defaultBusiness'), '$.defaultBusiness') } : {}),
    ...(ttl ? { tokenTtlSeconds: ttl } : {}),
    ...(attempts ? { maxTokenAttempts: attempts } : {}),
  };
}

async function business(r: ConfigReader, obj: Json, path: string): Promise<BusinessRouting> {
  const policies: Record<string, RoutingPolicy> = {};
  if (obj['policies'] !== undefined) {
    for (const [cls, value] of Object.entries(r.object(obj['policies'], `${path}.policies`))) {
      if (!/^[a-z][a-z0-9-]{0,31}$/.test(cls)) r.fail(`${path}.policies.${cls}`, 'a class is lower-case letters, digits and dashes');
      try {
        policies[cls] = validatePolicy(`${path}.policies.${cls}`, value);
      } catch (error) {
        throw new UsageError(error instanceof Error ? error.message : String(error));
      }
    }
  }
  let secondFactor: BusinessRouting['secondFactor'];
  if (obj['secondFactor'] !== undefined) {
    const sf = r.object(obj['secondFactor'], `${path}.secondFactor`);
    const url = r.string(sf, 'url', `${path}.secondFactor`);
    if (!/^https?:\/\//.test(url)) r.fail(`${path}.secondFactor.url`, 'must be an http(s) URL');
    secondFactor = { url, secret: await r.secret(sf, 'secret', `${path}.secondFactor`) };
  }
  const text = (key: 'linkTemplate' | 'webTemplate' | 'inviteTemplate', needs: string) => {
    const v = r.string(obj, key, path, true);
    if (v !== undefined && !v.includes(needs)) r.fail(`${path}.${key}`, `must contain ${needs}`);
    return v === undefined ? {} : { [key]: v };
  };
  const appUrl = r.string(obj, 'appUrl', path, true);
  let senderKinds: BusinessRouting['senderKinds'];
  if (obj['senderKinds'] !== undefined) {
    const kinds = obj['senderKinds'];
    const allowed = ['sender', 'agent', 'bot'] as const;
    if (!Array.isArray(kinds) || kinds.length === 0 || !kinds.every((k): k is (typeof allowed)[number] => allowed.includes(k as never))) {
      r.fail(`${path}.senderKinds`, 'a non-empty list of "sender", "agent", "bot" (customers never send business messages)');
    }
    senderKinds = kinds;
  }
  return {
    brand: r.string(obj, 'brand', path),
    ...(senderKinds ? { senderKinds } : {}),
    ...(Object.keys(policies).length > 0 ? { policies } : {}),
    ...(secondFactor ? { secondFactor } : {}),
    ...(appUrl ? { appUrl } : {}),
    ...text('linkTemplate', '{link}'),
    ...text('webTemplate', '{link}'),
    ...text('inviteTemplate', '{app}'),
  };
}

async function buildChannels(r: ConfigReader, obj: Json, publicUrl: string | undefined): Promise<ChannelSet> {
  for (const key of Object.keys(obj)) if (!['fcm', 'apns', 'rbm', 'twilio', 'smpp'].includes(key)) r.fail(`$.channels.${key}`, 'unknown channel');
  if (obj['twilio'] !== undefined && obj['smpp'] !== undefined) r.fail('$.channels', 'configure one SMS gateway: twilio or smpp');
  const needsPublicUrl = (what: string): string => publicUrl ?? r.fail('$.publicUrl', `required for ${what} (providers post webhooks there)`);
  const set: { -readonly [K in keyof ChannelSet]: ChannelSet[K] } = {};
  if (obj['fcm'] !== undefined) {
    const c = r.object(obj['fcm'], '$.channels.fcm');
    const sa = await r.serviceAccount(c, '$.channels.fcm');
    const projectId = r.string(c, 'projectId', '$.channels.fcm', true) ?? sa.project_id ?? r.fail('$.channels.fcm', 'needs projectId (or project_id in the service account)');
    const baseUrl = r.string(c, 'baseUrl', '$.channels.fcm', true);
    set.fcm = new FcmChannel({
      serviceAccount: { ...sa, token_uri: sa.token_uri ?? 'https://oauth2.googleapis.com/token', project_id: projectId },
      ...(baseUrl ? { baseUrl } : {}),
    });
  }
  if (obj['apns'] !== undefined) {
    const c = r.object(obj['apns'], '$.channels.apns');
    const baseUrl = r.string(c, 'baseUrl', '$.channels.apns', true);
    set.apns = new ApnsChannel({
      teamId: r.string(c, 'teamId', '$.channels.apns'),
      keyId: r.string(c, 'keyId', '$.channels.apns'),
      privateKey: await r.secret(c, 'privateKey', '$.channels.apns'),
      topic: r.string(c, 'topic', '$.channels.apns'),
      ...(baseUrl ? { baseUrl } : {}),
    });
  }
  if (obj['rbm'] !== undefined) {
    const c = r.object(obj['rbm'], '$.channels.rbm');
    const sa = await r.serviceAccount(c, '$.channels.rbm');
    const baseUrl = r.string(c, 'baseUrl', '$.channels.rbm', true);
    needsPublicUrl('RBM');
    set.rbm = new RbmChannel({
      agentId: r.string(c, 'agentId', '$.channels.rbm'),
      brand: r.string(c, 'brand', '$.channels.rbm'),
      serviceAccount: sa,
      webhookClientToken: await r.secret(c, 'webhookClientToken', '$.channels.rbm'),
      ...(baseUrl ? { baseUrl } : {}),
    });
  }
  if (obj['twilio'] !== undefined) {
    const c = r.object(obj['twilio'], '$.channels.twilio');
    const from = r.string(c, 'from', '$.channels.twilio', true);
    const service = r.string(c, 'messagingServiceSid', '$.channels.twilio', true);
    if (!from && !service) r.fail('$.channels.twilio', 'needs from or messagingServiceSid');
    const baseUrl = r.string(c, 'baseUrl', '$.channels.twilio', true);
    set.sms = new TwilioChannel({
      accountSid: r.string(c, 'accountSid', '$.channels.twilio'),
      authToken: await r.secret(c, 'authToken', '$.channels.twilio'),
      statusCallbackUrl: `${needsPublicUrl('Twilio')}/v1/webhooks/twilio`,
      ...(from ? { from } : {}),
      ...(service ? { messagingServiceSid: service } : {}),
      ...(baseUrl ? { baseUrl } : {}),
    });
  }
  if (obj['smpp'] !== undefined) {
    const c = r.object(obj['smpp'], '$.channels.smpp');
    set.sms = new SmppChannel({
      host: r.string(c, 'host', '$.channels.smpp'),
      port: r.number(c, 'port', '$.channels.smpp') ?? 2775,
      systemId: r.string(c, 'systemId', '$.channels.smpp'),
      password: await r.secret(c, 'password', '$.channels.smpp'),
      sourceAddr: r.string(c, 'sourceAddr', '$.channels.smpp'),
    });
  }
  return set;
}
