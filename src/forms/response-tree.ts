/**
 * A QuestionnaireResponse as a tree of nodes (root, items, and the items nested under answers), each with
 * its FHIRPath location, so that every check can point at the element it is about. Built defensively from
 * untrusted JSON: non-objects are skipped (the structural validator reports them), depth and size are capped.
 */
import { asArray, asString, isObject, own, type Json } from './sdc.js';
import { MAX_ITEM_DEPTH, MAX_ITEMS, type IndexedItem } from './questionnaire-index.js';

export interface ResponseNode {
  /** undefined for the root (the QuestionnaireResponse itself). */
  linkId: string | undefined;
  raw: Json;
  /** FHIRPath, e.g. `QuestionnaireResponse.item[1].answer[0].item[2]`. */
  path: string;
  /** Steps from the root, to find the same node in another copy of the response. */
  locator: ReadonlyArray<readonly ['item' | 'answer', number]>;
  answers: Json[];
  parent: ResponseNode | undefined;
  children: ResponseNode[];
  /** The Questionnaire item this node answers, once matched. */
  qItem?: IndexedItem;
  depth: number;
}

export interface ResponseTree {
  root: ResponseNode;
  byLinkId: Map<string, ResponseNode[]>;
  /** True when depth or size caps cut the walk short. */
  truncated: boolean;
}

export function buildResponseTree(response: Json): ResponseTree {
  const root: ResponseNode = {
    linkId: undefined,
    raw: response,
    path: 'QuestionnaireResponse',
    locator: [],
    answers: [],
    parent: undefined,
    children: [],
    depth: 0,
  };
  const tree: ResponseTree = { root, byLinkId: new Map(), truncated: false };
  let count = 0;
  // Iterative, so hostile nesting cannot overflow the stack.
  const queue: ResponseNode[] = [root];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    const add = (items: unknown, basePath: string, baseLocator: ResponseNode['locator']) => {
      asArray(items).forEach((raw, i) => {
        if (!isObject(raw)) return;
        if (++count > MAX_ITEMS || parent.depth >= MAX_ITEM_DEPTH * 2) {
          tree.truncated = true;
          return;
        }
        const node: ResponseNode = {
          linkId: asString(own(raw, 'linkId')),
          raw,
          path: `${basePath}.item[${i}]`,
          locator: [...baseLocator, ['item', i]],
          answers: asArray(own(raw, 'answer')).filter(isObject),
          parent,
          children: [],
          depth: parent.depth + 1,
        };
        parent.children.push(node);
        if (node.linkId !== undefined) {
          const list = tree.byLinkId.get(node.linkId) ?? [];
          list.push(node);
          tree.byLinkId.set(node.linkId, list);
        }
        queue.push(node);
      });
    };
    add(own(parent.raw, 'item'), parent.path, parent.locator);
    if (parent !== root) {
      asArray(own(parent.raw, 'answer')).forEach((answer, j) => {
        if (isObject(answer))
          add(own(answer, 'item'), `${parent.path}.answer[${j}]`, [...parent.locator, ['answer', j]]);
      });
    }
  }
  return tree;
}

/** The same node in another copy of the response (e.g. the copy handed to fhirpath.js, which mutates it). */
export function locate(copy: unknown, locator: ResponseNode['locator']): unknown {
  let current: unknown = copy;
  for (const [key, i] of locator) {
    current = asArray(own(current, key))[i];
    if (current === undefined) return undefined;
  }
  return current;
}

/** Nodes from the root down to this node (inclusive). */
export function ancestry(node: ResponseNode): ResponseNode[] {
  const out: ResponseNode[] = [];
  for (let n: ResponseNode | undefined = node; n; n = n.parent) out.unshift(n);
  return out;
}
