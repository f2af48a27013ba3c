/**
 * Symbolic link chains of host paths, as a pure function over a `readlink`.
 *
 * On NixOS the host files a program needs are chains of links into the store:
 * `/etc/localtime → /etc/zoneinfo/… ; /etc/zoneinfo → /etc/static/zoneinfo ;
 * /etc/static → /nix/store/…-etc/etc ; …-etc/etc/zoneinfo → /nix/store/…-tzdata/…`.
 * followChain resolves a path the way the kernel does (component by component, a link's
 * target taking the place of the link, `..` going up from where a link led) and records
 * every link it met, so that the jail can have the same links and the store entries they
 * pass through.
 */
import path from 'node:path';
import {JailError} from '../errors.js';

/** A link's target, or undefined when the path is not a symbolic link (or does not exist). */
export type ReadLink = (candidate: string) => string | undefined;

export interface LinkStep {
  /** Where the link is (an absolute path with no link before it). */
  path: string;
  /** What it holds, as written. */
  target: string;
}

export interface Chain {
  /** The links met, in the order the resolution met them. */
  links: LinkStep[];
  /** The path with every link resolved (it may not exist). */
  end: string;
}

/** The kernel's limit on links followed in one resolution (ELOOP past it). */
export const MAX_LINKS = 40;

// Stryker disable next-line ConditionalExpression,StringLiteral: path.join drops a '.' component the same way.
const components = (value: string): string[] => value.split('/').filter(part => part !== '' && part !== '.');

export const followChain = (start: string, readlink: ReadLink): Chain => {
  if (!path.isAbsolute(start)) throw new JailError('usage', `not an absolute path: ${JSON.stringify(start)}`);
  const links: LinkStep[] = [];
  let resolved = '/';
  const remaining = components(start);
  while (remaining.length > 0) {
    const part = remaining.shift()!;
    // `..` goes up from the resolved path, never through a link; path.join gives the same
    // parent, and readlink of a resolved directory finds no link: a fast path.
    // Stryker disable next-line all
    if (part === '..') {
      resolved = path.dirname(resolved);
      continue;
    }
    const candidate = path.join(resolved, part);
    const target = readlink(candidate);
    if (target === undefined) {
      resolved = candidate;
      continue;
    }
    links.push({path: candidate, target});
    if (links.length > MAX_LINKS) throw new JailError('usage', `${start}: too many levels of symbolic links`);
    remaining.unshift(...components(target));
    if (path.isAbsolute(target)) resolved = '/';
  }
  return {links, end: resolved};
};
