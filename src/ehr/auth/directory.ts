/**
 * Who can sign in and which patients exist: injected, so the auth server does not read the FHIR store
 * itself (src/ehr/index.ts wires it to the store; tests pass plain functions).
 */
export interface DirectoryPatient {
  id: string;
  /** Display name, e.g. "Jane Doe". */
  name: string;
  birthDate?: string;
}

export interface DirectoryPractitioner {
  id: string;
  name: string;
  /** Shown next to the name, e.g. "GP" or "Physiotherapist". */
  role?: string;
}

export interface Directory {
  listPatients(): Promise<DirectoryPatient[]>;
  listPractitioners(): Promise<DirectoryPractitioner[]>;
}
