/**
 * The host as planHostResources sees it: links read with readlink(2), directories walked
 * without following links, within bounds (a bound directory is walked on every start).
 */
import fs from 'node:fs';
import path from 'node:path';
import type {HostView} from './resources.js';

/** How deep, and how many directory entries at most, a bound directory is walked for links. */
export const WALK_DEPTH = 4;
export const WALK_ENTRIES = 4096;

export const readLink = (candidate: string): string | undefined => {
  try {
    // lstat first: most components are not links, and a failed readlink costs an exception.
    return fs.lstatSync(candidate, {throwIfNoEntry: false})?.isSymbolicLink() ? fs.readlinkSync(candidate) : undefined;
  } catch {
    return undefined;
  }
};

/** The links below `dir`; `walked` hears of each directory the walk listed. */
export const linksInside = (dir: string, walked?: (listed: string) => void): string[] => {
  const links: string[] = [];
  let budget = WALK_ENTRIES;
  const walk = (current: string, depth: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(current, {withFileTypes: true});
    } catch {
      return;
    }
    walked?.(current);
    for (const entry of entries) {
      if (--budget < 0) return;
      const full = path.join(current, entry.name);
      if (entry.isSymbolicLink()) links.push(full);
      else if (entry.isDirectory() && depth < WALK_DEPTH) walk(full, depth + 1);
    }
  };
  walk(dir, 1);
  return links;
};

/**
 * A view for one run: each path's link is read once (the chains of a directory's links share
 * most of their components).
 */
export const hostView = (consulted?: Consulted): HostView => {
  const known = new Map<string, string | undefined>();
  const readlink = (candidate: string): string | undefined => {
    if (known.has(candidate)) return known.get(candidate);
    consulted?.looked.add(candidate);
    const target = readLink(candidate);
    known.set(candidate, target);
    return target;
  };
  return {readlink, linksInside: dir => linksInside(dir, listed => consulted?.listed.add(listed))};
};

/**
 * What planning looked at on the host, for a launch plan to check at each start: paths whose
 * presence or kind it asked about (`looked`), directories whose entries it listed (`listed`),
 * files whose content it read (`read`).
 */
export interface Consulted {
  looked: Set<string>;
  listed: Set<string>;
  read: Set<string>;
}

export const noneConsulted = (): Consulted => ({looked: new Set(), listed: new Set(), read: new Set()});
