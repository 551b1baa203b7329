/**
 * Child process for the kill -9 test: opens the write path on the given data folder and submits, then waits
 * to be killed. The parent watches the outbox file and sends SIGKILL once every submission is stored.
 * Usage: tsx submit-child.ts '<json config>'
 */
import { createWritePath } from '../../../src/submission/write-path.js';
import { getKnowledge, silentLog, submissionFor } from './fixtures.js';

interface ChildConfig {
  dataDir: string;
  fhirBaseUrl: string;
  moduleCredentials: { clientId: string; clientSecret: string; scopes: string[] };
  submissions: { example: string; patientId: string; n: number }[];
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const writePath = createWritePath({
  knowledge: await getKnowledge(),
  dataDir: config.dataDir,
  fhirBaseUrl: config.fhirBaseUrl,
  moduleCredentials: config.moduleCredentials,
  timeoutMs: 60_000, // the first attempt is still in flight when the parent kills us
  leaseMs: 500,
  log: silentLog,
});
await writePath.start();
await writePath.target.getToken?.(); // discovery and token now, so that only the writes are held later
process.stdout.write('ready\n');
await Promise.all(
  config.submissions.map(async ({ example, patientId, n }) => {
    const { patient, response } = submissionFor(example, patientId, n);
    const result = await writePath.submit({ response, data: [patient] });
    if (process.stdout.writable) process.stdout.write(`${result.state} ${result.key}\n`);
  }),
);
// Wait for the kill; if the parent test process is gone (a failed run), do not linger.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.exit(1);
}, 1000);
