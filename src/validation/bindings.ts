/**
 * Required ValueSet bindings (e.g. `Questionnaire.status`, `item.type`, `enableWhen.operator`), which
 * Medplum's validator does not check. The lantana `fhir` package (FHIR.js 4.12) carries the R4 ValueSets
 * and checks codes against them offline.
 *
 * Only its binding verdicts are used: its structural checks disagree with the R4 definitions on some
 * choice-type elements (it reports `initial[0].value[x]` missing when `valueBoolean` is present), and
 * structure is Medplum's job here. Bindings to ValueSets it does not know are skipped, not failed.
 */
import fhirPackage from 'fhir';
import { issue } from '../outcomes/index.js';

interface LantanaMessage {
  location?: string;
  severity?: string;
  message?: string;
}
interface LantanaFhir {
  validate(input: object, options: object): { valid: boolean; messages: LantanaMessage[] };
}

let lantana: LantanaFhir | undefined;

function validator(): LantanaFhir {
  if (!lantana) {
    const { Fhir } = fhirPackage as unknown as { Fhir: new () => LantanaFhir };
    lantana = new Fhir();
  }
  return lantana;
}

const BINDING_MESSAGE = /^Code "(.*)" (\((.*)\) )?not found in value set$/s;

/** Errors for codes outside a required binding. Never throws (a crash of the checker yields no issues). */
export function checkRequiredBindings(resource: object): fhir4.OperationOutcomeIssue[] {
  let messages: LantanaMessage[];
  try {
    messages = validator().validate(resource, { errorOnUnexpected: false }).messages;
  } catch {
    return [];
  }
  const out: fhir4.OperationOutcomeIssue[] = [];
  for (const m of messages) {
    if (m.severity !== 'error' || !m.message) continue;
    const match = BINDING_MESSAGE.exec(m.message);
    if (!match) continue;
    const system = match[3] ? ` from ${match[3]}` : '';
    out.push(
      issue({
        code: 'code-invalid',
        diagnostics: `Code ${JSON.stringify(match[1])}${system} is not in the required value set for this element`,
        expression: m.location,
      }),
    );
  }
  return out;
}
