import { describe, it } from '@jest/globals';
import { expect } from '../../support/expect.js';
import { grantFor, parseScope, parseScopes } from '../../../src/ehr/store/scopes.js';

const perms = (text: string) => [...(parseScope(text)?.permissions ?? [])].sort().join('');

describe('SMART scope parsing', () => {
  it('reads v2 permission sets in cruds order', () => {
    expect(parseScope('patient/Observation.rs')).toMatchObject({ context: 'patient', resourceType: 'Observation' });
    expect(perms('patient/Observation.rs')).toBe('rs');
    expect(perms('user/*.cruds')).toBe('cdrsu');
    expect(perms('patient/QuestionnaireResponse.cu')).toBe('cu');
    expect(perms('system/Patient.d')).toBe('d');
  });

  it('maps v1 read/write/* onto v2 permissions', () => {
    expect(perms('patient/Observation.read')).toBe('rs');
    expect(perms('user/Observation.write')).toBe('cdu');
    expect(perms('user/*.*')).toBe('cdrsu');
  });

  it('rejects malformed scopes and permissions out of order or repeated', () => {
    for (const bad of [
      'patient/Observation.sr',
      'patient/Observation.rr',
      'patient/Observation.',
      'practitioner/Observation.rs',
      'Observation.rs',
      'patient/Observation.rsx',
      'patient/Observation',
    ]) {
      expect(parseScope(bad), bad).toBeUndefined();
    }
  });

  it('grants nothing for scopes with search restrictions (not implemented, so refused rather than widened)', () => {
    expect(parseScope('patient/Observation.rs?category=laboratory')).toBeUndefined();
  });

  it('ignores non-resource scopes', () => {
    expect(
      parseScopes(['openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access', 'user/Patient.r']),
    ).toHaveLength(1);
  });
});

describe('what scopes grant', () => {
  it('maps interactions to permissions', () => {
    const scopes = parseScopes(['patient/QuestionnaireResponse.cu']);
    expect(grantFor(scopes, 'QuestionnaireResponse', 'create')).toBe('patient');
    expect(grantFor(scopes, 'QuestionnaireResponse', 'update')).toBe('patient');
    expect(grantFor(scopes, 'QuestionnaireResponse', 'read')).toBe('none');
    expect(grantFor(scopes, 'QuestionnaireResponse', 'search-type')).toBe('none');
    expect(grantFor(scopes, 'Observation', 'create')).toBe('none');
  });

  it('treats vread and history as reads', () => {
    const scopes = parseScopes(['user/Observation.r']);
    expect(grantFor(scopes, 'Observation', 'vread')).toBe('all');
    expect(grantFor(scopes, 'Observation', 'history-instance')).toBe('all');
    expect(grantFor(scopes, 'Observation', 'search-type')).toBe('none');
  });

  it('lets a user/ or system/ scope win over a patient/ scope (no compartment restriction)', () => {
    expect(grantFor(parseScopes(['patient/*.rs', 'user/Observation.rs']), 'Observation', 'read')).toBe('all');
    expect(grantFor(parseScopes(['patient/*.rs', 'user/Observation.rs']), 'Condition', 'read')).toBe('patient');
    expect(grantFor(parseScopes(['system/*.cruds']), 'Patient', 'delete')).toBe('all');
  });

  it('applies wildcards to every type', () => {
    const scopes = parseScopes(['user/*.rs']);
    expect(grantFor(scopes, 'Patient', 'search-type')).toBe('all');
    expect(grantFor(scopes, 'Patient', 'create')).toBe('none');
  });
});
