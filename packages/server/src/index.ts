export { startServer, type ParleyServer } from './app.js';
export { resolveConfig, type ServerConfig, type ServerConfigInput, type DatabaseConfig } from './config.js';
export { type Database, type Sql, type Engine, DatabaseError } from './storage/database.js';
export { PgliteDatabase } from './storage/pglite.js';
export { PostgresDatabase } from './storage/postgres.js';
export { migrate } from './storage/migrate.js';
export { mapError } from './http/errors.js';
export { ENROLLMENT_AUDIENCE } from './http/enrollment.js';
