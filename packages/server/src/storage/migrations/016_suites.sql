-- Cipher-suite negotiation (docs/post-quantum.md): a device supports one or more MLS suites
-- (by name; the wire values live in core/src/mls/suite.ts only) and keeps a KeyPackage stock,
-- with its own last-resort KeyPackage, per suite. Rows from before hold the classic suite.
ALTER TABLE devices ADD COLUMN suites text[];
ALTER TABLE devices ADD COLUMN suites_seq integer NOT NULL DEFAULT 0;
ALTER TABLE key_packages ADD COLUMN suite text NOT NULL DEFAULT 'MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519';
DROP INDEX key_packages_by_device;
CREATE INDEX key_packages_by_device ON key_packages (device_id, suite, last_resort, id);
