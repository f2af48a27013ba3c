/**
 * Host resources: what a host path that enters the jail needs from the store, as a pure plan.
 *
 * A path whose link chain ends in the store (NixOS's /etc/localtime, /etc/fonts,
 * /run/opengl-driver) gets the same chain in the jail: each link outside the store is made
 * again with the same target, each store entry the chain passes through joins the jail's
 * store, and the entry it ends in joins with its closure (what its files refer to). Any other
 * path is bound as given (the mount follows its links on the host); when it is a directory
 * bound read-only, the links inside it are followed the same way, so a link into /etc/static
 * or the store still resolves in the jail.
 *
 * An entry a chain only passes through joins alone: NixOS's `…-etc` entry refers to most of
 * the system, and the jail needs its links, not what they all lead to.
 */
import {JailError} from '../errors.js';
import type {Bind} from '../jail/args.js';
import {coversStore, entryOfPath, JAIL_STORE, type StoreEntryName} from '../store.js';
import {followChain, type Chain, type ReadLink} from './chain.js';

export interface HostResource extends Bind {
  /** The option that asked for it, for --dry-run and verify (`--fonts`, `--ro-bind`). */
  by: string;
  /** The caller's variable its path was taken from (`TZDIR`), when it was. */
  variable?: string | undefined;
  /** Named by the caller on the command line (--bind, --ro-bind): bound as asked, wherever it leads. */
  asked?: boolean | undefined;
}

/** Where Nix keeps its database and the daemon's socket, which no option ever brings into a jail. */
export const NIX_STATE = '/nix/var';

/**
 * Refuse a resource that would show the jail what the mask hides: one `bound` onto the store
 * (the rule --bind follows; a path in the store itself is not bound, its entry joins), and, for one an option brings (its path often taken from a
 * variable), one whose source leads to the store itself or above it, to a dot entry of the
 * store (.links holds every file of it), or into Nix's state. `end` is the source with every
 * link resolved.
 */
export const assertHostResource = (resource: HostResource, end: string, storeDir: string, bound: boolean): void => {
  const subject = resource.variable === undefined ? `${resource.by} ${resource.source}` : `${resource.by}: ${resource.variable} names ${resource.source}, which`;
  if (bound && coversStore(resource.dest)) throw new JailError('usage', `${subject} would be bound onto ${resource.dest}, covering the jail's /nix/store: refused`);
  if (resource.asked) return;
  const storeItself = [storeDir, JAIL_STORE].some(store => isBelow(store, end));
  const entry = entryOfPath(end, [storeDir, JAIL_STORE]);
  const shown = storeItself ? 'the whole store' : entry?.startsWith('.') ? `the store's ${entry}` : isBelow(end, NIX_STATE) ? 'Nix\'s database and daemon' : undefined;
  if (shown !== undefined) throw new JailError('usage', `${subject} leads to ${end}: binding it would show the jail ${shown}: refused`);
};

export interface HostView {
  readlink: ReadLink;
  /** The symbolic links below a host directory (a bounded walk that follows none). */
  linksInside: (dir: string) => string[];
}

export interface AddedEntry {
  /** The resource that brought it first. */
  by: string;
  /** The host path whose chain met it. */
  via: string;
  /** Whether its closure joins too (the chain ends in it), or only the entry (it passes through). */
  withClosure: boolean;
}

export interface HostPlan {
  binds: HostResource[];
  /** Links made in the jail, the same as on the host. */
  links: Array<{target: string; dest: string}>;
  added: Map<StoreEntryName, AddedEntry>;
}

const isBelow = (candidate: string, dir: string): boolean =>
  candidate === dir ||
  // Stryker disable next-line ConditionalExpression,StringLiteral: no destination is '/' (parseBind refuses it).
  candidate.startsWith(dir === '/' ? '/' : `${dir}/`);

/** Where a made link could change another mount's meaning or land on a file system the jail makes itself. */
const RESERVED = [JAIL_STORE, '/proc', '/dev'];

/**
 * `taken` are the jail's destinations made otherwise (binds, files such as /etc/passwd): a
 * link is never made at, above or below one of them.
 */
export const planHostResources = (
  resources: readonly HostResource[],
  host: HostView,
  storeDir: string,
  taken: readonly string[],
): HostPlan => {
  const prefixes = [storeDir];
  const plan: HostPlan = {binds: [], links: [], added: new Map()};
  const seenDests = new Set<string>();
  const chains = new Map<string, Chain>();
  const chainOf = (start: string): Chain => {
    let chain = chains.get(start);
    // Stryker disable next-line ConditionalExpression: following a chain again gives the same chain.
    if (chain === undefined) chains.set(start, chain = followChain(start, host.readlink));
    return chain;
  };
  const add = (entry: StoreEntryName, by: string, via: string, withClosure: boolean): void => {
    const known = plan.added.get(entry);
    if (known === undefined) plan.added.set(entry, {by, via, withClosure});
    else if (withClosure && !known.withClosure) known.withClosure = true;
  };

  // First the resources that are bound: made links must keep out of their way.
  const recreated: Array<{resource: HostResource; chain: Chain}> = [];
  for (const resource of resources) {
    if (seenDests.has(resource.dest)) continue;
    seenDests.add(resource.dest);
    const chain = chainOf(resource.source);
    const end = entryOfPath(chain.end, prefixes);
    // Links can be made again only where the jail sees the store where the host has it; a
    // path in the store itself (LOCALE_ARCHIVE) needs only its entry.
    const recreate = end !== undefined && resource.dest === resource.source && storeDir === JAIL_STORE;
    assertHostResource(resource, chain.end, storeDir, !recreate);
    if (recreate) {
      recreated.push({resource, chain});
    } else {
      plan.binds.push(resource);
    }
  }
  const bound = plan.binds.map(bind => bind.dest);
  const blocked = [...bound, ...taken];
  const makeLink = (dest: string, target: string): void => {
    if (plan.links.some(link => link.dest === dest)) return;
    if (RESERVED.some(reserved => isBelow(dest, reserved))) return;
    if (blocked.some(other => isBelow(dest, other) || isBelow(other, dest))) return;
    plan.links.push({target, dest});
  };
  /** Take a chain met from `via` into the jail; links below `providedBy` come with a bind. */
  const takeChain = (chain: Chain, by: string, via: string, providedBy: string | undefined): void => {
    for (const link of chain.links) {
      const entry = entryOfPath(link.path, prefixes);
      if (entry !== undefined) add(entry, by, via, false);
      // Stryker disable next-line ConditionalExpression: isBelow(path, undefined) is false, the same answer.
      else if (providedBy === undefined || !isBelow(link.path, providedBy)) makeLink(link.path, link.target);
    }
    const end = entryOfPath(chain.end, prefixes);
    if (end !== undefined) add(end, by, via, true);
  };

  for (const {resource, chain} of recreated) takeChain(chain, resource.by, resource.source, undefined);
  for (const bind of plan.binds) {
    const chain = chainOf(bind.source);
    const end = entryOfPath(chain.end, prefixes);
    if (end !== undefined) {
      // The mount shows the entry's files; what they refer to must be there too.
      add(end, bind.by, bind.source, true);
      continue;
    }
    // A read-write bind is working data (a project, a download directory): large, changing while
    // the jail runs, and not a host configuration whose links lead into the store.
    if (!bind.readOnly) continue;
    for (const inner of host.linksInside(chain.end)) {
      let innerChain: Chain;
      try {
        innerChain = chainOf(inner);
      } catch {
        // A link inside that resolves nowhere (a loop) is as broken in the jail as on the host:
        // it leads into no store entry, and the rest of the directory is still bound.
        continue;
      }
      takeChain(innerChain, bind.by, inner, chain.end);
    }
  }
  return plan;
};

/** The entries a plan adds with their closures, and those it adds alone, each sorted. */
export const addedEntries = (plan: HostPlan): {withClosure: StoreEntryName[]; alone: StoreEntryName[]} => {
  const withClosure: StoreEntryName[] = [];
  const alone: StoreEntryName[] = [];
  for (const [entry, added] of plan.added) (added.withClosure ? withClosure : alone).push(entry);
  return {withClosure: withClosure.sort(), alone: alone.sort()};
};

/** One line for --dry-run and verify: `/nix/store/X, with its closure, for --fonts (through /etc/fonts)`. */
export const describeAdded = (entry: StoreEntryName, added: AddedEntry): string =>
  `${JAIL_STORE}/${entry}, ${added.withClosure ? 'with its closure' : 'alone'}, for ${added.by} (through ${added.via})`;
