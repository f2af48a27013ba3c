/**
 * Closures of store paths, cached for good: a store path's closure never changes, so a warm
 * `exec` needs no nix-store call. The entry records the store directory and roots it answers
 * for, and is written atomically (a reader sees a whole record or none).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import {writeFileAtomic} from '../mask/cache.js';
import type {StoreEntryName} from '../store.js';

const FORMAT = 1;

export interface CachedClosure {
  format: number;
  storeDir: string;
  roots: StoreEntryName[];
  entries: StoreEntryName[];
}

export const closureCacheKey = (storeDir: string, roots: readonly StoreEntryName[]): string =>
  crypto.createHash('sha256').update(JSON.stringify([FORMAT, storeDir, roots])).digest('hex').slice(0, 32);

export const readCachedClosure = (file: string, storeDir: string, roots: readonly StoreEntryName[]): CachedClosure | undefined => {
  try {
    const cached = JSON.parse(fs.readFileSync(file, 'utf8')) as CachedClosure;
    const matches = cached.format === FORMAT && cached.storeDir === storeDir &&
      JSON.stringify(cached.roots) === JSON.stringify(roots) && Array.isArray(cached.entries);
    return matches ? cached : undefined;
  } catch {
    return undefined;
  }
};

export const writeCachedClosure = (file: string, closure: CachedClosure): void => {
  writeFileAtomic(file, JSON.stringify(closure));
};
