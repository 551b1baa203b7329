/**
 * Forms capability: the SDC operations on the intake Questionnaire (and any R4 Questionnaire).
 * Pure: FHIR reads are injected as callbacks; no Express, no HTTP client.
 */
export { validateQuestionnaireResponse } from './validate-response.js';
export type { ValidateResponseOptions } from './validate-response.js';
export { populateQuestionnaire } from './populate.js';
export type { PopulateOptions, PopulateResult } from './populate.js';
export { extractFromResponse, EXTRACTED_OBSERVATION_IDENTIFIER_SYSTEM } from './extract.js';
export { verifyPrefilledFrom, strippedMarkerWarning, PREFILLED_FROM, MAX_CHECKED_MARKERS } from './prefilled-from.js';
export type { PrefilledFromOptions, PrefilledFromResult, StrippedMarker } from './prefilled-from.js';
export { applyCalculatedExpressions } from './calculate.js';
export { indexQuestionnaire, canonicalOf } from './questionnaire-index.js';
