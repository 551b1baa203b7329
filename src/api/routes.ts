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
export type ArtifactType = (typeof ARTIFACT_TYPES)[number];

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
  { resource: 'PlanDefinition', name: 'apply', typeLevel: true, instanceLevel: true, definition: 'http://hl7.org/fhir/OperationDefinition/PlanDefinition-apply' },
  { resource: 'QuestionnaireResponse', name: 'validate', typeLevel: true, instanceLevel: false, definition: 'http://hl7.org/fhir/OperationDefinition/Resource-validate' },
  { resource: 'QuestionnaireResponse', name: 'extract', typeLevel: true, instanceLevel: false, definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract' },
  { resource: 'Questionnaire', name: 'populate', typeLevel: true, instanceLevel: true, definition: 'http://hl7.org/fhir/uv/sdc/OperationDefinition/Questionnaire-populate' },
];

export { SEARCH_PARAMS };
