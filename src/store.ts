/**
 * Store entries and store paths, as pure functions.
 *
 * A store entry is one name directly under the store directory (`abc…-hello-2.12`, `.links`).
 * Closures are sets of entry names: a closure file may name an entry under `/nix/store` or
 * under the host directory given with `--store`, and inside the jail it always appears at
 * `/nix/store`.
 */
import path from 'node:path';
import {JailError} from './errors.js';

/** Where the store appears inside every jail, whatever directory holds it on the host. */
export const JAIL_STORE = '/nix/store';

/** What NixOS provides outside the store and programs call by name, with the file of a store entry that can stand for it in a jail. */
export const SYSTEM_LINKS = [['bin/sh', '/bin/sh'], ['bin/env', '/usr/bin/env']] as const;

export type StoreEntryName = string;

/** Whether a mount at `dest` in the jail would cover or replace its /nix/store: the store, a path in it, one above it. */
export const coversStore = (dest: string): boolean => {
  const absolute = path.posix.resolve('/', dest);
  return absolute === '/' || absolute === JAIL_STORE || absolute.startsWith(`${JAIL_STORE}/`) || JAIL_STORE.startsWith(`${absolute}/`);
};

/**
 * Whether a name can be a store entry. Nix names are `[0-9a-z]{32}-[A-Za-z0-9+\-._?=]+`, but a
 * store given with `--store` may hold other names, so only what no directory entry can be
 * (or what a line-based closure file cannot carry) is refused.
 */
export const isValidEntryName = (name: string): boolean =>
  name.length > 0 && name !== '.' && name !== '..' && !/[/\0\n\r]/.test(name);

/**
 * The store entry an absolute path lies in, looked at lexically: `/nix/store/NAME/bin/x` → NAME.
 * Returns undefined when the path is not below one of the store prefixes (or is the store
 * itself). `..` components are refused rather than resolved, since they could step out again.
 */
export const entryOfPath = (
  candidate: string,
  storePrefixes: readonly string[],
): StoreEntryName | undefined => {
  if (!path.isAbsolute(candidate)) return undefined;
  // Fast path for the common, already normal path (`/nix/store/NAME[/…]`): closure files
  // and graphs hold thousands of them.
  // Stryker disable all: the general path below gives the same answer for any input.
  if (!candidate.includes('//') && !candidate.includes('/.')) {
    for (const prefix of storePrefixes) {
      if (candidate.startsWith(prefix) && candidate[prefix.length] === '/') {
        const end = candidate.indexOf('/', prefix.length + 1);
        const name = candidate.slice(prefix.length + 1, end === -1 ? undefined : end);
        return isValidEntryName(name) ? name : undefined;
      }
    }
  }
  // Stryker restore all
  const parts = candidate.split('/').filter(part => part !== '' && part !== '.');
  if (parts.includes('..')) return undefined;
  for (const prefix of storePrefixes) {
    const prefixParts = prefix.split('/').filter(part => part !== '' && part !== '.');
    if (parts.length <= prefixParts.length) continue;
    if (prefixParts.every((part, index) => parts[index] === part)) {
      const name = parts[prefixParts.length]!;
      return isValidEntryName(name) ? name : undefined;
    }
  }
  return undefined;
};

/** The rest of a path below its store entry (`/nix/store/NAME/bin/x` → `bin/x`), or ''. */
export const pathBelowEntry = (candidate: string, storePrefixes: readonly string[]): string => {
  const parts = candidate.split('/').filter(part => part !== '' && part !== '.');
  for (const prefix of storePrefixes) {
    const prefixParts = prefix.split('/').filter(part => part !== '' && part !== '.');
    if (parts.length > prefixParts.length && prefixParts.every((part, index) => parts[index] === part)) {
      return parts.slice(prefixParts.length + 1).join('/');
    }
  }
  return '';
};

/** The prefixes under which a store entry may be named: the jail's and the host's. */
export const storePrefixes = (storeDir: string): string[] =>
  storeDir === JAIL_STORE ? [JAIL_STORE] : [JAIL_STORE, storeDir];

const SLASH = 0x2f;
/** An entry name that needs no further checks: no slash, no leading dot, nothing a line cannot hold. */
// Stryker disable next-line Regex: used by the fast path only (see entryOfListedPath).
const PLAIN_ENTRY_NAME = /^[^/.\0\r\n][^/\0\r\n]*$/;

/**
 * Parse one line of a closure file (or one path from a graph or nix-store -qR) into an entry
 * name, or throw a JailError that names the source (and the line, when given).
 */
export const entryOfListedPath = (
  listed: string,
  prefixes: readonly string[],
  source: string,
  line?: number,
): StoreEntryName => {
  // Fast path for the usual PREFIX/NAME: closure files, nix-store -qR and graphs list
  // thousands, and a start-up reads them all.
  // Stryker disable all: checkedEntryOfListedPath gives the same answer for any line (a property test holds them to it).
  for (const prefix of prefixes) {
    if (listed.startsWith(prefix) && listed.charCodeAt(prefix.length) === SLASH) {
      const name = listed.slice(prefix.length + 1);
      if (PLAIN_ENTRY_NAME.test(name)) return name;
    }
  }
  // Stryker restore all
  return checkedEntryOfListedPath(listed, prefixes, source, line);
};

/** entryOfListedPath without its fast path: every check, for any input (and for the tests). */
export const checkedEntryOfListedPath = (
  listed: string,
  prefixes: readonly string[],
  source: string,
  line?: number,
): StoreEntryName => {
  const where = line === undefined ? source : `${source}:${line}`;
  if (!path.isAbsolute(listed)) {
    // A bare entry name is how newer `nix path-info --json` spells references.
    if (isValidEntryName(listed) && !listed.includes('/') && /^[0-9a-z]{32}-/.test(listed)) return listed;
    throw new JailError('bad-closure', `${where}: not an absolute store path: ${JSON.stringify(listed)}`);
  }
  if (listed.split('/').includes('..')) {
    throw new JailError('bad-closure', `${where}: '..' is not allowed in a store path: ${JSON.stringify(listed)}`);
  }
  const name = entryOfPath(listed, prefixes);
  if (name === undefined) {
    throw new JailError('bad-closure', `${where}: not in the store (${prefixes.join(' or ')}): ${JSON.stringify(listed)}`);
  }
  return name;
};
