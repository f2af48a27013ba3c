/**
 * Whether a directory can be trusted to hold masks. Anything inside a mask shows up in the
 * jail's /nix/store, so a mask is as trusted as the program it jails: it and everything above
 * it must be out of other users' reach, in the spirit of OpenSSH's StrictModes.
 *
 *  - the cache directory and everything in it: owned by the caller, writable by nobody else,
 *    and no symbolic links;
 *  - every directory above it (and every symbolic link on the way): owned by root or the
 *    caller, and not writable by group or others unless sticky (as /tmp is), because whoever
 *    can write a parent can swap the child for their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import {JailError, isErrno, reason} from '../errors.js';

const GROUP_OR_OTHER_WRITE = 0o022;
const STICKY = 0o1000;

const describe = (stats: fs.Stats): string =>
  `owner uid ${stats.uid}, mode ${(stats.mode & 0o7777).toString(8).padStart(4, '0')}`;

/** Check one entry inside the cache: a real directory (or file) of the caller's, not writable by others. */
export const assertOwned = (target: string, uid: number, what: string): fs.Stats => {
  let stats: fs.Stats;
  try {
    stats = fs.lstatSync(target);
  } catch (error) {
    throw new JailError('unsafe', `cannot check ${what} ${target}: ${reason(error)}`);
  }
  if (stats.isSymbolicLink()) throw new JailError('unsafe', `refusing ${what} ${target}: it is a symbolic link`);
  if (stats.uid !== uid) {
    throw new JailError('unsafe', `refusing ${what} ${target}: not owned by uid ${uid} (${describe(stats)})`);
  }
  if ((stats.mode & GROUP_OR_OTHER_WRITE) !== 0) {
    throw new JailError('unsafe', `refusing ${what} ${target}: writable by group or others (${describe(stats)})`);
  }
  return stats;
};

/**
 * Check the ancestors of an absolute directory, following symbolic links component by
 * component so that each link and each directory it leads through is checked as well.
 */
export const assertSafeAncestors = (dir: string, uid: number): void => {
  let pending = path.resolve(dir).split('/').filter(Boolean);
  pending.pop(); // the directory itself is checked by assertOwned
  let current = '/';
  let hops = 0;
  const check = (target: string, stats: fs.Stats): void => {
    if (stats.uid !== 0 && stats.uid !== uid) {
      throw new JailError('unsafe', `refusing cache below ${target}: owned by another user (${describe(stats)})`);
    }
    if (stats.isDirectory() && (stats.mode & GROUP_OR_OTHER_WRITE) !== 0 && (stats.mode & STICKY) === 0) {
      throw new JailError('unsafe', `refusing cache below ${target}: writable by group or others (${describe(stats)})`);
    }
  };
  check('/', fs.lstatSync('/'));
  for (let component = pending.shift(); component !== undefined; component = pending.shift()) {
    if (component === '.') continue;
    if (component === '..') {
      current = path.dirname(current);
      continue;
    }
    const next = path.join(current, component);
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(next);
    } catch (error) {
      // What does not exist yet will be made by this process, with its own mode.
      if (isErrno(error, 'ENOENT')) return;
      throw new JailError('cache', `cannot use cache directory ${dir}: ${reason(error)} at ${next}`);
    }
    check(next, stats);
    if (stats.isSymbolicLink()) {
      if (++hops > 40) throw new JailError('unsafe', `refusing cache directory ${dir}: too many symbolic links`);
      const target = fs.readlinkSync(next);
      pending = [...target.split('/').filter(Boolean), ...pending];
      if (path.isAbsolute(target)) current = '/';
      continue;
    }
    current = next;
  }
};
