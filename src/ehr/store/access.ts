/**
 * What a request is allowed to do, as the SMART authorization server established it from the bearer token.
 *
 * The store never sees tokens: the router's injected `authorize(req)` hook turns a request into an
 * AccessContext (or undefined when there is no valid token), and everything below works from that.
 */
import { forbidden } from '../../outcomes/index.js';
import { grantFor, parseScopes } from './scopes.js';
import type { Grant, Interaction, ResourceScope } from './scopes.js';
import { compartmentPatients, inPatientCompartment, patientCompartmentParams } from './search-params.js';
import type { WriteCheck } from './store.js';

export interface AccessContext {
  /** OAuth client the token was issued to. */
  clientId: string;
  /** Granted scopes, e.g. `patient/QuestionnaireResponse.cu`, `user/*.rs`, `launch`, `openid`. */
  scopes: string[];
  /** Id (not reference) of the patient in context; required for `patient/` scopes to grant anything. */
  patient?: string;
  /** The user, as a reference or URL (`Practitioner/abc`). */
  fhirUser?: string;
}

/**
 * What the store enforces for one request. Built from an AccessContext; `unrestrictedPolicy` when the router
 * has no `authorize` hook (a store used in-process or behind some other gate).
 *
 * Patient compartment (R4 CompartmentDefinition/patient) for grants that come only from `patient/` scopes:
 * - reads and searches see only resources in the compartment of the patient in context; resource types
 *   that are never in a patient compartment (Practitioner, Questionnaire, Organization, ...) hold no patient
 *   data and stay readable;
 * - writes must leave the resource in that compartment and in no other patient's (an Observation with
 *   subject B and performer A is in both: a token for A may read it but not write it), and may only touch
 *   resources already in it; types outside any patient compartment cannot be written with a `patient/` scope.
 * Anything else is a 403.
 */
export interface AccessPolicy {
  /** 403 unless the scopes grant the interaction on the type; returns how far the grant goes. */
  require(resourceType: string, interaction: Interaction): Exclude<Grant, 'none'>;
  /** May this resource be shown (under the given grant)? */
  canSee(resource: fhir4.FhirResource, grant: Exclude<Grant, 'none'>): boolean;
  /** 403 unless the resource may be shown. */
  checkVisible(resource: fhir4.FhirResource, grant: Exclude<Grant, 'none'>): void;
  /** The check a write runs inside its transaction (see WriteCheck). */
  writeCheck(grant: Exclude<Grant, 'none'>): WriteCheck;
  /**
   * Which resources of a type a conditional search may match for this caller (If-None-Exist, a conditional
   * reference `Type?query` in a transaction); undefined: any. A conditional search answers with a count, an
   * id or a 200-instead-of-201, so it must see no more than the caller could search: for a caller bound to a
   * patient compartment, another patient's resources are as if they did not exist.
   */
  conditionalMatch(resourceType: string): ((resource: fhir4.FhirResource) => boolean) | undefined;
}

export const unrestrictedPolicy: AccessPolicy = {
  require: () => 'all',
  canSee: () => true,
  checkVisible: () => undefined,
  writeCheck: () => () => undefined,
  conditionalMatch: () => undefined,
};

export function accessPolicy(context: AccessContext): AccessPolicy {
  const scopes: ResourceScope[] = parseScopes(context.scopes);
  const patient = context.patient;

  const inCompartment = (resource: fhir4.FhirResource) =>
    patient !== undefined && inPatientCompartment(resource, patient);
  const onlyInCompartment = (resource: fhir4.FhirResource) => {
    const patients = compartmentPatients(resource);
    return patient !== undefined && patients.length > 0 && patients.every((p) => p === patient);
  };
  const canSee = (resource: fhir4.FhirResource, grant: Exclude<Grant, 'none'>) =>
    grant === 'all' ||
    inCompartment(resource) ||
    (resource.resourceType !== 'Patient' && !patientCompartmentParams(resource.resourceType));

  return {
    require(resourceType, interaction) {
      const grant = grantFor(scopes, resourceType, interaction);
      if (grant === 'none') throw forbidden(`The access token does not grant ${interaction} on ${resourceType}.`);
      if (grant === 'patient' && !patient) {
        throw forbidden(
          `The access token grants ${interaction} on ${resourceType} only through patient/ scopes, but has no patient in context.`,
        );
      }
      return grant;
    },
    canSee,
    checkVisible(resource, grant) {
      if (!canSee(resource, grant)) {
        throw forbidden(
          `${resource.resourceType}/${resource.id} is outside the compartment of the patient this access token is for.`,
        );
      }
    },
    conditionalMatch(resourceType) {
      // A user/ or system/ scope on the type: the caller is not bound to one compartment for it.
      const unbounded = scopes.some(
        (s) => s.context !== 'patient' && (s.resourceType === '*' || s.resourceType === resourceType),
      );
      return unbounded ? undefined : (resource) => canSee(resource, 'patient');
    },
    writeCheck(grant) {
      return (next, current) => {
        if (grant === 'all') return;
        if (current && !onlyInCompartment(current)) {
          throw forbidden(
            `${current.resourceType}/${current.id} is outside the compartment of the patient this access token is for.`,
          );
        }
        if (next && !onlyInCompartment(next)) {
          throw forbidden(
            `This ${next.resourceType} would not belong to Patient/${patient} alone, the patient this access token is for (check its patient references: subject, performer, author, ...).`,
          );
        }
      };
    },
  };
}
