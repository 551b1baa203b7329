/**
 * The write path end to end, over real HTTP, against three FHIR servers: the embedded EHR (token from the
 * module credential), Medplum's in-memory engine (an independently written server), and that engine without
 * transactions (the one-by-one path). Same assertions for each: portability.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { validateQuestionnaireResponse } from '../../src/forms/index.js';
import type { KnowledgeBase } from '../../src/knowledge/index.js';
import { FhirError } from '../../src/outcomes/index.js';
import { SUBMISSION_RULE_SYSTEM } from '../../src/submission/build-bundle.js';
import type { WritePath } from '../../src/submission/write-path.js';
import { FLAG_PRIORITY_SYSTEM, FLAG_SYSTEM } from '../../src/submission/worklist-tags.js';
import { locationsOf } from '../../src/submission/service.js';
import { ext, getKnowledge, seededSubmission, submissionFor, testWritePath, untilSent } from './support/fixtures.js';
import { PERSONALITY_SERVERS, PORTABILITY_SERVERS, tmpDir, type TestFhirServer } from './support/servers.js';

describe.each([...PORTABILITY_SERVERS, ...PERSONALITY_SERVERS])('write path against %s', (name, start) => {
  // A rate-limited first attempt is "saved, sending"; the outbox then sends it after the server's Retry-After.
  const rateLimited = name.endsWith('rate-limit-429');
  let server: TestFhirServer;
  let kb: KnowledgeBase;
  let writePath: WritePath;

  beforeAll(async () => {
    [server, kb] = await Promise.all([start(), getKnowledge()]);
    writePath = testWritePath(server, kb);
    await writePath.start();
  });
  afterAll(async () => {
    await writePath?.stop();
    await server?.close();
  });

  it('reads the CapabilityStatement and says what the server cannot do', () => {
    expect(writePath.capabilities.known).toBe(true);
    const noTransactions = name.includes('without transactions');
    expect(writePath.capabilities.transaction).toBe(!noTransactions);
    expect(writePath.capabilities.limitations.some((l) => l.startsWith('No transaction support'))).toBe(noTransactions);
  });

  it('writes the response, Flags, proposals, Observations, CarePlan and Provenance, each once', async () => {
    const { patient, response, subject } = await seededSubmission(server, 'BMD-01', 'wp-bmd-01');
    const result = await writePath.submit({ response, data: [patient] });
    if (!rateLimited)
      expect(result).toMatchObject({ state: 'sent', duplicate: false, message: 'Saved to the record.' });
    const locations = locationsOf(await untilSent(writePath, result.key));

    const qrs = await server.search<fhir4.QuestionnaireResponse>(
      'QuestionnaireResponse',
      `identifier=${encodeURIComponent('urn:test:submission|wp-bmd-01-BMD-01-0')}`,
    );
    expect(qrs).toHaveLength(1);
    const qrRef = `QuestionnaireResponse/${qrs[0]!.id}`;
    expect(locations).toContain(qrRef);

    const flags = await server.search<fhir4.Flag>('Flag', `subject=${subject}`);
    expect(flags.map((f) => f.code.coding?.[0]?.code).sort()).toEqual(['bone-density-scan', 'imaging-follow-up']);
    for (const flag of flags) {
      expect(flag.status).toBe('active');
      expect(flag.code.coding?.[0]?.system).toBe('https://periplan.app/fhir/CodeSystem/back-pain-flag');
      expect(flag.category?.[0]?.coding?.[0]).toMatchObject({
        system: 'http://terminology.hl7.org/CodeSystem/flag-category',
        code: 'clinical',
      });
      expect(
        ext(flag, 'http://hl7.org/fhir/StructureDefinition/flag-priority')?.valueCodeableConcept?.coding?.[0]?.system,
      ).toBe('http://hl7.org/fhir/flag-priority-code');
      expect(ext(flag, 'http://hl7.org/fhir/StructureDefinition/flag-detail')?.valueReference?.reference).toBe(qrRef);
      expect(flag.identifier?.some((i) => i.system === SUBMISSION_RULE_SYSTEM)).toBe(true);
      // Born with the worklist search tags (R4 Flag has no code/status search parameter).
      const tier = ext(flag, 'http://hl7.org/fhir/StructureDefinition/flag-priority')?.valueCodeableConcept?.coding?.[0]
        ?.code;
      expect(flag.meta?.tag).toEqual(
        expect.arrayContaining([
          { system: FLAG_SYSTEM, code: flag.code.coding?.[0]?.code },
          { system: FLAG_PRIORITY_SYSTEM, code: tier },
        ]),
      );
    }
    // ...and found by the worklist's tag search.
    const tagged = await server.search<fhir4.Flag>(
      'Flag',
      `_tag=${encodeURIComponent(`${FLAG_SYSTEM}|bone-density-scan`)}`,
    );
    expect(tagged.filter((f) => f.subject.reference === subject)).toHaveLength(1);

    const proposals = await server.search<fhir4.ServiceRequest>('ServiceRequest', `subject=${subject}`);
    expect(proposals).toHaveLength(2);
    for (const sr of proposals) {
      expect(sr).toMatchObject({ status: 'draft', intent: 'proposal' });
      expect(sr.supportingInfo?.[0]?.reference).toBe(qrRef);
    }

    const observations = await server.search<fhir4.Observation>('Observation', `subject=${subject}`);
    expect(observations.length).toBeGreaterThan(0);
    for (const o of observations) expect(o.derivedFrom?.[0]?.reference).toBe(qrRef);

    const carePlans = await server.search<fhir4.CarePlan>('CarePlan', `subject=${subject}`);
    expect(carePlans).toHaveLength(1);
    expect(carePlans[0]).toMatchObject({
      intent: 'proposal',
      instantiatesCanonical: ['https://periplan.app/fhir/PlanDefinition/back-pain-follow-up|1.0.0'],
    });
    expect(carePlans[0]!.supportingInfo?.[0]?.reference).toBe(qrRef);

    const provenances = await server.search<fhir4.Provenance>('Provenance', `target=${qrRef}`);
    expect(provenances).toHaveLength(1);
    const prov = provenances[0]!;
    const targets = prov.target.map((t) => t.reference).sort();
    const expected = [
      qrRef,
      ...[...flags, ...proposals, ...observations, ...carePlans].map((r) => `${r.resourceType}/${r.id}`),
    ].sort();
    expect(targets).toEqual(expected);
    expect(prov.agent.map((a) => [a.type?.coding?.[0]?.code, a.who.reference ?? a.who.identifier?.value])).toEqual([
      ['author', subject],
      ['assembler', 'periplan-back-pain-module'],
    ]);
    expect(prov.agent[1]!.who.type).toBe('Device');
    expect(prov.entity?.[0]?.what.identifier?.value).toBe(
      'https://periplan.app/fhir/PlanDefinition/back-pain-follow-up|1.0.0',
    );
  });

  it('is idempotent: the same response again creates nothing new, from this outbox or from another', async () => {
    const { patient, response, subject } = await seededSubmission(server, 'RF-01', 'wp-rf-01');
    await untilSent(writePath, (await writePath.submit({ response, data: [patient] })).key);
    const count = async () =>
      (
        await Promise.all(
          ['QuestionnaireResponse', 'Flag', 'ServiceRequest', 'Observation', 'CarePlan'].map((t) =>
            server.search(t as 'Flag', `subject=${subject}`),
          ),
        )
      ).map((l) => l.length);
    const before = await count();
    const provenancesBefore = (await server.search('Provenance', '')).length;

    const again = await writePath.submit({ response, data: [patient] });
    expect(again).toMatchObject({ state: 'sent', duplicate: true });

    // A second module instance (its own, empty outbox: e.g. the tablet re-sent after a data loss).
    const other = testWritePath(server, kb, { dataDir: tmpDir('write-path-other-') });
    await other.start();
    try {
      await untilSent(other, (await other.submit({ response, data: [patient] })).key);
    } finally {
      await other.stop();
    }
    expect(await count()).toEqual(before);
    expect((await server.search('Provenance', '')).length).toBe(provenancesBefore);
  });

  it('refuses a response that does not conform to its Questionnaire (422), and stores nothing', async () => {
    const { patient, response } = submissionFor('RF-01', 'wp-invalid');
    const broken = { ...response, item: [] };
    await expect(writePath.submit({ response: broken, data: [patient] })).rejects.toMatchObject({ status: 422 });
    expect(await writePath.outbox.get('urn:test:submission|wp-invalid-RF-01-0')).toBeUndefined();
  });

  it('422 lists everything $validate finds, warnings included (the write path checks errors only on the way in)', async () => {
    const { patient, response } = submissionFor('BMD-01', 'wp-invalid-2');
    // An error (unknown element) and a warning-only finding (an OST score its calculation does not give).
    const wrongScore = (
      items: fhir4.QuestionnaireResponseItem[] | undefined,
    ): fhir4.QuestionnaireResponseItem[] | undefined =>
      items?.map((it) =>
        it.linkId === 'ost-score'
          ? { ...it, answer: [{ valueInteger: 42 }] }
          : { ...it, ...(it.item ? { item: wrongScore(it.item) } : {}) },
      );
    const broken = { ...response, item: wrongScore(response.item), colour: 'blue' } as fhir4.QuestionnaireResponse;
    const kb = await getKnowledge();
    const full = validateQuestionnaireResponse(broken, { resolveQuestionnaire: (c) => kb.resolve(c, 'Questionnaire') });
    const err = (await writePath.submit({ response: broken, data: [patient] }).catch((e: unknown) => e)) as FhirError;
    expect(err).toBeInstanceOf(FhirError);
    expect(err.status).toBe(422);
    expect(full.issue.some((i) => i.severity === 'warning' && i.code === 'business-rule')).toBe(true);
    expect(err.outcome.issue.map((i) => [i.severity, i.code, i.expression?.[0]])).toEqual(
      full.issue.map((i) => [i.severity, i.code, i.expression?.[0]]),
    );
  });
});
