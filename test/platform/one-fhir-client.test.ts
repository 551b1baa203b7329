/**
 * Keeps the module's FHIR calls in one place: src/platform/fhir-client (on fhir-kit-client) is the only code
 * that imports fhir-kit-client or constructs its Client, and the only server code that calls `fetch(` —
 * except the few non-FHIR endpoints listed below, each with its reason and its exact number of calls, so a
 * FHIR call added next to them fails here too. Parsed with the TypeScript compiler, so comments and strings
 * do not count.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, it } from '@jest/globals';
import { expect } from '../support/expect.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const SRC = path.join(ROOT, 'src');
const CLIENT_MODULE = 'src/platform/fhir-client/';

/** Files allowed to call fetch, how many times, and why (none of them is a FHIR API call). */
const NON_FHIR_FETCHES: Record<string, { calls: number; why: string }> = {
  'src/clinician-app/smart.ts': {
    calls: 1,
    why: 'SMART discovery (.well-known/smart-configuration): OAuth metadata, sent without a token',
  },
  'src/submission/module-token.ts': {
    calls: 2,
    why: 'SMART discovery and the OAuth token endpoint (client credentials): how the module gets its token, not a FHIR call',
  },
  'src/clinician-app/helpers.ts': { calls: 1, why: "the EHR's smart_style_url (colours and fonts), a plain JSON file" },
};

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'public' ? [] : sourceFiles(full); // browser code calls the module's own /api, never a FHIR server
    return /\.(ts|mts|cts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [full] : [];
  });
}

interface Finding {
  file: string;
  fetches: number;
  kitImports: number;
  clientConstructions: number;
}

function scan(file: string): Finding {
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const finding: Finding = {
    file: path.relative(ROOT, file).split(path.sep).join('/'),
    fetches: 0,
    kitImports: 0,
    clientConstructions: 0,
  };
  const kitNames = new Set<string>();
  const visit = (node: ts.Node) => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier &&
      ts.isStringLiteral(node.moduleSpecifier) &&
      node.moduleSpecifier.text === 'fhir-kit-client'
    ) {
      finding.kitImports++;
      const bindings = ts.isImportDeclaration(node) ? node.importClause?.namedBindings : undefined;
      if (bindings && ts.isNamedImports(bindings)) for (const el of bindings.elements) kitNames.add(el.name.text);
      if (ts.isImportDeclaration(node) && node.importClause?.name) kitNames.add(node.importClause.name.text);
    }
    if (node.kind === ts.SyntaxKind.CallExpression) {
      const call = node as ts.CallExpression;
      if (
        call.expression.kind === ts.SyntaxKind.ImportKeyword &&
        call.arguments[0] &&
        ts.isStringLiteral(call.arguments[0]) &&
        call.arguments[0].text === 'fhir-kit-client'
      )
        finding.kitImports++;
      const callee = call.expression;
      const name = ts.isIdentifier(callee)
        ? callee.text
        : ts.isPropertyAccessExpression(callee)
          ? callee.name.text
          : undefined;
      if (name === 'fetch') finding.fetches++;
    }
    if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && kitNames.has(node.expression.text))
      finding.clientConstructions++;
    ts.forEachChild(node, visit);
  };
  visit(source);
  return finding;
}

const findings = sourceFiles(SRC).map(scan);

describe('one FHIR client', () => {
  it('finds the source files (the scan is not looking at an empty folder)', () => {
    expect(findings.length).toBeGreaterThan(50);
    expect(findings.some((f) => f.file === `${CLIENT_MODULE}client.ts` && f.kitImports > 0)).toBe(true);
  });

  it('only src/platform/fhir-client imports fhir-kit-client or constructs its Client', () => {
    const outside = findings
      .filter((f) => !f.file.startsWith(CLIENT_MODULE) && (f.kitImports > 0 || f.clientConstructions > 0))
      .map((f) => f.file);
    expect(outside, 'call FHIR servers through src/platform/fhir-client (FhirClient) instead').toEqual([]);
  });

  it('no fetch( outside the client module, except the listed non-FHIR endpoints (each with its exact number of calls)', () => {
    const calls = Object.fromEntries(
      findings.filter((f) => !f.file.startsWith(CLIENT_MODULE) && f.fetches > 0).map((f) => [f.file, f.fetches]),
    );
    const allowed = Object.fromEntries(Object.entries(NON_FHIR_FETCHES).map(([file, a]) => [file, a.calls]));
    expect(
      calls,
      'a FHIR server is called through src/platform/fhir-client; a new non-FHIR fetch goes in NON_FHIR_FETCHES with its reason',
    ).toEqual(allowed);
  });
});
