// Public surface of the sandbox EHR's SMART authorization server.
export { createSmartAuth } from './smart-auth.js';
export type { SmartAuth, SmartAuthOptions, CreateLaunchInput } from './smart-auth.js';
export { sandboxClients, CLINICIAN_APP_SCOPES, TABLET_SCOPES } from './clients.js';
export type { SmartClient } from './clients.js';
export { pageCsp } from './smart-metadata.js';
export type { AccessContext } from './access-context.js';
export type { Directory, DirectoryPatient, DirectoryPractitioner } from './directory.js';
export { isGrantableResourceScope, isWithinScopes } from './smart-scopes.js';
export { MODULE_CLIENT_ID, MODULE_SCOPES } from './backend-client.js';
export type { BackendClient } from './backend-client.js';
