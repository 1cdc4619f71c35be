import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeMlsMessage } from 'ts-mls';
import { createGroup, encryptApplication, commitChanges, inspectMessage, loadSuite, generateSignatureKeyPair } from '../../src/mls/index.js';
import { randomBytes, toBase64Url } from '../../src/bytes.js';
import type { DeviceId, IdentityId } from '../../src/ids.js';

/** What the full ts-mls decoder says, or 'rejected'. */
function full(bytes: Uint8Array): unknown {
  try {
    const d = decodeMlsMessage(bytes, 0);
    if (!d || d[1] !== bytes.length) return 'rejected';
    const m = d[0];
    if (m.wireformat !== 'mls_private_message') return m.wireformat;
    return { groupId: toBase64Url(m.privateMessage.groupId), epoch: m.privateMessage.epoch, contentType: m.privateMessage.contentType };
  } catch {
    return 'rejected';
  }
}

function fast(bytes: Uint8Array): unknown {
  try {
    const i = inspectMessage(bytes);
    if (i.kind !== 'private') return `mls_${i.kind === 'public' ? 'public_message' : i.kind}`;
    return { groupId: toBase64Url(i.groupId!), epoch: i.epoch, contentType: i.contentType };
  } catch {
    return 'rejected';
  }
}

describe('inspectMessage fast path', () => {
  it('agrees with the full decoder on real and mutated messages', async () => {
    const suite = await loadSuite();
    const me = { identityId: 'b:me' as IdentityId, deviceId: 'dev-aaaaaaaaaaaaaaaa' as DeviceId };
    let group = await createGroup(suite, randomBytes(32), me, await generateSignatureKeyPair(suite), async () => true);
    const samples: Uint8Array[] = [];
    for (const size of [0, 1, 200, 1000, 5000]) {
      const enc = await encryptApplication(suite, group, randomBytes(size));
      group = enc.group;
      samples.push(enc.message);
    }
    const c = await commitChanges(suite, group, {});
    samples.push(c.commit, c.groupInfo);
    for (const s of samples) expect(fast(s)).toEqual(full(s));
    fc.assert(
      fc.property(
        fc.constantFrom(...samples),
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('flip', 'truncate', 'extend'),
        (sample, pos, value, how) => {
          const bytes =
            how === 'truncate'
              ? sample.slice(0, pos % sample.length)
              : how === 'extend'
                ? new Uint8Array([...sample, value])
                : (() => {
                    const b = sample.slice();
                    b[pos % b.length] = value;
                    return b;
                  })();
          expect(fast(bytes)).toEqual(full(bytes));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
