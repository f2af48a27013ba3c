/**
 * The closure of a request: the union of what every source contributes.
 *
 *  - a closure file is taken as a closed set, as `closureInfo` writes it;
 *  - a graph gives the closure of each root it describes (all of it when there are no roots);
 *  - roots that neither describes get their closure from `nix-store -qR`, in one call.
 *
 * Every entry of the result must exist in the store directory.
 */
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import {storePrefixes, type StoreEntryName} from '../store.js';
import {parseClosureFile, readClosureFile} from './file.js';
import {closureOfGraph, parseGraph, readGraph} from './graph.js';
import {nixClosure} from './nix.js';
import {resolveIntoStore} from './resolve.js';

export interface ClosureRequest {
  /** Host directory holding the store. */
  storeDir: string;
  /** Paths whose closures are wanted (positional arguments and `--also`). */
  roots: readonly string[];
  closureFiles: readonly string[];
  graphs: readonly string[];
  /**
   * Check that every entry exists (a stat each). Callers that build a mask may skip it: the
   * builder sees every closure entry in its scan of the store, or refuses.
   */
  verifyPresent?: boolean;
}

export interface Closure {
  storeDir: string;
  /** Entry names of the roots, in the order given. */
  roots: StoreEntryName[];
  entries: Set<StoreEntryName>;
}

export const assertStoreDir = (storeDir: string): void => {
  let stats: fs.Stats;
  try {
    stats = fs.statSync(storeDir);
  } catch {
    throw new JailError('bad-store', `store directory does not exist: ${storeDir}`);
  }
  if (!stats.isDirectory()) throw new JailError('bad-store', `store is not a directory: ${storeDir}`);
};

export const computeClosure = async (request: ClosureRequest): Promise<Closure> => {
  const storeDir = path.resolve(request.storeDir);
  assertStoreDir(storeDir);
  const prefixes = storePrefixes(storeDir);
  const roots = request.roots.map(root => resolveIntoStore(root, storeDir, prefixes).entry);
  if (roots.length === 0 && request.closureFiles.length === 0 && request.graphs.length === 0) {
    throw new JailError('usage', 'nothing to jail: give a store path, --also, --closure-file or --graph');
  }

  const entries = new Set<StoreEntryName>();
  for (const file of request.closureFiles) {
    for (const name of parseClosureFile(readClosureFile(file), prefixes, file)) entries.add(name);
  }
  const unexplained = new Set(roots.filter(root => !entries.has(root)));
  for (const file of request.graphs) {
    const graph = parseGraph(readGraph(file), prefixes, file);
    const described = [...unexplained].filter(root => graph.has(root));
    const graphRoots = roots.length === 0 ? undefined : described;
    for (const name of closureOfGraph(graph, graphRoots, file)) entries.add(name);
    for (const root of described) unexplained.delete(root);
  }
  for (const name of await nixClosure([...unexplained], prefixes)) entries.add(name);

  const missing = request.verifyPresent === false ? [] : [...entries].filter(name => !exists(path.join(storeDir, name)));
  if (missing.length > 0) {
    const more = missing.length > 1 ? ` (and ${missing.length - 1} more)` : '';
    throw new JailError('no-such-entry', `store entry does not exist: ${path.join(storeDir, missing[0]!)}${more}`);
  }
  return {storeDir, roots, entries};
};

const exists = (candidate: string): boolean => {
  try {
    fs.lstatSync(candidate);
    return true;
  } catch {
    return false;
  }
};
