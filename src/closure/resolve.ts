/**
 * From a path or a command to its store entry. A path resolves into the store through
 * symlinks (`~/.nix-profile/bin/hello`), and resolution stops as soon as it reaches a store
 * entry: the entry itself may be a symlink store path, which is part of the closure as it is.
 * Symlinks are followed one component at a time, so a link to `/nix/store/…` is understood
 * even when the host keeps the store elsewhere (`--store DIR`).
 */
import fs from 'node:fs';
import path from 'node:path';
import {EXIT_CANNOT_RUN, EXIT_NOT_FOUND, JailError, isErrno, reason} from '../errors.js';
import {entryOfPath, JAIL_STORE, pathBelowEntry, type StoreEntryName} from '../store.js';

const MAX_SYMLINKS = 40;

export interface ResolvedPath {
  /** The store entry the path leads into. */
  entry: StoreEntryName;
  /** What is left of the path below the entry (`bin/hello`), '' for the entry itself. */
  rest: string;
}

/** Map a path that names `/nix/store/…` to where the host keeps it. */
const onHost = (candidate: string, storeDir: string): string => {
  const name = entryOfPath(candidate, [JAIL_STORE]);
  if (name === undefined || storeDir === JAIL_STORE) return candidate;
  const rest = pathBelowEntry(candidate, [JAIL_STORE]);
  return path.join(storeDir, name, rest);
};

export const resolveIntoStore = (given: string, storeDir: string, prefixes: readonly string[]): ResolvedPath => {
  let pending = path.resolve(given).split('/').filter(Boolean);
  let current = '/';
  let hops = 0;
  for (;;) {
    const name = entryOfPath(current, prefixes);
    if (name !== undefined) {
      const rest = [...pathBelowEntry(current, prefixes).split('/').filter(Boolean), ...pending].join('/');
      if (!fs.existsSync(path.join(storeDir, name)) && !isSymlink(path.join(storeDir, name))) {
        throw new JailError('no-such-entry', `store entry does not exist: ${path.join(storeDir, name)}`);
      }
      return {entry: name, rest};
    }
    const component = pending.shift();
    if (component === undefined) break;
    if (component === '.') continue;
    if (component === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, component);
    if (entryOfPath(next, prefixes) !== undefined) {
      current = next; // reached a store entry: checked at the top, never followed
      continue;
    }
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(onHost(next, storeDir));
    } catch (error) {
      throw new JailError('not-in-store', `cannot resolve ${given}: ${reason(error)} at ${next}`);
    }
    if (stats.isSymbolicLink()) {
      if (++hops > MAX_SYMLINKS) throw new JailError('not-in-store', `cannot resolve ${given}: too many symbolic links`);
      const target = fs.readlinkSync(onHost(next, storeDir));
      pending = [...target.split('/').filter(Boolean), ...pending];
      if (path.isAbsolute(target)) current = '/';
      continue;
    }
    current = next;
  }
  throw new JailError(
    'not-in-store',
    `${given} is not in the store (${prefixes.join(' or ')}); pass its closure with --closure-file, --graph or --also`,
  );
};

const isSymlink = (candidate: string): boolean => {
  try {
    return fs.lstatSync(candidate).isSymbolicLink();
  } catch {
    return false;
  }
};

/**
 * Find a command the way execvp does: a name with a slash is a path, anything else is looked
 * up in PATH and must be an executable regular file.
 */
export const findCommand = (command: string, searchPath: string | undefined): string => {
  if (command === '') throw new JailError('command-not-found', 'empty command name', EXIT_NOT_FOUND);
  const candidates = command.includes('/')
    ? [command]
    : (searchPath ?? '/usr/local/bin:/usr/bin:/bin').split(':').map(dir => path.join(dir === '' ? '.' : dir, command));
  let denied: string | undefined;
  for (const candidate of candidates) {
    let stats: fs.Stats;
    try {
      stats = fs.statSync(candidate);
    } catch {
      continue; // missing, or in a directory this user cannot search: not found, as in a shell
    }
    if (!stats.isFile()) continue;
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return path.resolve(candidate);
    } catch (error) {
      if (isErrno(error, 'EACCES')) denied ??= candidate;
    }
  }
  if (denied !== undefined) throw new JailError('cannot-run', `${command}: permission denied: ${denied}`, EXIT_CANNOT_RUN);
  throw new JailError('command-not-found', `${command}: command not found${command.includes('/') ? '' : ' on PATH'}`, EXIT_NOT_FOUND);
};

