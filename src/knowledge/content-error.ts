/**
 * ContentError: what `loadKnowledge` throws when the content folders are not fit to serve. The server prints
 * `message` and refuses to start, so the message is written for the person who has to fix the file:
 * one line per problem, `file › Resource/id › expression: message`.
 */

export interface ContentProblem {
  /** Path of the file at fault, relative to the content folder when it lies inside it. */
  file: string;
  /** `ResourceType/id` of the resource at fault, when known. */
  resource?: string;
  /** FHIRPath to the element at fault, when one is. */
  expression?: string;
  message: string;
}

export function formatProblem(p: ContentProblem): string {
  const where = [p.file, p.resource, p.expression].filter((x): x is string => Boolean(x));
  const head = p.expression ? `${where.slice(0, -1).join(' › ')} › ${p.expression}` : where.join(' › ');
  return `${head}: ${p.message}`;
}

/**
 * One line per problem; the same message for the same resource in many places (an unknown extension used
 * forty times) becomes one line listing the places, so the real problems stay visible.
 */
export function formatProblems(problems: readonly ContentProblem[]): string[] {
  const groups = new Map<string, ContentProblem[]>();
  for (const p of problems) {
    const key = `${p.file}\u0000${p.resource ?? ''}\u0000${p.message}`;
    const list = groups.get(key) ?? [];
    list.push(p);
    groups.set(key, list);
  }
  return [...groups.values()].map((list) => {
    const first = list[0]!;
    if (list.length === 1) return formatProblem(first);
    const more = list
      .slice(1, 4)
      .map((p) => p.expression)
      .filter(Boolean);
    const rest = list.length - 1 - more.length;
    const also = `${more.join(', ')}${rest > 0 ? ` and ${rest} more` : ''}`;
    return `${formatProblem(first)} (also at ${also})`;
  });
}

export class ContentError extends Error {
  readonly problems: ContentProblem[];
  readonly contentDir: string;

  constructor(contentDir: string, problems: ContentProblem[]) {
    const n = problems.length;
    super(
      `The content in ${contentDir} is not valid (${n} problem${n === 1 ? '' : 's'}):\n` +
        formatProblems(problems)
          .map((line) => `  ${line}`)
          .join('\n'),
    );
    this.name = 'ContentError';
    this.problems = problems;
    this.contentDir = contentDir;
  }
}
