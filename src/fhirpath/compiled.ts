/**
 * A small FHIRPath evaluator for the subset decision content uses, compiled to closures over plain JSON.
 *
 * Why: fhirpath.js costs microseconds per element and per call (a context copy per `where()` element, FHIR
 * type lookups per step), and an `$apply` evaluates ≈70 expressions; with it the rules took ≈1.5–2 ms per
 * call. The expressions themselves are simple (answer look-ups, `in`, `and`/`or`, `iif`, counts), and over
 * plain values they cost a few hundred nanoseconds each.
 *
 * Contract: this is an optimisation, never a second meaning. It handles only what it can answer exactly as
 * fhirpath.js does, and says so by throwing `NotCompiled` otherwise:
 * - at compile time, for any syntax or function outside the subset below;
 * - at run time, for any value outside plain strings, finite numbers, booleans and JSON objects, and for
 *   every case where fhirpath.js would throw or apply a rule this file does not (mixed types in a
 *   comparison, a non-boolean where a boolean is expected, a collection where a single value is needed,
 *   primitive extensions such as `_valueInteger`, string escapes, ...).
 * The rules engine then evaluates the whole `$apply` again with fhirpath.js (src/rules/context.ts), so an
 * answer from here is always fhirpath.js's answer. test/rules/compiled.test.ts compares the two on every
 * worked example, test/rules/compiled.slow.test.ts on hundreds of generated responses.
 *
 * Subset: literals (string without escapes, number, boolean, `{}`), `%variables`, `$this`, member
 * navigation (`value` resolves value[x]), `and` `or` `xor`, `=` `!=`, `<` `<=` `>` `>=`, `in`, `|`,
 * `+` `-` `*` `/`, and the functions exists() empty() not() count() where() all() combine() exclude()
 * intersect() iif() toString() toInteger() substring() truncate().
 */
import fhirpath from 'fhirpath';
import { isPlainObject } from '../platform/json.js';

/** Thrown when an expression or a value is outside what this evaluator answers exactly. */
export class NotCompiled extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'NotCompiled';
  }
}

type Env = Record<string, unknown>;
/** A compiled expression: the focus collection and the environment in, a collection out. */
export type CompiledExpression = (focus: unknown[], env: Env) => unknown[];

interface AstNode {
  type: string;
  text?: string;
  atRoot?: number;
  children?: AstNode[];
}

const compiled = new Map<string, CompiledExpression | NotCompiled>();

// Results are never modified once made (every step builds a new collection), so the boolean and empty
// results are shared rather than allocated per step; frozen, so a change would fail loudly.
const TRUE = Object.freeze([true]) as unknown as unknown[];
const FALSE = Object.freeze([false]) as unknown as unknown[];
const EMPTY = Object.freeze([]) as unknown as unknown[];
const bool = (b: boolean): unknown[] => (b ? TRUE : FALSE);

/** Compile (cached) an expression; throws NotCompiled when it uses anything outside the subset. */
export function compileExpression(expression: string): CompiledExpression {
  let hit = compiled.get(expression);
  if (hit === undefined) {
    try {
      hit = compileNode(fhirpath.parse(expression) as AstNode);
    } catch (err) {
      hit = err instanceof NotCompiled ? err : new NotCompiled(`does not parse: ${String(err)}`);
    }
    compiled.set(expression, hit);
  }
  if (hit instanceof NotCompiled) throw hit;
  return hit;
}

const fail = (reason: string): never => {
  throw new NotCompiled(reason);
};

function child(node: AstNode, i: number): AstNode {
  return node.children?.[i] ?? fail(`${node.type} lacks operand ${i}`);
}

type NodeCompiler = (node: AstNode) => CompiledExpression;

/** Nodes that only wrap their one child. */
const compileOnlyChild: NodeCompiler = (node) => compileNode(child(node, 0));

const compileString: NodeCompiler = (node) => {
  const raw = node.text ?? '';
  if (raw.includes('\\')) fail('string escapes');
  const value = raw.slice(1, -1);
  return () => [value];
};

const compileNumber: NodeCompiler = (node) => {
  const value = Number(node.text);
  if (!Number.isFinite(value) || !/^\d+(\.\d+)?$/.test(node.text ?? '')) fail(`number ${node.text}`);
  return () => [value];
};

const compileBoolean: NodeCompiler = (node) => {
  const value = node.text === 'true';
  return () => [value];
};

const compileVariable: NodeCompiler = (node) => {
  const name = identifier(child(child(node, 0), 0));
  return (_focus, env) => variable(env, name);
};

const compileRootMember: NodeCompiler = (node) => {
  const name = identifier(child(node, 0));
  // At the root, an upper-case name may be a type test (`Patient.name`), which this subset lacks.
  if (node.atRoot && /^[A-Z]/.test(name)) fail(`root type name ${name}`);
  const extensionKey = `_${name}`;
  return (focus) => navigate(focus, name, extensionKey);
};

/** `source.member` or `source.function(...)`. */
const compileInvocation: NodeCompiler = (node) => {
  const source = compileNode(child(node, 0));
  const step = child(node, 1);
  if (step.type === 'MemberInvocation') {
    const name = identifier(child(step, 0));
    const extensionKey = `_${name}`;
    return (focus, env) => navigate(source(focus, env), name, extensionKey);
  }
  if (step.type === 'FunctionInvocation') {
    const fn = compileFunction(child(step, 0));
    return (focus, env) => fn(source(focus, env), env);
  }
  return fail(`invocation ${step.type}`);
};

// A function at the root applies to the focus (`exists()` inside where() is `$this.exists()`), except
// iif(), whose result does not depend on it.
const compileRootFunction: NodeCompiler = (node) => {
  const fn = compileFunction(child(node, 0), true);
  return (focus, env) => fn(focus, env);
};

const compileMembership: NodeCompiler = (node) => {
  if (node.text !== 'in') fail(`membership ${node.text}`);
  const [left, right] = operands(node);
  return (focus, env) => {
    const item = left(focus, env);
    const list = right(focus, env);
    if (item.length === 0) return EMPTY;
    if (item.length > 1) fail('`in` needs one item on its left');
    const x = primitive(item[0]);
    return bool(list.some((y) => equals(x, primitive(y))));
  };
};

const compileUnion: NodeCompiler = (node) => {
  const [left, right] = operands(node);
  return (focus, env) => distinct([...left(focus, env), ...right(focus, env)]);
};

/** The syntax this subset compiles, by parse-tree node type; anything else is outside it. */
const NODE_COMPILERS = new Map<string, NodeCompiler>([
  ['EntireExpression', compileOnlyChild],
  ['TermExpression', compileOnlyChild],
  ['ParenthesizedTerm', compileOnlyChild],
  ['InvocationTerm', compileOnlyChild],
  ['LiteralTerm', compileOnlyChild],
  ['StringLiteral', compileString],
  ['NumberLiteral', compileNumber],
  ['BooleanLiteral', compileBoolean],
  ['NullLiteral', () => () => []],
  ['ThisInvocation', () => (focus) => focus],
  ['ExternalConstantTerm', compileVariable],
  ['MemberInvocation', compileRootMember],
  ['InvocationExpression', compileInvocation],
  ['FunctionInvocation', compileRootFunction],
  ['AndExpression', compileLogic],
  ['OrExpression', compileLogic],
  ['EqualityExpression', compileEquality],
  ['InequalityExpression', compileComparison],
  ['MembershipExpression', compileMembership],
  ['UnionExpression', compileUnion],
  ['AdditiveExpression', compileArithmetic],
  ['MultiplicativeExpression', compileArithmetic],
]);

function compileNode(node: AstNode): CompiledExpression {
  const compile = NODE_COMPILERS.get(node.type) ?? fail(`syntax ${node.type}`);
  return compile(node);
}

function identifier(node: AstNode): string {
  if (node.type !== 'Identifier' || node.text === undefined) fail(`identifier ${node.type}`);
  const text = node.text!;
  if (text.startsWith('`')) {
    if (text.includes('\\')) fail('escaped identifier');
    return text.slice(1, -1);
  }
  return text;
}

function operands(node: AstNode): [CompiledExpression, CompiledExpression] {
  return [compileNode(child(node, 0)), compileNode(child(node, 1))];
}

// ------------------------------------------------------------------------------------------- values

/** A value this evaluator understands, else NotCompiled (typed nodes, null, NaN, class instances, ...). */
function checked(v: unknown): unknown {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (isPlainObject(v) || v instanceof Map) return v;
  return fail(`value of type ${v === null ? 'null' : typeof v}`);
}

function variable(env: Env, name: string): unknown[] {
  if (!(name in env)) fail(`undefined variable %${name}`); // fhirpath.js throws; let it say so
  const value = env[name];
  if (!Array.isArray(value)) return [checked(value)];
  // Collections are never modified here (every step builds a new one), so the variable's own is returned.
  for (const v of value) checked(v);
  return value;
}

/**
 * `.name` on each item. Maps (the engine's item indexes) are looked up by key. On JSON objects, `value`
 * resolves the R4 choice element value[x]; a primitive extension (`_name`, passed as `extensionKey`) is
 * outside the subset.
 */
function navigate(focus: unknown[], name: string, extensionKey: string): unknown[] {
  const out: unknown[] = [];
  for (const item of focus) {
    if (item instanceof Map) {
      const found = item.get(name) as unknown[] | undefined;
      if (found) out.push(...found);
      continue;
    }
    if (!isPlainObject(item)) continue; // primitives have no children
    let value = item[name];
    if (value === undefined && name === 'value') value = choiceValue(item);
    if (extensionKey in item) fail(`primitive extension on ${name}`);
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(checked(v));
    else out.push(checked(value));
  }
  return out;
}

function choiceValue(item: Record<string, unknown>): unknown {
  let found: unknown;
  let count = 0;
  for (const key of Object.keys(item)) {
    if (/^_?value[A-Z]/.test(key)) {
      if (key.startsWith('_')) fail('primitive extension on value[x]');
      found = item[key];
      count += 1;
    }
  }
  if (count > 1) fail('several value[x]');
  return found;
}

/** A single string, number or boolean (objects compare by content in fhirpath.js: outside the subset). */
function primitive(v: unknown): string | number | boolean {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  return fail('comparison of an object');
}

function equals(x: string | number | boolean, y: string | number | boolean): boolean {
  if (typeof x !== typeof y) fail('equality of mixed types');
  return x === y;
}

/** Deep equality of plain JSON (fhirpath.js's for elements without decimals or primitive extensions). */
function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || typeof a !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) return arraysEqual(a, b);
  return objectsEqual(a as Record<string, unknown>, b as Record<string, unknown>);
}

function arraysEqual(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
  return a.every((x, i) => deepEqual(x, b[i]));
}

function objectsEqual(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (k.startsWith('_')) fail('primitive extension in a compared element');
    if (typeof a[k] === 'number' && !Number.isInteger(a[k])) fail('decimal in a compared element');
    if (!deepEqual(a[k], b[k])) return false;
  }
  return true;
}

function sameItem(x: unknown, y: unknown): boolean {
  if (typeof x === 'object' || typeof y === 'object') return deepEqual(x, y);
  return equals(primitive(x), primitive(y));
}

function distinct(items: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const x of items) if (!out.some((y) => equals(primitive(x), primitive(y)))) out.push(x);
  return out;
}

/** Singleton evaluation to a boolean: empty -> undefined (unknown); anything but one boolean is outside the subset. */
function singleBoolean(c: unknown[]): boolean | undefined {
  if (c.length === 0) return undefined;
  if (c.length === 1 && typeof c[0] === 'boolean') return c[0];
  return fail('expected a single boolean');
}

function singleOf<T>(c: unknown[], type: 'string' | 'number', what: string): T | undefined {
  if (c.length === 0) return undefined;
  if (c.length === 1 && typeof c[0] === type) return c[0] as T;
  return fail(`${what} needs a single ${type}`);
}

// ------------------------------------------------------------------------------------------ operators

function compileLogic(node: AstNode): CompiledExpression {
  const [left, right] = operands(node);
  const op = node.text;
  if (op !== 'and' && op !== 'or' && op !== 'xor') fail(`operator ${op}`);
  return (focus, env) => {
    // fhirpath.js evaluates both sides (so errors on either side surface): so does this.
    const a = singleBoolean(left(focus, env));
    const b = singleBoolean(right(focus, env));
    if (op === 'and') {
      if (a === false || b === false) return FALSE;
      return a === undefined || b === undefined ? EMPTY : TRUE;
    }
    if (op === 'or') {
      if (a === true || b === true) return TRUE;
      return a === undefined || b === undefined ? EMPTY : FALSE;
    }
    return a === undefined || b === undefined ? EMPTY : bool(a !== b);
  };
}

function compileEquality(node: AstNode): CompiledExpression {
  const [left, right] = operands(node);
  const negate = node.text === '!=';
  if (node.text !== '=' && !negate) fail(`operator ${node.text}`);
  return (focus, env) => {
    const a = left(focus, env);
    const b = right(focus, env);
    if (a.length === 0 || b.length === 0) return [];
    if (a.length !== 1 || b.length !== 1) fail('equality of collections');
    const same = equals(primitive(a[0]), primitive(b[0]));
    return bool(negate ? !same : same);
  };
}

function compileComparison(node: AstNode): CompiledExpression {
  const [left, right] = operands(node);
  const op = node.text;
  const test: Record<string, (x: number | string, y: number | string) => boolean> = {
    '<': (x, y) => x < y,
    '<=': (x, y) => x <= y,
    '>': (x, y) => x > y,
    '>=': (x, y) => x >= y,
  };
  const compare = test[op ?? ''] ?? fail(`operator ${op}`);
  return (focus, env) => {
    const a = left(focus, env);
    const b = right(focus, env);
    if (a.length === 0 || b.length === 0) return [];
    if (a.length !== 1 || b.length !== 1) fail('comparison of collections');
    const x = a[0];
    const y = b[0];
    if (!((typeof x === 'number' && typeof y === 'number') || (typeof x === 'string' && typeof y === 'string')))
      fail('comparison of mixed types');
    return bool(compare(x as number | string, y as number | string));
  };
}

function compileArithmetic(node: AstNode): CompiledExpression {
  const [left, right] = operands(node);
  const op = node.text;
  if (op !== '+' && op !== '-' && op !== '*' && op !== '/') fail(`operator ${op}`);
  return (focus, env) => {
    const a = left(focus, env);
    const b = right(focus, env);
    if (a.length === 0 || b.length === 0) return [];
    if (a.length !== 1 || b.length !== 1) fail('arithmetic on collections');
    const x = a[0];
    const y = b[0];
    if (op === '+' && typeof x === 'string' && typeof y === 'string') return [x + y];
    if (typeof x !== 'number' || typeof y !== 'number') return fail('arithmetic on non-numbers');
    if (op === '+') return [x + y];
    if (op === '-') return [x - y];
    if (op === '*') return [x * y];
    return y === 0 ? [] : [x / y]; // division by zero is empty in FHIRPath
  };
}

// ------------------------------------------------------------------------------------------ functions

/** Whether an expression reads its focus: `$this`, or a member or function at its root. */
function readsFocus(node: AstNode): boolean {
  if (node.type === 'ThisInvocation' || (node.type === 'MemberInvocation' && node.atRoot)) return true;
  if (node.type === 'FunctionInvocation')
    return functionName(node) !== 'iif' || (child(child(node, 0), 1).children ?? []).some(readsFocus);
  if (node.type === 'InvocationExpression') return readsFocus(child(node, 0));
  return (node.children ?? []).some(readsFocus);
}

type CompiledFunction = (input: unknown[], env: Env) => unknown[];

function functionName(invocation: AstNode): string {
  return identifier(child(child(invocation, 0), 0));
}

/** A function invocation being compiled: its name, its argument expressions, and whether it is at the root. */
interface FunctionCall {
  name: string;
  params: AstNode[];
  atRoot: boolean;
}

type FunctionCompiler = (call: FunctionCall) => CompiledFunction;

function arity(call: FunctionCall, n: number, max = n): void {
  if (call.params.length < n || call.params.length > max) fail(`${call.name}() with ${call.params.length} arguments`);
}

/**
 * An ordinary argument. Which focus fhirpath.js gives it differs by function, so an argument that reads
 * the focus (`$this`, or a name at its root) is outside the subset; the content passes variables and literals.
 */
function arg(call: FunctionCall, i: number): CompiledExpression {
  if (readsFocus(call.params[i]!)) fail(`${call.name}() argument reads the focus`);
  return compileNode(call.params[i]!);
}

/** A criteria argument (where, all): evaluated once per item with that item as `$this`. */
function perItem(call: FunctionCall, i: number): (item: unknown, env: Env) => boolean | undefined {
  const criteria = compileNode(call.params[i]!);
  return (item: unknown, env: Env) => singleBoolean(criteria([item], env));
}

const compileExists: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => bool(input.length > 0);
};

const compileEmpty: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => bool(input.length === 0);
};

const compileCount: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => [input.length];
};

const compileNot: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => {
    const b = singleBoolean(input);
    return b === undefined ? EMPTY : bool(!b);
  };
};

const compileWhere: FunctionCompiler = (call) => {
  arity(call, 1);
  const test = perItem(call, 0);
  return (input, env) => input.filter((item) => test(item, env) === true);
};

const compileAll: FunctionCompiler = (call) => {
  arity(call, 1);
  const test = perItem(call, 0);
  return (input, env) => bool(input.every((item) => test(item, env) === true));
};

/** combine(), exclude(), intersect(): the input with the argument's collection. */
function compileSetOperation(apply: (input: unknown[], others: unknown[]) => unknown[]): FunctionCompiler {
  return (call) => {
    arity(call, 1);
    const other = arg(call, 0);
    return (input, env) => apply(input, other(input, env));
  };
}

const compileIif: FunctionCompiler = (call) => {
  arity(call, 2, 3);
  const criterion = arg(call, 0);
  const then = arg(call, 1);
  const otherwise = call.params.length === 3 ? arg(call, 2) : () => [];
  const atRoot = call.atRoot;
  return (input, env) => {
    if (!atRoot && input.length > 1) fail('iif() on a collection');
    return singleBoolean(criterion(input, env)) === true ? then(input, env) : otherwise(input, env);
  };
};

const compileToString: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => {
    // An integer reads the same in every FHIRPath engine; a decimal's formatting is left to fhirpath.js.
    if (input.length === 1 && typeof input[0] === 'number' && Number.isInteger(input[0])) return [String(input[0])];
    const s = singleOf<string>(input, 'string', 'toString()');
    return s === undefined ? [] : [s];
  };
};

const compileToInteger: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => {
    if (input.length === 0) return [];
    const s = singleOf<string>(input, 'string', 'toInteger()');
    return /^[+-]?\d+$/.test(s!) ? [Number(s)] : [];
  };
};

const compileSubstring: FunctionCompiler = (call) => {
  arity(call, 1, 2);
  const start = arg(call, 0);
  const length = call.params.length === 2 ? arg(call, 1) : undefined;
  return (input, env) => {
    const s = singleOf<string>(input, 'string', 'substring()');
    if (s === undefined) return [];
    const from = singleOf<number>(start(input, env), 'number', 'substring() start');
    const count = length ? singleOf<number>(length(input, env), 'number', 'substring() length') : undefined;
    if (from === undefined || !Number.isInteger(from) || (count !== undefined && !Number.isInteger(count)))
      return fail('substring() arguments');
    if (from < 0 || from >= s.length) return [];
    return [count === undefined ? s.slice(from) : s.slice(from, from + Math.max(0, count))];
  };
};

const compileTruncate: FunctionCompiler = (call) => {
  arity(call, 0);
  return (input) => {
    const n = singleOf<number>(input, 'number', 'truncate()');
    return n === undefined ? [] : [Math.trunc(n)];
  };
};

/** The functions this subset compiles; any other is outside it. */
const FUNCTION_COMPILERS = new Map<string, FunctionCompiler>([
  ['exists', compileExists],
  ['empty', compileEmpty],
  ['count', compileCount],
  ['not', compileNot],
  ['where', compileWhere],
  ['all', compileAll],
  ['combine', compileSetOperation((input, others) => [...input, ...others])],
  ['exclude', compileSetOperation((input, others) => input.filter((x) => !others.some((y) => sameItem(x, y))))],
  [
    'intersect',
    compileSetOperation((input, others) => distinct(input.filter((x) => others.some((y) => sameItem(x, y))))),
  ],
  ['iif', compileIif],
  ['toString', compileToString],
  ['toInteger', compileToInteger],
  ['substring', compileSubstring],
  ['truncate', compileTruncate],
]);

function compileFunction(fn: AstNode, atRoot = false): CompiledFunction {
  const name = identifier(child(fn, 0));
  const params = fn.children?.[1]?.children ?? [];
  const compile = FUNCTION_COMPILERS.get(name) ?? fail(`function ${name}()`);
  return compile({ name, params, atRoot });
}
