// jest's default progress reporter without its summary (summary-reporter.js prints that, then the closing line).
export { DefaultReporter as default } from '@jest/reporters';
