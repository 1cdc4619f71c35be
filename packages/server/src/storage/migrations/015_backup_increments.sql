-- Incremental backups (docs/backup-format.md): a version may hold only what changed since an
-- earlier version of the same identity, its base. A full backup has no base. The device binds
-- the chain itself (each increment's chunk headers name the base backup's id); the server only
-- keeps the chains whole when it drops old versions.

ALTER TABLE backups ADD COLUMN base_version integer;
