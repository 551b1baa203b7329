// Public surface of the write path (its HTTP adapter, $submit and $outbox, is in src/api/submit.ts).
export { createWritePath } from './write-path.js';
export type { WritePath, WritePathOptions, WritePathLog } from './write-path.js';
export { remoteTokenCheck } from './preverify.js';
export {
  resolveProposal,
  recordFlagOutcome,
  undoDecision,
  actOf,
  authorOf,
  DECISION_REASON_CODES,
  DECISION_REASON_SYSTEM,
  DECISION_REASON_VALUESET,
  FLAG_OUTCOME_CODES,
  FLAG_OUTCOME_DISPLAY,
  FLAG_OUTCOME_SYSTEM,
  FLAG_OUTCOME_VALUESET,
  CLINICIAN_ACT_SYSTEM,
  DEFAULT_UNDO_WINDOW_MS,
} from './resolve-proposal.js';
export type { ProposalDecision, FlagOutcomeInput, UndoInput, ClinicianAct } from './resolve-proposal.js';
export { clientCredentialsTokenSource } from './module-token.js';
export type { ClientCredentialsOptions, TokenSource } from './module-token.js';
export { createSubmissionService, FOLLOW_UP_PLAN } from './service.js';
export type { SubmissionService, SubmitInput, SubmitResult, SubmissionState } from './service.js';
export { capabilitiesFrom, clientFor, readCapabilities, createFhirBundleWriter, WriteError } from './fhir-writer.js';
export type { FhirServerTarget, ServerCapabilities, BundleWriter, WriteOptions } from './fhir-writer.js';
export { openSqliteOutbox } from './outbox.js';
export type { Outbox, OutboxEntry, OutboxStatus } from './outbox.js';
export { createOutboxSender, classifyWriteError, nextDelayMs, defaultBackoff } from './sender.js';
export type { OutboxSender, BackoffPolicy } from './sender.js';
export * from './build-bundle.js';
export * from './worklist-tags.js';
