/** `parley serve --routing FILE`: the configuration file builds real adapters and refuses mistakes with their JSON path. */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TwilioEmulator } from '@parley/emulators';
import { ApnsChannel, FcmChannel, RbmChannel, TwilioChannel } from '@parley/server';
import { loadRoutingConfig } from '../src/routing-config.js';

let dir: string;
let twilio: TwilioEmulator;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'parley-routing-config-'));
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
  await writeFile(join(dir, 'fcm.json'), JSON.stringify({ client_email: 'push@bank.iam.gserviceaccount.com', private_key: rsa, project_id: 'bank-app' }));
  await writeFile(join(dir, 'rbm.json'), JSON.stringify({ client_email: 'rbm@bank.iam.gserviceaccount.com', private_key: rsa }));
  await writeFile(join(dir, 'AuthKey.p8'), ec);
  twilio = await TwilioEmulator.start({ callbacks: 'manual' });
});
afterAll(async () => {
  await twilio?.close();
  await rm(dir, { recursive: true, force: true });
});

async function load(config: unknown, env: NodeJS.ProcessEnv = {}) {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  await writeFile(file, JSON.stringify(config));
  return loadRoutingConfig(file, { env });
}

const full = (twilioBase: string, accountSid: string) => ({
  publicUrl: 'https://parley.bank.test/',
  channels: {
    fcm: { serviceAccountFile: 'fcm.json' },
    apns: { teamId: 'TEAM123456', keyId: 'KEY1234567', privateKeyFile: 'AuthKey.p8', topic: 'com.bank.app' },
    rbm: { agentId: 'bank-agent', brand: 'Bank', serviceAccountFile: 'rbm.json', webhookClientTokenEnv: 'RBM_TOKEN' },
    twilio: { accountSid, authTokenEnv: 'TWILIO_TOKEN', from: '+15005550006', baseUrl: twilioBase },
  },
  businesses: {
    bank: {
      brand: 'Bank',
      secondFactor: { url: 'https://backend.bank.test/codes', secretEnv: 'SF_SECRET' },
      policies: { otp: { chain: [{ step: 'app', timeoutMs: 3000 }, { step: 'sms-token', timeoutMs: 60000 }], otherwise: 'fallback-with-token' } },
      linkTemplate: '{brand}: open {link}',
    },
  },
});

describe('routing configuration file', () => {
  it('builds every adapter, reads secrets from files and the environment, and the Twilio adapter talks to its API', async () => {
    const env = { RBM_TOKEN: 'rbm-client-token', TWILIO_TOKEN: twilio.authToken, SF_SECRET: 'sf' };
    const config = await load(full(twilio.baseUrl, twilio.accountSid), env);
    expect(config.publicUrl).toBe('https://parley.bank.test');
    expect(config.channels?.fcm).toBeInstanceOf(FcmChannel);
    expect(config.channels?.apns).toBeInstanceOf(ApnsChannel);
    expect(config.channels?.rbm).toBeInstanceOf(RbmChannel);
    expect(config.channels?.sms).toBeInstanceOf(TwilioChannel);
    expect(config.businesses?.['bank']).toMatchObject({ brand: 'Bank', secondFactor: { secret: 'sf' }, policies: { otp: { otherwise: 'fallback-with-token' } } });
    expect((await config.channels!.sms!.health()).ok).toBe(true);
    for (const c of Object.values(config.channels!)) await c?.close();
  });

  it('refuses mistakes with the JSON path', async () => {
    const env = { RBM_TOKEN: 'x', TWILIO_TOKEN: 'y', SF_SECRET: 'z' };
    const base = full(twilio.baseUrl, twilio.accountSid);
    const cases: [unknown, RegExp][] = [
      [{ ...base, extra: 1 }, /\$\.extra: unknown setting/],
      [{ ...base, channels: { ...base.channels, twilio: { ...base.channels.twilio, authToken: 'inline' } } }, /\$\.channels\.twilio\.authToken: secrets are not written inline/],
      [{ ...base, publicUrl: undefined }, /\$\.publicUrl: required for RBM/],
      [{ ...base, channels: { smpp: { host: 'h', systemId: 's', passwordEnv: 'NOPE', sourceAddr: 'Bank' } } }, /\$\.channels\.smpp\.passwordEnv: environment variable NOPE is not set/],
      [{ ...base, businesses: { bank: { brand: 'Bank', policies: { otp: { chain: [{ step: 'fax', timeoutMs: 10 }], otherwise: 'block' } } } } }, /step 0 must be one of app, push, rcs, sms-token/],
      [{ ...base, businesses: { bank: { brand: 'Bank', policies: { otp: { chain: [], otherwise: 'maybe' } } } } }, /otherwise must be one of/],
      [{ ...base, businesses: { bank: { brand: 'Bank', linkTemplate: 'no link here' } } }, /linkTemplate: must contain \{link\}/],
      [{ ...base, channels: { ...base.channels, smpp: {} } }, /one SMS gateway/],
    ];
    for (const [config, message] of cases) await expect(load(config, env)).rejects.toThrow(message);
  });
});
