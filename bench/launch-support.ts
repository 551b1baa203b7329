/**
 * What the launch benchmarks share: the Chromium the tests run (test/support/chromium.ts), and a launch URL
 * from the sandbox EHR, as its launcher page makes one when a clinician presses Launch.
 */
import type { AppHarness } from '../test/clinician-app/harness.js';

export { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/support/chromium.js';

/** The EHR's launch URL (`/app/launch?iss&launch`) for the sandbox clinician and `patient`. */
export async function sandboxLaunchUrl(h: AppHarness, patient: string): Promise<string> {
  const res = await fetch(`${h.baseUrl}/ehr/launches`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ practitioner: 'sandbox-clinician', patient, app: 'periplan-app' }),
  });
  return ((await res.json()) as { url: string }).url;
}
