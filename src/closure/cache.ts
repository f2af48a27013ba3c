/**
 * Closures of store paths, cached for good: a store path's closure never changes, so a warm
 * `exec` needs no nix-store call. The entry records the store directory and roots it answers
 * for, and is written atomically (a reader sees a whole record or none).
 */
import {createHash} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JAIL_STORE, type StoreEntryName} from '../store.js';

const FORMAT = 1;

export interface CachedClosure {
  format: number;
  storeDir: string;
  roots: StoreEntryName[];
  entries: StoreEntryName[];
  /** The jail's PATH: the roots' bin directories first, then the rest of the closure's. */
  path: string[];
}

export const closureCacheKey = (storeDir: string, roots: readonly StoreEntryName[]): string =>
  createHash('sha256').update(JSON.stringify([FORMAT, storeDir, roots])).digest('hex').slice(0, 32);

export const readCachedClosure = (file: string, storeDir: string, roots: readonly StoreEntryName[]): CachedClosure | undefined => {
  try {
    const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as CachedClosure;
    const matches = cached.format === FORMAT && cached.storeDir === storeDir &&
      JSON.stringify(cached.roots) === JSON.stringify(roots) && Array.isArray(cached.entries) && Array.isArray(cached.path);
    return matches ? cached : undefined;
  } catch {
    return undefined;
  }
};

export const writeCachedClosure = (file: string, closure: CachedClosure): void => {
  const temporary = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(temporary, JSON.stringify(closure), {mode: 0o600});
  fs.renameSync(temporary, file);
};

/** The closure's `bin` directories as the jail sees them, roots first. */
export const binDirectories = (storeDir: string, roots: readonly StoreEntryName[], entries: Iterable<StoreEntryName>): string[] => {
  const ordered = [...new Set([...roots, ...[...entries].sort()])];
  return ordered
    .filter(name => {
      try {
        return fs.statSync(path.join(storeDir, name, 'bin')).isDirectory();
      } catch {
        return false;
      }
    })
    .map(name => `${JAIL_STORE}/${name}/bin`);
};
