/**
 * Medplum's validator reports problems by throwing an OperationOutcomeError whose issues carry the message in
 * `details.text` and JSON in `diagnostics`. These helpers turn that into the module's issues: plain-English
 * `diagnostics`, FHIRPath `expression`.
 */
import { OperationOutcomeError } from '@medplum/core';
import { issue } from '../outcomes/index.js';

/** Run a Medplum validation, turning its thrown OperationOutcomeError into issues. */
export function runMedplum(
  fn: () => Array<{
    severity: string;
    code: string;
    details?: { text?: string };
    diagnostics?: string;
    expression?: string[];
  }>,
): fhir4.OperationOutcomeIssue[] {
  try {
    return fn().map(normalise);
  } catch (err) {
    if (err instanceof OperationOutcomeError) return (err.outcome.issue ?? []).map((i) => normalise(i as never));
    throw err;
  }
}

/** Medplum puts the message in `details.text` and JSON in `diagnostics`; the module wants plain-English diagnostics. */
export function normalise(i: {
  severity: string;
  code: string;
  details?: { text?: string };
  diagnostics?: string;
  expression?: string[];
}): fhir4.OperationOutcomeIssue {
  let diagnostics = i.details?.text ?? i.diagnostics ?? 'Invalid';
  if (i.code === 'invariant' && i.diagnostics) {
    try {
      const data = JSON.parse(i.diagnostics) as { fhirpath?: string };
      if (data.fhirpath) diagnostics += ` (rule: ${data.fhirpath})`;
    } catch {
      // diagnostics was not JSON: keep the text alone
    }
  }
  const severity = (
    ['fatal', 'error', 'warning', 'information'].includes(i.severity) ? i.severity : 'error'
  ) as fhir4.OperationOutcomeIssue['severity'];
  return issue({
    severity,
    code: i.code as fhir4.OperationOutcomeIssue['code'],
    diagnostics,
    expression: i.expression?.length ? i.expression : undefined,
  });
}
