/**
 * `_tag` is indexed (the clinician worklist finds Flags by their worklist tags: R4 Flag has no code/status
 * search parameter): a `_tag` search narrows through the index and returns exactly the tagged resources, and a
 * database written before `_tag` was indexed is re-indexed when it is opened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, it, expect } from '@jest/globals';
import { INDEXED_PARAMETERS, openFhirStore } from '../../../src/ehr/store/index.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(path.join(os.tmpdir(), 'tag-index-'));
  dirs.push(d);
  return d;
};

const FLAG = 'https://periplan.app/fhir/CodeSystem/back-pain-flag';
const PRIORITY = 'http://hl7.org/fhir/flag-priority-code';

const flag = (patientId: string, code: string, tier: string): fhir4.Flag => ({
  resourceType: 'Flag',
  status: 'active',
  meta: {
    tag: [
      { system: FLAG, code },
      { system: PRIORITY, code: tier },
    ],
  },
  code: { coding: [{ system: FLAG, code }] },
  subject: { reference: `Patient/${patientId}` },
});

const ids = (found: { matches: fhir4.FhirResource[] }) => found.matches.map((r) => r.id).sort();

describe('_tag index', () => {
  it('is one of the indexed parameters', () => {
    expect(INDEXED_PARAMETERS).toContain('_tag');
  });

  it('a _tag search returns exactly the resources with that tag (system|code, code only, OR, AND)', () => {
    const store = openFhirStore({ dataDir: tempDir() });
    try {
      const p = store.create({ resourceType: 'Patient', name: [{ family: 'Tagged' }] } as fhir4.Patient).resource;
      const a = store.create(flag(p.id!, 'imaging-follow-up', 'PM')).resource;
      const b = store.create(flag(p.id!, 'bone-density-scan', 'PL')).resource;
      const c = store.create(flag(p.id!, 'imaging-follow-up', 'PH')).resource;
      // Same code, other system: the index narrows on the code only; the matcher must still tell them apart.
      const other = store.create({
        ...flag(p.id!, 'x', 'PM'),
        meta: { tag: [{ system: 'https://example.org/other', code: 'imaging-follow-up' }] },
      }).resource;
      store.create({
        resourceType: 'Flag',
        status: 'active',
        code: { text: 'untagged' },
        subject: { reference: `Patient/${p.id}` },
      } as fhir4.Flag);

      expect(ids(store.search('Flag', [['_tag', `${FLAG}|imaging-follow-up`]]))).toEqual([a.id, c.id].sort());
      expect(ids(store.search('Flag', [['_tag', 'imaging-follow-up']]))).toEqual([a.id, c.id, other.id].sort());
      expect(ids(store.search('Flag', [['_tag', `${FLAG}|imaging-follow-up,${FLAG}|bone-density-scan`]]))).toEqual(
        [a.id, b.id, c.id].sort(),
      );
      expect(
        ids(
          store.search('Flag', [
            ['_tag', `${FLAG}|imaging-follow-up`],
            ['_tag', `${PRIORITY}|PH`],
          ]),
        ),
      ).toEqual([c.id]);

      // An update that removes the tags takes the Flag out of the index (and out of the results).
      store.update({ ...c, status: 'inactive', meta: { tag: [] } } as fhir4.Flag);
      expect(ids(store.search('Flag', [['_tag', `${FLAG}|imaging-follow-up`]]))).toEqual([a.id]);
    } finally {
      store.close();
    }
  });

  it('narrows through the index: a search only sees what the index lists', () => {
    const dataDir = tempDir();
    const store = openFhirStore({ dataDir });
    try {
      const a = store.create(flag('p1', 'imaging-follow-up', 'PM')).resource;
      const b = store.create(flag('p2', 'imaging-follow-up', 'PM')).resource;
      const db = new Database(store.file);
      const keys = db
        .prepare("SELECT id, key FROM search_index WHERE resource_type = 'Flag' AND param = '_tag' ORDER BY key")
        .all();
      expect(keys).toEqual(
        expect.arrayContaining([
          { id: a.id, key: 'imaging-follow-up' },
          { id: a.id, key: 'pm' },
          { id: b.id, key: 'imaging-follow-up' },
        ]),
      );
      // Drop one Flag's index rows behind the store's back: a _tag search no longer finds it, proving that
      // the candidates come from the index and not from a scan of every Flag.
      db.prepare("DELETE FROM search_index WHERE resource_type = 'Flag' AND param = '_tag' AND id = ?").run(b.id);
      db.close();
      expect(ids(store.search('Flag', [['_tag', `${FLAG}|imaging-follow-up`]]))).toEqual([a.id]);
    } finally {
      store.close();
    }
  });

  it('re-indexes a database written before _tag was indexed when it is opened', () => {
    const dataDir = tempDir();
    let first = openFhirStore({ dataDir });
    const a = first.create(flag('p1', 'emergency-assessment', 'PH')).resource;
    first.close();
    // Simulate the older database: no _tag index rows, the older list of indexed parameters recorded.
    const db = new Database(path.join(dataDir, 'fhir-store.sqlite'));
    db.prepare("DELETE FROM search_index WHERE param = '_tag'").run();
    db.prepare(
      "UPDATE store_settings SET value = 'patient,subject,identifier,questionnaire,status,code' WHERE name = 'indexed_parameters'",
    ).run();
    db.close();
    first = openFhirStore({ dataDir });
    try {
      expect(ids(first.search('Flag', [['_tag', `${FLAG}|emergency-assessment`]]))).toEqual([a.id]);
      expect(ids(first.search('Flag', [['subject', 'Patient/p1']]))).toEqual([a.id]);
    } finally {
      first.close();
    }
  });
});
