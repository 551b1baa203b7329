/**
 * Where `$apply` and `$populate` get the subject's data when the request does not carry all of it.
 *
 * `SubjectDataSource` is the seam: `FhirServerDataSource` reads any FHIR R4 server over HTTP with
 * fhir-kit-client (the clinic's EHR, or the embedded one, reached exactly like a real EHR). Tests use a
 * real HTTP server; nothing here is mocked.
 */
import { Client } from 'fhir-kit-client';
import { FhirError } from '../outcomes/index.js';

export const INTAKE_QUESTIONNAIRE_URL = 'https://periplan.app/fhir/Questionnaire/back-pain-intake';
/** LOINC body weight. */
export const BODY_WEIGHT_CODE = 'http://loinc.org|29463-7';

export interface SubjectDataSource {
  /** The Patient, the subject's intake QuestionnaireResponses and body-weight Observations (what the rules read). */
  fetchForSubject(subject: string): Promise<fhir4.FhirResource[]>;
  /** A FHIR search (`Observation?code=...&patient=...`) as the server answers it (for $populate queries). */
  search(query: string): Promise<fhir4.Bundle>;
}

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
export function dataSourceForRequest(
  options: { baseUrl: string; timeoutMs: number; staticToken?: string },
): (req: { headers: Record<string, string | string[] | undefined> }) => SubjectDataSource | undefined {
  return (req) => {
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer\s+([A-Za-z0-9\-._~+/=]+)$/i.exec(header.trim()) : null;
    const bearerToken = match?.[1] ?? options.staticToken;
    if (!bearerToken) return undefined;
    return new FhirServerDataSource({ baseUrl: options.baseUrl, timeoutMs: options.timeoutMs, bearerToken });
  };
}

export class FhirServerDataSource implements SubjectDataSource {
  private readonly client: Client;

  constructor(private readonly options: FhirServerOptions) {
    this.client = new Client({ baseUrl: options.baseUrl, ...(options.bearerToken ? { bearerToken: options.bearerToken } : {}) });
  }

  async fetchForSubject(subject: string): Promise<fhir4.FhirResource[]> {
    const id = patientIdOf(subject);
    if (id === undefined) return [];
    const [patient, responses, weights] = await Promise.all([
      this.guard(() => this.client.read({ resourceType: 'Patient', id, options: this.requestOptions() })),
      this.guard(() =>
        this.client.search({
          resourceType: 'QuestionnaireResponse',
          searchParams: { subject: `Patient/${id}`, questionnaire: INTAKE_QUESTIONNAIRE_URL, _count: 50 },
          options: this.requestOptions(),
        }),
      ),
      this.guard(() =>
        this.client.search({
          resourceType: 'Observation',
          searchParams: { subject: `Patient/${id}`, code: BODY_WEIGHT_CODE, _sort: '-date', _count: 10 },
          options: this.requestOptions(),
        }),
      ),
    ]);
    const out: fhir4.FhirResource[] = [];
    if (patient?.resourceType === 'Patient') out.push(patient as fhir4.Patient);
    for (const bundle of [responses, weights]) out.push(...resourcesOf(bundle));
    return out;
  }

  async search(query: string): Promise<fhir4.Bundle> {
    const { type, qs } = splitQuery(query);
    if (!/^[A-Z][A-Za-z]{1,63}$/.test(type)) return { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] };
    const searchParams: Record<string, string[]> = {};
    for (const [k, v] of new URLSearchParams(qs)) (searchParams[k] ??= []).push(v);
    const result = await this.guard(() => this.client.search({ resourceType: type, searchParams, options: this.requestOptions() }));
    return result?.resourceType === 'Bundle' ? (result as unknown as fhir4.Bundle) : { resourceType: 'Bundle', type: 'searchset', total: 0, entry: [] };
  }

  private requestOptions() {
    return { signal: AbortSignal.timeout(this.options.timeoutMs) };
  }

  /** 404/410 -> undefined (the subject simply has no such data); anything else -> 502/504 naming the server. */
  private async guard<T>(call: () => Promise<T>): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      const status = (err as { response?: { status?: number } } | null)?.response?.status;
      if (status === 404 || status === 410) return undefined;
      // The caller's credential is what the server judged: say so, with the caller's status, not a 502.
      if (status === 401 || status === 403) {
        throw new FhirError(status, {
          code: status === 401 ? 'login' : 'forbidden',
          diagnostics: `The FHIR server ${this.options.baseUrl} refused to share the subject's data (HTTP ${status}). Send an Authorization: Bearer token that server accepts for this patient, or pass the data in the request with useServerData=false.`,
        });
      }
      const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
      throw new FhirError(timedOut ? 504 : 502, {
        code: timedOut ? 'timeout' : 'transient',
        diagnostics: timedOut
          ? `The FHIR server ${this.options.baseUrl} did not answer within ${this.options.timeoutMs} ms.`
          : `Reading the subject's data from the FHIR server ${this.options.baseUrl} failed${status ? ` (HTTP ${status})` : ''}.`,
      });
    }
  }
}

function resourcesOf(bundle: unknown): fhir4.FhirResource[] {
  const b = bundle as fhir4.Bundle | undefined;
  if (b?.resourceType !== 'Bundle') return [];
  return (b.entry ?? []).flatMap((e) => (e.resource && (e.search?.mode ?? 'match') === 'match' ? [e.resource as fhir4.FhirResource] : []));
}

/** Answer simple FHIR searches (`Type?code=...`) over resources the client sent, for $populate. */
export function searchLocal(resources: readonly fhir4.FhirResource[], query: string): fhir4.Bundle {
  const { type, qs } = splitQuery(query);
  const params = new URLSearchParams(qs);
  const codes = params.getAll('code').flatMap((c) => c.split(','));
  const matches = resources.filter((r) => {
    if (r.resourceType !== type) return false;
    if (codes.length === 0) return true;
    const codings = ((r as { code?: fhir4.CodeableConcept }).code?.coding ?? []) as fhir4.Coding[];
    return codes.some((c) => {
      const [system, code] = c.includes('|') ? c.split('|', 2) : [undefined, c];
      return codings.some((cd) => cd.code === code && (system === undefined || system === '' || cd.system === system));
    });
  });
  return { resourceType: 'Bundle', type: 'searchset', total: matches.length, entry: matches.map((resource) => ({ resource, search: { mode: 'match' } })) };
}

/** `Observation?code=a&x=b` (leading slash optional) -> type and query string. */
function splitQuery(query: string): { type: string; qs: string } {
  const q = query.replace(/^\//, '');
  const at = q.indexOf('?');
  return at < 0 ? { type: q, qs: '' } : { type: q.slice(0, at), qs: q.slice(at + 1) };
}
