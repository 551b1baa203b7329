/**
 * The Chromium every browser test and benchmark runs: Debian's, installed by scripts/setup-system.sh, with the
 * stack notes' flags for a headless browser that makes no request of its own (no updates, no sync, no
 * background networking), so that the tests see only the requests the pages make.
 */
export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
