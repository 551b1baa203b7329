/** Which resource scopes the authorization server grants (parsing is the store's). */
import { describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import { isGrantableResourceScope } from '../../../src/ehr/auth/index.js';

describe('isGrantableResourceScope', () => {
  it('grants patient/ and user/ scopes in v2 and v1 syntax', () => {
    for (const scope of [
      'patient/Flag.crs',
      'patient/QuestionnaireResponse.cu',
      'user/*.rs',
      'user/*.read',
      'patient/Observation.write',
      'patient/*.*',
    ]) {
      expect(isGrantableResourceScope(scope), scope).toBe(true);
    }
  });

  it('does not grant system/ scopes, malformed permissions, granular queries or OpenID scopes', () => {
    for (const scope of [
      'system/*.rs',
      'patient/Flag.rc',
      'patient/Flag.',
      'patient/Observation.rs?category=x',
      'openid',
      'launch/patient',
      'fhirUser',
    ]) {
      expect(isGrantableResourceScope(scope), scope).toBe(false);
    }
  });
});
