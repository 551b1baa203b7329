/**
 * What the /fhir router serves, as data: the router registers exactly these, and the CapabilityStatement
 * is generated from exactly these, so the two cannot drift apart.
 */
import { SEARCH_PARAMS } from './search.js';

/** Knowledge artifact types with read + search-type. */
export const ARTIFACT_TYPES = [
  'Questionnaire',
  'PlanDefinition',
  'ActivityDefinition',
  'CodeSystem',
  'ValueSet',
  'StructureDefinition',
  'OperationDefinition',
  'Library',
] as const;

export type OperationName = 'apply' | 'validate' | 'extract' | 'populate';

export interface OperationRoute {
  resource: string;
  name: OperationName;
  /** `POST /fhir/{resource}/$name` */
  typeLevel: boolean;
  /** `POST /fhir/{resource}/{id}/$name` */
  instanceLevel: boolean;
  /** Canonical of the OperationDefinition (when the content has none of its own). */
  definition: string;
}

export const OPERATION_ROUTES: readonly OperationRoute[] = [
  {
    resource: 'PlanDefinition',
    name: 'apply',
    typeLevel: true,
    instanceLevel: true,
    definition: 'http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply',
  },
  {
    resource: 'QuestionnaireResponse',
    name: 'validate',
    typeLevel: true,
    instanceLevel: false,
    definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate',
  },
  {
    resource: 'QuestionnaireResponse',
    name: 'extract',
    typeLevel: true,
    instanceLevel: false,
    definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract',
  },
  {
    resource: 'Questionnaire',
    name: 'populate',
    typeLevel: true,
    instanceLevel: true,
    definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate',
  },
];

export { SEARCH_PARAMS };

export type WriteOperationName = 'submit' | 'submit-status' | 'outbox';

/**
 * The write path's operations (src/api/submit.ts): served, and declared, only where the server has a write
 * path (the composed server), not by the FHIR API alone.
 */
export interface WriteOperationRoute {
  /** `/fhir/{resource}/$name`; absent: a system-level operation, `/fhir/$name`. */
  resource?: string;
  name: WriteOperationName;
  method: 'GET' | 'POST';
  definition: string;
  documentation: string;
  /** False for an operation described in another one's documentation rather than declared on its own. */
  declared: boolean;
}

export const WRITE_OPERATION_ROUTES: readonly WriteOperationRoute[] = [
  {
    resource: 'QuestionnaireResponse',
    name: 'submit',
    method: 'POST',
    definition: 'https://periplan.app/fhir/OperationDefinition/questionnaireresponse-submit',
    documentation:
      "POST /fhir/QuestionnaireResponse/$submit: validate, $apply, and write the response with its Flags, proposals, CarePlan and Provenance in one transaction to the EHR (durable outbox; 201 sent, 202 saved-and-sending). GET /fhir/QuestionnaireResponse/$submit-status?key= tells a submission's state.",
    declared: true,
  },
  {
    resource: 'QuestionnaireResponse',
    name: 'submit-status',
    method: 'GET',
    definition: 'https://periplan.app/fhir/OperationDefinition/questionnaireresponse-submit',
    documentation: 'Described with $submit.',
    declared: false,
  },
  {
    name: 'outbox',
    method: 'GET',
    definition: 'https://periplan.app/fhir/OperationDefinition/outbox',
    documentation: 'GET /fhir/$outbox: staff view of submissions waiting to reach the EHR (bearer token required).',
    declared: true,
  },
];

/** The path of a write operation under /fhir. */
export function writeOperationPath(op: WriteOperationRoute): string {
  return op.resource ? `/${op.resource}/$${op.name}` : `/$${op.name}`;
}
