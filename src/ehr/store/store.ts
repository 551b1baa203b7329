/**
 * The durable FHIR R4 repository of the sandbox EHR: SQLite (better-sqlite3) in WAL mode under DATA_DIR.
 *
 * Layout (one file, `fhir-store.sqlite`):
 * - `resource_versions`: every version ever written (JSON), append-only; its rowid `seq` orders writes;
 * - `resources`: the current version of each resource (or a tombstone when deleted);
 * - `search_index`: index keys of a few reference/token search parameters, only to narrow the candidates
 *   that Medplum's matcher then checks (see search-params.ts).
 *
 * Why synchronous: better-sqlite3 is synchronous and Node runs one request at a time between awaits, so
 * every operation here — including a whole transaction Bundle and the search behind a conditional create —
 * runs to completion inside one SQLite transaction with nothing interleaved. All-or-nothing and "no two
 * conditional creates both create" then hold by construction, without locks. Writes use BEGIN IMMEDIATE so
 * that a second process on the same file (a second replica, a script) queues on the write lock (busy_timeout)
 * instead of failing half-way.
 *
 * Durability: `synchronous = FULL` in WAL mode fsyncs the WAL on every commit, so an acknowledged write
 * survives kill -9 *and* power loss. NORMAL would survive kill -9 too (the WAL is in the OS page cache) but
 * may lose the last commits on power loss; a store of clinical records takes the ~1 ms per commit.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type Database from 'better-sqlite3';
import { openSqlite } from '../../platform/sqlite.js';
import type { SearchRequest } from '@medplum/core';
import { FhirError, badRequest, conflict, notFound, preconditionFailed } from '../../outcomes/index.js';
import { validateResource } from '../../validation/index.js';
import {
  indexKeys,
  indexKeysOfFilter,
  loadSearchDefinitions,
  matchesSearch,
  parseSearch,
  referencesOf,
  sortBySortRules,
  supportedSearchParameters,
} from './search-params.js';
import type { ParsedSearch } from './search-params.js';
import { isStoredResourceType } from './capability.js';

export type Resource = fhir4.FhirResource;

/**
 * Search parameters whose values are indexed on write to narrow searches (the module's hot paths). `_tag`:
 * R4 Flag has no code/status parameter, so the clinician worklist finds Flags by their worklist tags.
 * Changing this list rebuilds the index of an existing database when it is next opened (see rebuildIndexIfStale).
 */
export const INDEXED_PARAMETERS = [
  'patient',
  'subject',
  'identifier',
  'questionnaire',
  'status',
  'code',
  '_tag',
] as const;

const ID_PATTERN = /^[A-Za-z0-9\-.]{1,64}$/;

export interface OpenFhirStoreOptions {
  /** Folder for the database file; created if missing. */
  dataDir: string;
  /** Database file name inside dataDir. Default `fhir-store.sqlite`. */
  fileName?: string;
  /** Validate resources structurally on write (default true). */
  validate?: boolean;
}

/**
 * Called inside the write transaction with the resource about to be stored (undefined for a delete) and the
 * current version (undefined when there is none); throws (e.g. 403) to refuse. Lets access control see
 * exactly what is written, atomically with the write.
 */
export type WriteCheck = (next: Resource | undefined, current: Resource | undefined) => void;

export interface WriteOptions {
  check?: WriteCheck;
}

export interface CreateOptions extends WriteOptions {
  /** FHIR conditional create: a search query (`identifier=sys|val`); when it matches one resource, nothing is created. */
  ifNoneExist?: string;
  /** Use this id instead of a new UUID (transaction urn:uuid entries whose id was assigned up front). */
  assignedId?: string;
  /** Only resources passing this predicate can match `ifNoneExist` (the caller's access policy). */
  ifNoneExistRestrict?: (resource: Resource) => boolean;
}

export interface UpdateOptions extends WriteOptions {
  /** FHIR If-Match: `W/"3"`, `"3"` or `3`. A different current version -> 412. */
  ifMatch?: string;
}

export interface WriteResult<T extends Resource = Resource> {
  resource: T;
  /** `created`: new resource (201); `updated`: new version (200); `existing`: conditional create matched (200). */
  outcome: 'created' | 'updated' | 'existing';
}

export interface DeleteResult {
  /** False when the resource was already deleted (nothing written). */
  deleted: boolean;
  versionId?: string;
}

export interface HistoryEntry {
  versionId: string;
  lastUpdated: string;
  /** Undefined for a delete. */
  resource?: Resource;
  method: 'POST' | 'PUT' | 'DELETE';
}

export interface SearchOptions {
  /** Only resources passing this predicate are results (and counted); used for compartment restriction. */
  restrict?: (resource: Resource) => boolean;
  /** Only included resources passing this predicate are returned. */
  restrictIncluded?: (resource: Resource) => boolean;
}

export interface SearchResult {
  /** The page of matches, in order. */
  matches: Resource[];
  /** Resources added by _include (not counted in total). */
  included: Resource[];
  total: number;
  parsed: ParsedSearch;
}

interface CurrentRow {
  version_id: number;
  deleted: number;
  json: string | null;
}

export class FhirStore {
  readonly file: string;
  private readonly db: Database.Database;
  private readonly validate: boolean;
  private lastTimestamp = 0;
  private readonly statements;
  private readonly searchStatements = new Map<string, Database.Statement>();

  constructor(options: OpenFhirStoreOptions) {
    this.file = path.join(options.dataDir, options.fileName ?? 'fhir-store.sqlite');
    this.validate = options.validate ?? true;
    // Another process holding the write lock makes us wait (up to 10 s), not fail with SQLITE_BUSY.
    this.db = openSqlite({
      file: this.file,
      store: 'EHR FHIR store',
      synchronous: 'FULL',
      busyTimeoutMs: 10000,
      foreignKeys: true,
    });
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS resource_versions (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        method TEXT NOT NULL,
        json TEXT,
        UNIQUE (resource_type, id, version_id)
      );
      CREATE TABLE IF NOT EXISTS resources (
        resource_type TEXT NOT NULL,
        id TEXT NOT NULL,
        version_id INTEGER NOT NULL,
        last_updated TEXT NOT NULL,
        deleted INTEGER NOT NULL DEFAULT 0,
        seq INTEGER NOT NULL,
        json TEXT,
        PRIMARY KEY (resource_type, id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS resources_by_type_seq ON resources (resource_type, deleted, seq);
      CREATE TABLE IF NOT EXISTS search_index (
        resource_type TEXT NOT NULL,
        param TEXT NOT NULL,
        key TEXT NOT NULL,
        id TEXT NOT NULL,
        PRIMARY KEY (resource_type, param, key, id)
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS search_index_by_resource ON search_index (resource_type, id);
      CREATE TABLE IF NOT EXISTS store_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
    `);
    this.statements = {
      current: this.db.prepare<[string, string], CurrentRow>(
        'SELECT version_id, deleted, json FROM resources WHERE resource_type = ? AND id = ?',
      ),
      version: this.db.prepare<[string, string, number], CurrentRow>(
        'SELECT version_id, deleted, json FROM resource_versions WHERE resource_type = ? AND id = ? AND version_id = ?',
      ),
      insertVersion: this.db.prepare(
        'INSERT INTO resource_versions (resource_type, id, version_id, last_updated, deleted, method, json) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      upsertCurrent: this.db.prepare(
        `INSERT INTO resources (resource_type, id, version_id, last_updated, deleted, seq, json) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (resource_type, id) DO UPDATE SET version_id = excluded.version_id, last_updated = excluded.last_updated,
           deleted = excluded.deleted, seq = excluded.seq, json = excluded.json`,
      ),
      clearIndex: this.db.prepare('DELETE FROM search_index WHERE resource_type = ? AND id = ?'),
      insertIndex: this.db.prepare(
        'INSERT OR IGNORE INTO search_index (resource_type, param, key, id) VALUES (?, ?, ?, ?)',
      ),
      history: this.db.prepare<
        [string, string, number, number],
        { version_id: number; last_updated: string; deleted: number; method: string; json: string | null }
      >(
        'SELECT version_id, last_updated, deleted, method, json FROM resource_versions WHERE resource_type = ? AND id = ? ORDER BY version_id DESC LIMIT ? OFFSET ?',
      ),
      historyCount: this.db.prepare<[string, string], { n: number }>(
        'SELECT COUNT(*) AS n FROM resource_versions WHERE resource_type = ? AND id = ?',
      ),
      lastTimestamp: this.db.prepare<[], { t: string | null }>('SELECT MAX(last_updated) AS t FROM resource_versions'),
    };
    const last = this.statements.lastTimestamp.get()?.t;
    this.lastTimestamp = last ? Date.parse(last) : 0;
    loadSearchDefinitions();
    this.rebuildIndexIfStale();
  }

  /**
   * The index only narrows candidates, so a parameter added to INDEXED_PARAMETERS after resources were written
   * would make searches on it miss them. The indexed list is recorded in the database; when it differs, every
   * current resource is re-indexed once, in one transaction.
   */
  private rebuildIndexIfStale(): void {
    const wanted = INDEXED_PARAMETERS.join(',');
    const recorded = this.db
      .prepare<[], { value: string }>("SELECT value FROM store_settings WHERE name = 'indexed_parameters'")
      .get()?.value;
    if (recorded === wanted) return;
    this.inTransaction(() => {
      this.db.exec('DELETE FROM search_index');
      const rows = this.db
        .prepare<[], { resource_type: string; id: string; json: string }>(
          'SELECT resource_type, id, json FROM resources WHERE deleted = 0',
        )
        .all();
      for (const row of rows) this.indexResource(row.resource_type, row.id, JSON.parse(row.json) as Resource);
      this.db
        .prepare(
          "INSERT INTO store_settings (name, value) VALUES ('indexed_parameters', ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        )
        .run(wanted);
    });
  }

  private indexResource(type: string, id: string, stored: Resource): void {
    const params = supportedSearchParameters(type);
    for (const code of INDEXED_PARAMETERS) {
      if (!params.has(code)) continue;
      for (const key of indexKeys(stored, code)) this.statements.insertIndex.run(type, code, key, id);
    }
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Run `fn` in one write transaction (nested calls become savepoints). Throwing rolls everything back. */
  inTransaction<T>(fn: () => T): T {
    if (this.db.inTransaction) return this.db.transaction(fn)();
    return this.db.transaction(fn).immediate();
  }

  // ------------------------------------------------------------------------------------------------ reads

  /** Current version; 404 when unknown, 410 when deleted. */
  read(resourceType: string, id: string): Resource {
    this.checkType(resourceType);
    const row = this.statements.current.get(resourceType, id);
    if (!row) throw notFound(`${resourceType}/${id} is not known.`);
    if (row.deleted) throw new FhirError(410, { code: 'deleted', diagnostics: `${resourceType}/${id} was deleted.` });
    return JSON.parse(row.json as string) as Resource;
  }

  /** Current version, or undefined when unknown or deleted. */
  find(resourceType: string, id: string): Resource | undefined {
    const row = this.statements.current.get(resourceType, id);
    return row && !row.deleted && row.json ? (JSON.parse(row.json) as Resource) : undefined;
  }

  vread(resourceType: string, id: string, versionId: string): Resource {
    this.checkType(resourceType);
    const version = /^\d+$/.test(versionId) ? Number(versionId) : NaN;
    const row = Number.isSafeInteger(version) ? this.statements.version.get(resourceType, id, version) : undefined;
    if (!row) throw notFound(`${resourceType}/${id} has no version ${versionId.slice(0, 20)}.`);
    if (row.deleted)
      throw new FhirError(410, {
        code: 'deleted',
        diagnostics: `Version ${versionId} of ${resourceType}/${id} is a deletion.`,
      });
    return JSON.parse(row.json as string) as Resource;
  }

  /** Versions, newest first. 404 when the resource never existed. */
  history(
    resourceType: string,
    id: string,
    page: { count?: number; offset?: number } = {},
  ): { entries: HistoryEntry[]; total: number } {
    this.checkType(resourceType);
    const total = this.statements.historyCount.get(resourceType, id)?.n ?? 0;
    if (total === 0) throw notFound(`${resourceType}/${id} is not known.`);
    const rows = this.statements.history.all(resourceType, id, page.count ?? 100, page.offset ?? 0);
    return {
      total,
      entries: rows.map((r) => ({
        versionId: String(r.version_id),
        lastUpdated: r.last_updated,
        method: r.method as HistoryEntry['method'],
        ...(r.json ? { resource: JSON.parse(r.json) as Resource } : {}),
      })),
    };
  }

  /**
   * Search. `query`: the query string pairs (`[['patient', 'Patient/1'], ['_count', '10']]`) or an already
   * parsed search. Unknown parameters -> 400 unless `lenient`.
   */
  search(
    resourceType: string,
    query: [string, string][] | ParsedSearch,
    options: SearchOptions & { lenient?: boolean } = {},
  ): SearchResult {
    this.checkType(resourceType);
    const parsed = Array.isArray(query) ? parseSearch(resourceType, query, options.lenient) : query;
    let all = this.matching(parsed.request).filter((r) => !options.restrict || options.restrict(r));
    if (parsed.request.sortRules?.length) all = sortBySortRules(all, parsed.request.sortRules);
    const matches = parsed.count === 0 ? [] : all.slice(parsed.offset, parsed.offset + parsed.count);
    return {
      matches,
      included: this.includes(matches, parsed.request, options.restrictIncluded),
      total: all.length,
      parsed,
    };
  }

  /** Every current resource matching the filters, in write order, using the index to narrow candidates. */
  private matching(request: SearchRequest): Resource[] {
    const params = supportedSearchParameters(request.resourceType);
    const where: string[] = ['resource_type = ?'];
    const args: unknown[] = [request.resourceType];
    let narrowed = false;
    for (const filter of request.filters ?? []) {
      if (filter.code === '_id' && filter.operator === 'eq') {
        const ids = filter.value.split(',');
        where.push(`id IN (${ids.map(() => '?').join(',')})`);
        args.push(...ids);
        narrowed = true;
        continue;
      }
      const param = params.get(filter.code);
      if (!param || !(INDEXED_PARAMETERS as readonly string[]).includes(filter.code)) continue;
      const keys = indexKeysOfFilter(filter, param.type);
      if (!keys?.length) continue;
      where.push(
        `id IN (SELECT id FROM search_index WHERE resource_type = ? AND param = ? AND key IN (${keys.map(() => '?').join(',')}))`,
      );
      args.push(request.resourceType, filter.code, ...keys);
      narrowed = true;
    }
    // Narrowed by id or index keys: `+deleted` keeps SQLite from walking (resource_type, deleted, seq) over
    // every resource of the type and testing each id, which it otherwise prefers without ANALYZE statistics
    // (a conditional create then cost time linear in the store's size: ≈7 ms at 20,000 rows, 0.03 ms this
    // way). It looks the ids up by primary key and sorts the few rows instead.
    where.push(narrowed ? '+deleted = 0' : 'deleted = 0');
    const rows = this.prepared(`SELECT json FROM resources WHERE ${where.join(' AND ')} ORDER BY seq`).all(...args) as {
      json: string;
    }[];
    return rows.map((r) => JSON.parse(r.json) as Resource).filter((r) => matchesSearch(r, request));
  }

  /**
   * Searches differ only in how many filters and keys they have, so their statements repeat: preparing one
   * costs more than running it for a conditional create. Kept by SQL text (bounded: a hostile query mix
   * cannot grow it without limit).
   */
  private prepared(sql: string): Database.Statement {
    let statement = this.searchStatements.get(sql);
    if (!statement) {
      if (this.searchStatements.size >= 256) this.searchStatements.clear();
      statement = this.db.prepare(sql);
      this.searchStatements.set(sql, statement);
    }
    return statement;
  }

  private includes(matches: Resource[], request: SearchRequest, allow?: (r: Resource) => boolean): Resource[] {
    if (!request.include?.length) return [];
    const seen = new Set(matches.map((r) => `${r.resourceType}/${r.id}`));
    const out: Resource[] = [];
    for (const target of request.include) {
      for (const resource of matches) {
        for (const ref of referencesOf(resource, target.searchParam)) {
          if (seen.has(ref)) continue;
          const found = this.includedTarget(ref, target.targetType, allow);
          if (!found) continue;
          seen.add(ref);
          out.push(found);
        }
      }
    }
    return out;
  }

  /** The stored resource a `Type/id` reference of an `_include` points to, if it is of the target type and allowed. */
  private includedTarget(
    ref: string,
    targetType: string | undefined,
    allow?: (r: Resource) => boolean,
  ): Resource | undefined {
    const [type, id, extra] = ref.split('/');
    if (!type || !id || extra !== undefined) return undefined;
    if (targetType && targetType !== type) return undefined;
    const found = isStoredResourceType(type) ? this.find(type, id) : undefined;
    if (!found || (allow && !allow(found))) return undefined;
    return found;
  }

  // ----------------------------------------------------------------------------------------------- writes

  create<T extends Resource>(resource: T, options: CreateOptions = {}): WriteResult<T> {
    const type = this.checkBody(resource);
    return this.inTransaction(() => {
      if (options.ifNoneExist !== undefined) {
        const existing = this.matchOne(type, options.ifNoneExist, options.ifNoneExistRestrict);
        if (existing) return { resource: existing as T, outcome: 'existing' as const };
      }
      const id = options.assignedId ?? randomUUID();
      if (!ID_PATTERN.test(id)) throw badRequest(`Invalid id '${id.slice(0, 80)}'.`, `${type}.id`);
      if (this.statements.current.get(type, id)) throw conflict(`${type}/${id} already exists.`);
      const stored = this.write(type, id, { ...resource, id }, 'POST', options.check, undefined, undefined);
      return { resource: stored as T, outcome: 'created' as const };
    });
  }

  /**
   * The one resource a conditional create's query matches, undefined for none, 412 for several. `restrict`:
   * only resources passing it can match (or are counted).
   */
  matchOne(type: string, query: string, restrict?: (resource: Resource) => boolean): Resource | undefined {
    const pairs = [...new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)] as [string, string][];
    if (pairs.length === 0) throw badRequest('If-None-Exist is empty.', 'If-None-Exist');
    const { matches, total } = this.search(
      type,
      [...pairs.filter(([k]) => k !== '_count'), ['_count', '2']],
      restrict ? { restrict } : {},
    );
    if (total > 1)
      throw preconditionFailed(
        `If-None-Exist '${query.slice(0, 200)}' matches ${total} ${type} resources; it must match at most one.`,
      );
    return matches[0];
  }

  /** Update (or create with a client-chosen id: FHIR update-as-create). */
  update<T extends Resource>(resource: T, options: UpdateOptions = {}): WriteResult<T> {
    const type = this.checkBody(resource);
    const id = resource.id;
    if (!id) throw badRequest('An update needs the resource id in the body.', `${type}.id`);
    if (!ID_PATTERN.test(id)) throw badRequest(`Invalid id '${id.slice(0, 80)}'.`, `${type}.id`);
    return this.inTransaction(() => {
      const row = this.statements.current.get(type, id);
      if (options.ifMatch !== undefined) {
        const wanted = parseETag(options.ifMatch);
        if (wanted === undefined)
          throw badRequest(`If-Match '${options.ifMatch.slice(0, 40)}' is not a version ETag like W/"3".`, 'If-Match');
        if (!row || row.version_id !== wanted || row.deleted) {
          throw preconditionFailed(
            `If-Match W/"${wanted}" does not match: ${type}/${id} is ${row ? (row.deleted ? 'deleted' : `at version ${row.version_id}`) : 'not known'}.`,
          );
        }
      }
      const current = row && !row.deleted && row.json ? (JSON.parse(row.json) as Resource) : undefined;
      const stored = this.write(type, id, resource, 'PUT', options.check, current, row);
      return { resource: stored as T, outcome: row && !row.deleted ? ('updated' as const) : ('created' as const) };
    });
  }

  delete(resourceType: string, id: string, options: WriteOptions = {}): DeleteResult {
    this.checkType(resourceType);
    return this.inTransaction(() => {
      const row = this.statements.current.get(resourceType, id);
      if (!row) throw notFound(`${resourceType}/${id} is not known.`);
      if (row.deleted) return { deleted: false };
      const current = JSON.parse(row.json as string) as Resource;
      options.check?.(undefined, current);
      const versionId = row.version_id + 1;
      const lastUpdated = this.nextTimestamp();
      const info = this.statements.insertVersion.run(resourceType, id, versionId, lastUpdated, 1, 'DELETE', null);
      this.statements.upsertCurrent.run(resourceType, id, versionId, lastUpdated, 1, info.lastInsertRowid, null);
      this.statements.clearIndex.run(resourceType, id);
      return { deleted: true, versionId: String(versionId) };
    });
  }

  /** `row`: the resource's `resources` row as the caller just read it in this transaction (undefined: none). */
  private write(
    type: string,
    id: string,
    resource: Resource,
    method: 'POST' | 'PUT',
    check: WriteCheck | undefined,
    current: Resource | undefined,
    row: CurrentRow | undefined,
  ): Resource {
    const versionId = (row?.version_id ?? 0) + 1;
    const lastUpdated = this.nextTimestamp();
    const meta: fhir4.Meta = { ...(resource.meta ?? {}), versionId: String(versionId), lastUpdated };
    const stored = { ...resource, id, meta } as Resource;
    check?.(stored, current);
    const json = JSON.stringify(stored);
    const info = this.statements.insertVersion.run(type, id, versionId, lastUpdated, 0, method, json);
    this.statements.upsertCurrent.run(type, id, versionId, lastUpdated, 0, info.lastInsertRowid, json);
    // Index rows exist only for an id that has a row (a delete clears them): a new id has none to clear.
    if (row) this.statements.clearIndex.run(type, id);
    this.indexResource(type, id, stored);
    return stored;
  }

  /** Strictly increasing timestamps, so `_lastUpdated` and history order agree with write order. */
  private nextTimestamp(): string {
    this.lastTimestamp = Math.max(Date.now(), this.lastTimestamp + 1);
    return new Date(this.lastTimestamp).toISOString();
  }

  private checkType(resourceType: string): void {
    if (!isStoredResourceType(resourceType))
      throw notFound(`'${resourceType.slice(0, 80)}' is not a resource type this store keeps.`);
  }

  /** Structural checks before any write: a known resource type and (unless disabled) R4 validation. */
  private checkBody(resource: Resource): string {
    if (resource === null || typeof resource !== 'object' || Array.isArray(resource)) {
      throw new FhirError(400, { code: 'structure', diagnostics: 'Expected a FHIR resource (a JSON object).' });
    }
    const type = (resource as { resourceType?: unknown }).resourceType;
    if (typeof type !== 'string' || !isStoredResourceType(type)) {
      throw new FhirError(400, {
        code: 'structure',
        diagnostics: `'${String(type).slice(0, 80)}' is not a resource type this store keeps (any R4 type but Binary and Bundle).`,
        expression: 'resourceType',
      });
    }
    if (this.validate) {
      // Server-assigned meta elements are replaced on write; a stale one must not make the body invalid.
      const { meta, ...rest } = resource;
      const restMeta = meta ? { ...meta, versionId: undefined, lastUpdated: undefined } : undefined;
      const candidate =
        restMeta && Object.values(restMeta).some((v) => v !== undefined)
          ? { ...rest, meta: JSON.parse(JSON.stringify(restMeta)) as fhir4.Meta }
          : rest;
      const problems = validateResource(candidate).filter((i) => i.severity === 'error' || i.severity === 'fatal');
      if (problems.length) {
        throw new FhirError(
          400,
          problems.map((p) => ({
            severity: p.severity,
            code: p.code,
            diagnostics: p.diagnostics ?? p.details?.text ?? 'Invalid resource.',
            ...(p.expression ? { expression: p.expression } : {}),
          })),
        );
      }
    }
    return type;
  }
}

/** `W/"3"`, `"3"`, `3` -> 3; undefined when not a version. */
export function parseETag(value: string): number | undefined {
  const m = /^(?:W\/)?"?(\d+)"?$/.exec(value.trim());
  return m ? Number(m[1]) : undefined;
}

export function openFhirStore(options: OpenFhirStoreOptions): FhirStore {
  return new FhirStore(options);
}
