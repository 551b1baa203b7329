// Public surface of the sandbox EHR launcher page.
export { createLauncherRouter } from './launcher.js';
export type { LauncherOptions } from './launcher.js';
