/**
 * The validator's own profiles come from the configured content folder (CONTENT_DIR), not from the folder the
 * source code happens to sit beside: a deployment with its content elsewhere validates against that content.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { getProfile } from '../../src/validation/index.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const REPOSITORY_PROFILE = path.join(ROOT, 'profiles', 'StructureDefinition-back-pain-flag.json');
const repositoryProfile = JSON.parse(fs.readFileSync(REPOSITORY_PROFILE, 'utf8')) as fhir4.StructureDefinition;
const OTHER_URL = 'https://clinic.example/fhir/StructureDefinition/other-flag';

const contentDir = fs.mkdtempSync(path.join(os.tmpdir(), 'content-dir-'));
fs.mkdirSync(path.join(contentDir, 'profiles'));
fs.writeFileSync(
  path.join(contentDir, 'profiles', 'StructureDefinition-other-flag.json'),
  JSON.stringify({ ...repositoryProfile, id: 'other-flag', url: OTHER_URL }),
);
const previous = process.env.CONTENT_DIR;
process.env.CONTENT_DIR = contentDir;

afterAll(() => {
  if (previous === undefined) delete process.env.CONTENT_DIR;
  else process.env.CONTENT_DIR = previous;
  fs.rmSync(contentDir, { recursive: true, force: true });
});

describe('the profiles validation knows without a knowledge base', () => {
  it('are read from CONTENT_DIR/profiles, and only from there', () => {
    expect(repositoryProfile.url).toBeTruthy();
    expect(getProfile(OTHER_URL)?.url).toBe(OTHER_URL);
    expect(getProfile(repositoryProfile.url!)).toBeUndefined();
  });
});
