/**
 * What the authorization server publishes about itself: the SMART configuration
 * (`<FHIR base>/.well-known/smart-configuration`), the CapabilityStatement security block, the
 * `smart_style_url` style sheet, and the Content-Security-Policy of the EHR's own pages. Pure functions.
 */

/** Scopes handled by the OpenID layer (everything else that is granted is a FHIR resource scope). */
export const OIDC_SCOPES = [
  'openid',
  'fhirUser',
  'profile',
  'offline_access',
  'online_access',
  'launch',
  'launch/patient',
  'launch/encounter',
];

export function smartConfiguration(issuer: string): Record<string, unknown> {
  return {
    issuer,
    jwks_uri: `${issuer}/jwks`,
    authorization_endpoint: `${issuer}/auth`,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/token/introspection`,
    revocation_endpoint: `${issuer}/token/revocation`,
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials'],
    response_types_supported: ['code'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'none'],
    code_challenge_methods_supported: ['S256'],
    // system/ scopes: only for the registered backend client (client credentials), within its allow-list.
    scopes_supported: [
      ...OIDC_SCOPES,
      'patient/*.cruds',
      'user/*.cruds',
      'patient/*.rs',
      'user/*.rs',
      'system/*.cruds',
    ],
    capabilities: [
      'launch-ehr',
      'launch-standalone',
      'authorize-post',
      'client-public',
      'client-confidential-symmetric',
      'sso-openid-connect',
      'context-banner',
      'context-style',
      'context-ehr-patient',
      'context-ehr-encounter',
      'context-standalone-patient',
      'permission-offline',
      'permission-online',
      'permission-patient',
      'permission-user',
      'permission-v1',
      'permission-v2',
    ],
  };
}

/** CapabilityStatement `rest.security`: SMART-on-FHIR with the oauth-uris extension. */
export function capabilitySecurity(issuer: string): fhir4.CapabilityStatementRestSecurity {
  const uri = (url: string, valueUri: string) => ({ url, valueUri });
  return {
    cors: true,
    service: [
      {
        coding: [{ system: 'http://terminology.hl7.org/CodeSystem/restful-security-service', code: 'SMART-on-FHIR' }],
        text: 'OAuth 2 / OpenID Connect with SMART App Launch (sandbox; see .well-known/smart-configuration)',
      },
    ],
    extension: [
      {
        url: 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris',
        extension: [
          uri('authorize', `${issuer}/auth`),
          uri('token', `${issuer}/token`),
          uri('introspect', `${issuer}/token/introspection`),
          uri('revoke', `${issuer}/token/revocation`),
        ],
      },
    ],
  };
}

/** The style sheet behind `smart_style_url` (SMART's style keys), matching the sandbox pages. */
export const SMART_STYLE = {
  color_background: '#f4f6f8',
  color_error: '#b3261e',
  color_highlight: '#0b5cad',
  color_modal_backdrop: '',
  color_success: '#1a7f37',
  color_text: '#1b1f24',
  dim_border_radius: '4px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  font_family_heading: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
};

/**
 * Content-Security-Policy for the EHR's HTML pages: own scripts and styles only; forms may also go to
 * `formTargets` (their answer redirects to an app) and frames may show `frameSources` (embedded apps).
 */
export function pageCsp(formTargets: (string | undefined)[] = [], frameSources: (string | undefined)[] = []): string {
  const origins = (list: (string | undefined)[]) =>
    [...new Set(list.filter((t): t is string => !!t && t !== 'null'))].map((t) => ` ${t}`).join('');
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'self'",
    `frame-src 'self'${origins(frameSources)}`,
    `form-action 'self'${origins(formTargets)}`,
  ].join('; ');
}
