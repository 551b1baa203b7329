// Plain JSON objects are judged by shape: an object from another realm (a vm context, a test runner's sandbox,
// Node's structuredClone seen from one) is as plain as a local one, and a class instance from any realm is not.
import vm from 'node:vm';
import { describe, expect, it } from '@jest/globals';
import { isObjectPrototype, isPlainObject, isPlainPrototype } from '../../src/platform/json.js';
import { validateResource } from '../../src/validation/index.js';

const otherRealm = (source: string): unknown => vm.runInNewContext(source);

describe('plain JSON objects', () => {
  it('accepts objects from JSON.parse, object literals and Object.create(null), here and in another realm', () => {
    for (const value of [
      JSON.parse('{"a":1}'),
      { a: 1 },
      Object.create(null),
      otherRealm('({ a: 1 })'),
      otherRealm('JSON.parse("{}")'),
      otherRealm('Object.create(null)'),
    ])
      expect(isPlainObject(value)).toBe(true);
  });

  it('refuses arrays, class instances and objects inheriting from a plain object, from any realm', () => {
    class Resource {}
    for (const value of [
      [],
      new Date(0),
      new Map(),
      new Resource(),
      Object.create({ inherited: true }),
      otherRealm('[]'),
      otherRealm('new Date(0)'),
      otherRealm('new (class Resource {})()'),
      otherRealm('Object.create({ inherited: true })'),
      null,
      'a string',
    ])
      expect(isPlainObject(value)).toBe(false);
  });

  it('tells a null prototype from an Object.prototype', () => {
    expect(isPlainPrototype(null)).toBe(true);
    expect(isObjectPrototype(null)).toBe(false);
    expect(isObjectPrototype(otherRealm('Object.prototype'))).toBe(true);
    // An object posing as a prototype, with a constructor that is not the native Object.
    expect(isPlainPrototype(Object.assign(Object.create(null), { constructor: function Object() {} }))).toBe(false);
  });

  it('validates a resource made in another realm like the same resource made here', () => {
    const source = { resourceType: 'Patient', id: 'p1', birthDate: '1972-11-30', gender: 'female' };
    const here = validateResource(structuredClone(source));
    const there = validateResource(otherRealm(`(${JSON.stringify(source)})`) as typeof source);
    expect(there).toEqual(here);
    expect(JSON.stringify(there)).not.toContain('not a plain JSON object');
  });
});
