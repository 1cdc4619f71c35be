-- KeyPackage lifetimes (RFC 9420 §7.2): the retention sweep deletes KeyPackages whose
-- lifetime has ended (repos/key-packages.ts sweepExpiredKeyPackages); this index keeps that
-- a range scan instead of a pass over every device's stock.
CREATE INDEX key_packages_by_not_after ON key_packages (not_after);
