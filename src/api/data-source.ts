/**
 * Where `$apply` and `$populate` get the subject's data when the request does not carry all of it.
 *
 * `SubjectDataSource` is the seam: `FhirServerDataSource` reads any FHIR R4 server over HTTP with
 * the module's FHIR client (the clinic's EHR, or the embedded one, reached exactly like a real EHR), every page. Tests use a
 * real HTTP server; nothing here is mocked.
 */
import { FhirClient, httpStatusOf, searchQuery, timedOut as timedOutErr } from '../platform/fhir-client/index.js';
import { FhirError } from '../outcomes/index.js';

export const INTAKE_QUESTIONNAIRE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
/** LOINC body weight. */
export const BODY_WEIGHT_CODE = 'http://loinc.org|29463-7';

/**
 * What was read, and what the reader could not read. A warning means the server had more than the module
 * reads (see USE_SERVER_DATA_LIMITS): the answer rests on what was read, and the caller must be told so —
 * a resource not read is unknown, never "none".
 */
export interface SubjectData {
  resources: fhir4.FhirResource[];
  warnings: string[];
}

export interface SubjectDataSource {
  /** The Patient, the subject's intake QuestionnaireResponses and body-weight Observations (what the rules read). */
  fetchForSubject(subject: string): Promise<SubjectData>;
  /** A FHIR search (`Observation?code=...&patient=...`), every page (for $populate queries). */
  search(query: string): Promise<{ bundle: fhir4.Bundle; warnings: string[] }>;
}

/**
 * How much of one search the data source reads: servers page on their own terms (some give one result per
 * page), so every page is read, up to these bounds; past them the result carries a warning.
 */
export const USE_SERVER_DATA_LIMITS = { maxPages: 50, maxResources: 500 } as const;

export interface FhirServerOptions {
  baseUrl: string;
  bearerToken?: string;
  timeoutMs: number;
}

/** `Patient/123` (also absolute) -> `123`; anything else is refused before it reaches a URL. */
export function patientIdOf(subject: string): string | undefined {
  return /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(subject.trim())?.[1];
}

/**
 * The data source for one request: the caller's own bearer token is forwarded to the FHIR server (so the
 * EHR decides what this caller may read); without one, the configured static token if any; otherwise none
 * (the module API is not a way round the EHR's access control).
 */
export function dataSourceForRequest(options: {
  baseUrl: string;
  timeoutMs: number;
  staticToken?: string;
}): (req: { headers: Record<string, string | string[] | undefined> }) => SubjectDataSource | undefined {
  return (req) => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+([A-Za-z0-9\-._~+/=]+)$/i.exec(header.trim()) : null;
    const bearerToken = match?.[1] ?? options.staticToken;
    if (!bearerToken) return undefined;
    return new FhirServerDataSource({ baseUrl: options.baseUrl, timeoutMs: options.timeoutMs, bearerToken });
  };
}

export class FhirServerDataSource implements SubjectDataSource {
  private readonly client: FhirClient;

  constructor(private readonly options: FhirServerOptions & { limits?: { maxPages: number; maxResources: number } }) {
    this.client = new FhirClient({
      baseUrl: options.baseUrl,
      ...(options.bearerToken ? { bearerToken: options.bearerToken } : {}),
      timeoutMs: options.timeoutMs,
    });
  }

  async fetchForSubject(subject: string): Promise<SubjectData> {
    const id = patientIdOf(subject);
    if (id === undefined) return { resources: [], warnings: [] };
    // Newest first where the server sorts, so that a bound drops the oldest.
    const [patient, responses, weights] = await Promise.all([
      this.guard(() => this.client.read('Patient', id)),
      this.readAll(
        searchQuery('QuestionnaireResponse', {
          subject: `Patient/${id}`,
          questionnaire: INTAKE_QUESTIONNAIRE_URL,
          _sort: '-authored',
          _count: 50,
        }),
        'intake responses',
      ),
      this.readAll(
        searchQuery('Observation', { subject: `Patient/${id}`, code: BODY_WEIGHT_CODE, _sort: '-date', _count: 10 }),
        'body-weight observations',
      ),
    ]);
    return {
      resources: [
        ...(patient?.resourceType === 'Patient' ? [patient] : []),
        ...responses.resources,
        ...weights.resources,
      ],
      warnings: [...responses.warnings, ...weights.warnings],
    };
  }

  async search(query: string): Promise<{ bundle: fhir4.Bundle; warnings: string[] }> {
    const { type, qs } = splitQuery(query);
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(type)) return { bundle: emptyBundle(), warnings: [] };
    const params: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(qs)) (params[k] ??= []).push(v);
    const { resources, warnings } = await this.readAll(
      searchQuery(type, params),
      `${type} resources matching ${query.slice(0, 120)}`,
    );
    return {
      bundle: {
        resourceType: 'Bundle',
        type: 'searchset',
        total: resources.length,
        entry: resources.map((resource) => ({ resource, search: { mode: 'match' } })),
      },
      warnings,
    };
  }

  /** Every page of a search (bounded); a subject the server does not know has no data (404/410 -> none). */
  private async readAll(query: string, what: string): Promise<SubjectData> {
    const limits = this.options.limits ?? USE_SERVER_DATA_LIMITS;
    const result = await this.guard(() => this.client.searchAll(query, limits));
    if (!result) return { resources: [], warnings: [] };
    const warnings = result.complete
      ? []
      : [
          `The FHIR server ${this.options.baseUrl} has more ${what} than this module reads (it read ${result.resources.length} in ${result.pages} pages). ` +
            'The result is based on those only: anything not read (perhaps the latest) is unknown, not absent. Send the data in the request to be sure.',
        ];
    return { resources: result.resources, warnings };
  }

  /** 404/410 -> undefined (the subject simply has no such data); anything else -> 502/504 naming the server. */
  private async guard<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      const status = httpStatusOf(err);
      if (status === 404 || status === 410) return undefined;
      // The caller's credential is what the server judged: say so, with the caller's status, not a 502.
      if (status === 401 || status === 403) {
        throw new FhirError(status, {
          code: status === 401 ? 'login' : 'forbidden',
          diagnostics: `The FHIR server ${this.options.baseUrl} refused to share the subject's data (HTTP ${status}). Send an Authorization: Bearer token that server accepts for this patient, or pass the data in the request with useServerData=false.`,
        });
      }
      const timedOut = timedOutErr(err);
      throw new FhirError(timedOut ? 504 : 502, {
        code: timedOut ? 'timeout' : 'transient',
        diagnostics: timedOut
          ? `The FHIR server ${this.options.baseUrl} did not answer within ${this.options.timeoutMs} ms.`
          : `Reading the subject's data from the FHIR server ${this.options.baseUrl} failed${status ? ` (HTTP ${status})` : ''}.`,
      });
    }
  }
}

function emptyBundle(): fhir4.Bundle {
  return { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] };
}

/** Answer simple FHIR searches (`Type?code=...`) over resources the client sent, for $populate. */
export function searchLocal(resources: readonly fhir4.FhirResource[], query: string): fhir4.Bundle {
  const { type, qs } = splitQuery(query);
  const params = new URLSearchParams(qs);
  const codes = params.getAll('code').flatMap((c) => c.split(','));
  const matches = resources.filter((r) => {
    if (r.resourceType !== type) return false;
    if (codes.length === 0) return true;
    const codings = (r as { code?: fhir4.CodeableConcept }).code?.coding ?? [];
    return codes.some((c) => {
      const [system, code] = c.includes('|') ? c.split('|', 2) : [undefined, c];
      return codings.some((cd) => cd.code === code && (system === undefined || system === '' || cd.system === system));
    });
  });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: matches.length,
    entry: matches.map((resource) => ({ resource, search: { mode: 'match' } })),
  };
}

/** `Observation?code=a&x=b` (leading slash optional) -> type and query string. */
function splitQuery(query: string): { type: string; qs: string } {
  const q = query.replace(/^\//, '');
  const at = q.indexOf('?');
  return at < 0 ? { type: q, qs: '' } : { type: q.slice(0, at), qs: q.slice(at + 1) };
}
