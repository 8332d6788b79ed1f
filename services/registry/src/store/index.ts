// The store's public surface, for the registry and the CLI (`mcpgw db …`).
export { openStore, storeTarget, DEFAULT_DATA_DIR, type StoreTarget } from './open.js';
export { exportStore, importStore } from './transfer.js';
export { MIGRATIONS } from './migrations.js';
export {
  StoreUnavailableError, TABLES,
  type AuditRow, type CallRow, type KeyRow, type MigrationStatus, type PinDecisionRow, type PinRow, type Store, type StoreInfo,
  type TableName, type TeamRow, type UsageRow, type UserCredentialRecord,
} from './store.js';
