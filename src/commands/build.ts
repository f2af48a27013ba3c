import {computeClosure, type Closure, type ClosureRequest} from '../closure/index.js';
import {MaskCache, defaultCacheDir} from '../mask/cache.js';
import {allowlistUnavailable, chooseMaskMode, ensureMask, type MaskModeChoice, type ReadyMask} from '../mask/mode.js';
import {recordUse} from '../mask/usage.js';

export interface MaskOptions {
  cacheDir?: string | undefined;
  execOnly: boolean;
  mode: MaskModeChoice;
  /** Progress during long scans: (entries looked at, entries in the store). */
  onProgress?: ((done: number, total: number | undefined) => void) | undefined;
}

export interface BuildResult {
  closure: Closure;
  mask: ReadyMask;
  cacheDir: string;
}

/** Get the mask for a closure that is already known. */
export const maskForClosure = async (closure: Closure, options: MaskOptions): Promise<{mask: ReadyMask; cacheDir: string}> => {
  const cache = MaskCache.open(options.cacheDir ?? defaultCacheDir());
  const mode = chooseMaskMode(options.mode, () => allowlistUnavailable(cache.dir, closure.storeDir, true));
  const mask = await ensureMask(cache, {
    mode,
    storeDir: closure.storeDir,
    closure: closure.entries,
    execOnly: options.execOnly,
    ...(options.onProgress ? {onProgress: options.onProgress} : {}),
    // With a progress bar the store is listed up front, so the bar knows its total.
    countEntries: options.onProgress !== undefined,
  });
  recordUse(mask.dir);
  return {mask, cacheDir: cache.dir};
};

/** `build`: compute the closure and get its mask. */
export const buildCommand = async (request: ClosureRequest & MaskOptions): Promise<BuildResult> => {
  // The builder sees every closure entry in its scan of the store (or refuses), so the
  // closure needs no stat per entry here.
  const closure = await computeClosure({...request, verifyPresent: false});
  const {mask, cacheDir} = await maskForClosure(closure, request);
  return {closure, mask, cacheDir};
};
