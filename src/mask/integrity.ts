/**
 * Is a published mask still what this tool wrote? Anything in a mask shows up in the jail's
 * /nix/store, so before a mask is used again its layer must hold only what it may hold.
 *
 * Checking every entry costs a stat each (O(store) for a whiteout mask), so the layer's
 * directories are stamped with their ctime when the tool last changed them: adding, removing
 * or renaming an entry, or setting a directory's times, always moves its ctime, which no one
 * can set back. While the stamp matches, the layer is as it was left; when it does not, every
 * entry is checked before the mask is trusted, and the stamp renewed.
 *
 * This finds a mask changed earlier, at rest. It cannot stop a process of the same user that
 * races the jail's start (changing the layer between the check and the mount): the cache is
 * the user's own, and such a process could as well run the jail's program itself.
 */
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import type {StoreEntryName} from '../store.js';
import type {MaskMode} from './cache.js';
import {listDirectory} from './whiteout.js';

/** The directories whose entries make up a layer: the layer, and an allowlist's store directory. */
export const stampedDirectories = (layer: string, mode: MaskMode, storeBase: string): string[] =>
  mode === 'whiteout' ? [layer] : [layer, path.join(layer, storeBase)];

/** The layer's stamp: inode and ctime of each of its directories. */
export const layerStamp = (layer: string, mode: MaskMode, storeBase: string): string =>
  stampedDirectories(layer, mode, storeBase).map(dir => {
    const stats = fs.lstatSync(dir, {bigint: true});
    return `${stats.ino}:${stats.ctimeNs}`;
  }).join(',');

const isWhiteoutStats = (stats: fs.Stats): boolean => stats.isCharacterDevice() && stats.rdev === 0;

const refuse = (file: string, what: string): never => {
  throw new JailError('unsafe', `refusing mask: ${file} ${what}; the mask was changed outside nix-overlay-jail (remove its directory to rebuild it)`);
};

/** Read a directory that may be execute-only (0111), restoring its mode afterwards. */
const namesOf = (dir: string): string[] => {
  const mode = fs.statSync(dir).mode & 0o7777;
  const readable = (mode & 0o400) !== 0 || process.getuid?.() === 0;
  if (!readable) fs.chmodSync(dir, mode | 0o500);
  try {
    return [...listDirectory(dir)];
  } finally {
    if (!readable) fs.chmodSync(dir, mode);
  }
};

/**
 * Check every entry of a layer: a whiteout mask holds whiteouts only; an allowlist mask holds
 * its store directory (whose entries are closure paths, as directories, files or symlinks) and
 * whiteouts beside it.
 */
export const validateLayer = (layer: string, mode: MaskMode, storeBase: string, closure: ReadonlySet<StoreEntryName>): void => {
  for (const name of namesOf(layer)) {
    const file = path.join(layer, name);
    const stats = fs.lstatSync(file);
    if (mode === 'allowlist' && name === storeBase) {
      if (!stats.isDirectory()) refuse(file, 'is not a directory');
      continue;
    }
    if (!isWhiteoutStats(stats)) refuse(file, 'is not a whiteout');
  }
  if (mode === 'allowlist') {
    const store = path.join(layer, storeBase);
    for (const name of namesOf(store)) {
      const file = path.join(store, name);
      if (!closure.has(name)) refuse(file, 'is not in the closure');
      const stats = fs.lstatSync(file);
      if (!stats.isDirectory() && !stats.isFile() && !stats.isSymbolicLink()) refuse(file, 'is not a directory, file or symlink');
    }
  }
};

/**
 * Trust a layer again: cheap when its stamp matches, a full check otherwise. Returns the stamp
 * to record (unchanged when nothing needed checking).
 */
export const assertLayerIntact = (
  layer: string,
  mode: MaskMode,
  storeBase: string,
  closure: ReadonlySet<StoreEntryName>,
  recorded: string | undefined,
): string => {
  if (recorded !== undefined && layerStamp(layer, mode, storeBase) === recorded) return recorded;
  validateLayer(layer, mode, storeBase, closure);
  // Re-stamp after the check (listing an execute-only layer changes its mode, and its ctime).
  return layerStamp(layer, mode, storeBase);
};
