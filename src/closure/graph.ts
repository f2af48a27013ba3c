/**
 * Closure graphs: the JSON of `nix path-info --json --recursive`. Older Nix writes an array of
 * `{path, references}` objects; newer Nix an object keyed by store path (a value of null marks
 * a path that is not valid). References may be full paths or bare entry names.
 */
import fs from 'node:fs';
import {JailError, reason} from '../errors.js';
import {entryOfListedPath, type StoreEntryName} from '../store.js';

/** Entry name → names it references. */
export type ReferenceGraph = Map<StoreEntryName, StoreEntryName[]>;

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const referencesOf = (info: Record<string, unknown>, where: string): string[] => {
  const references = info['references'] ?? [];
  if (!Array.isArray(references) || !references.every(reference => typeof reference === 'string')) {
    throw new JailError('bad-closure', `${where}: "references" must be a list of store paths`);
  }
  return references as string[];
};

export const parseGraph = (text: string, prefixes: readonly string[], source: string): ReferenceGraph => {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    throw new JailError('bad-closure', `${source}: not valid JSON: ${reason(error)}`);
  }
  const graph: ReferenceGraph = new Map();
  const add = (pathValue: string, info: Record<string, unknown>, where: string): void => {
    const name = entryOfListedPath(pathValue, prefixes, where);
    const references = referencesOf(info, where).map(reference => entryOfListedPath(reference, prefixes, where));
    graph.set(name, [...(graph.get(name) ?? []), ...references]);
  };

  if (Array.isArray(document)) {
    document.forEach((info, index) => {
      const where = `${source}: entry ${index}`;
      if (!isRecord(info) || typeof info['path'] !== 'string') {
        throw new JailError('bad-closure', `${where}: expected an object with a "path" string`);
      }
      if (info['valid'] === false) throw new JailError('bad-closure', `${where}: ${info['path']} is not a valid store path`);
      add(info['path'], info, where);
    });
  } else if (isRecord(document)) {
    for (const [pathValue, info] of Object.entries(document)) {
      const where = `${source}: ${pathValue}`;
      if (info === null) throw new JailError('bad-closure', `${where}: not a valid store path`);
      if (!isRecord(info)) throw new JailError('bad-closure', `${where}: expected an object`);
      add(pathValue, info, where);
    }
  } else {
    throw new JailError('bad-closure', `${source}: expected the JSON of 'nix path-info --json --recursive' (an array or an object)`);
  }
  return graph;
};

/**
 * Everything reachable from the roots through references (the roots included); with no
 * roots, every path of the graph. Iterative, so cycles and deep chains are fine. A reference
 * that the graph does not describe is an error: the graph would not be a closure.
 */
export const closureOfGraph = (
  graph: ReferenceGraph,
  roots: Iterable<StoreEntryName> | undefined,
  source: string,
): Set<StoreEntryName> => {
  const closure = new Set<StoreEntryName>();
  const pending = roots === undefined ? [...graph.keys()] : [...roots];
  while (pending.length > 0) {
    const name = pending.pop()!;
    // Stryker disable next-line ConditionalExpression: without it a name is expanded again, to the same closure.
    if (closure.has(name)) continue;
    const references = graph.get(name);
    if (references === undefined) {
      throw new JailError('bad-closure', `${source}: ${name} is referenced but not described (is it the output of 'nix path-info --json --recursive'?)`);
    }
    closure.add(name);
    // Stryker disable next-line ConditionalExpression: pushing a known name only costs a pop.
    for (const reference of references) if (!closure.has(reference)) pending.push(reference);
  }
  return closure;
};

export const readGraph = (file: string): string => {
  try {
    // Stryker disable next-line all: standard input is read in the integration tests.
    const source = file === '-' ? 0 : file;
    return fs.readFileSync(source, 'utf8');
  } catch (error) {
    throw new JailError('bad-closure', `cannot read graph ${file}: ${reason(error)}`);
  }
};
