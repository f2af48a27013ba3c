/**
 * Publishing a mask: built whole in CACHE/tmp, then moved into masks/ with one rename(), so a
 * crash or a second process never sees half of one. Used by both kinds of mask, with the
 * mask's lock held.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError, isErrno, reason} from '../errors.js';
import type {StoreEntryName} from '../store.js';
import {type MaskCache, type MaskMode, type MaskState, maskLayout, readMaskState, writeMaskState} from './cache.js';
import {assertLayerIntact, layerStamp} from './integrity.js';
import {acquireLock} from './lock.js';
import {assertOwned} from './safety.js';

/**
 * Check a published mask before trusting it: its directories and records must be the caller's
 * own and writable by nobody else. A whiteout mask's journal decides which names a refresh
 * skips, so it is as trusted as the layer.
 */
export const assertMaskOwned = (cache: MaskCache, maskDir: string, mode: MaskMode): void => {
  const layout = maskLayout(maskDir);
  assertOwned(layout.dir, cache.uid, 'mask');
  assertOwned(layout.layer, cache.uid, 'mask');
  assertOwned(layout.state, cache.uid, 'mask state');
  if (mode === 'whiteout') assertOwned(layout.journal, cache.uid, 'mask journal');
};

/**
 * The look at a published mask that exec takes without its lock (the owner checks, and the
 * layer's stamp): undefined when the mask went meanwhile (gc removes a mask it finds unused,
 * under the lock), so that the caller takes the lock and builds it again. A mask that is still
 * there and fails a check is refused as before.
 */
export const unlessRemoved = async <T>(maskDir: string, look: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await look();
  } catch (error) {
    if (!fs.existsSync(maskLayout(maskDir).state)) return undefined;
    throw error;
  }
};

/**
 * Check a published mask's layer before it is used (see integrity.ts), and record its new stamp
 * when a full check was needed. Cheap while the stamp holds; the rare full check and the state
 * update happen under the mask's lock.
 */
export const ensureIntact = async (
  cache: MaskCache,
  key: string,
  state: MaskState,
  closure: ReadonlySet<StoreEntryName>,
): Promise<MaskState> => {
  const layout = maskLayout(cache.maskDir(key));
  const storeBase = path.basename(state.storeDir);
  if (state.layerStamp !== undefined && layerStamp(layout.layer, state.mode, storeBase) === state.layerStamp) return state;
  const lock = await acquireLock(cache.lockFile(key));
  try {
    const latest = readMaskState(layout.state) ?? state;
    const stamp = assertLayerIntact(layout.layer, latest.mode, storeBase, closure, latest.layerStamp);
    if (stamp === latest.layerStamp) return latest;
    const updated = {...latest, layerStamp: stamp};
    writeMaskState(layout.state, updated);
    return updated;
  } finally {
    lock.release();
  }
};

export const removeTree = (target: string): void => {
  // An execute-only layer cannot be listed by its owner, so give it back its read bit first.
  try {
    const layer = path.join(target, 'layer');
    if (fs.existsSync(layer)) fs.chmodSync(layer, 0o700);
  } catch {
    // Removal below reports what matters.
  }
  fs.rmSync(target, {recursive: true, force: true});
};

/** Remove staging directories of builds of `key` that died (only with the key's lock held). */
export const removeAbandoned = (cache: MaskCache, key: string): void => {
  for (const name of fs.readdirSync(cache.tmpDir())) {
    if (name.startsWith(`${key}.`)) removeTree(path.join(cache.tmpDir(), name));
  }
};

/**
 * Make a staging directory with an empty layer and mount point, let `fill` write the layer
 * (and anything beside it) and return the state, then publish. Any failure removes the staging
 * directory; nothing is left half-written.
 */
export const buildAndPublish = (cache: MaskCache, key: string, fill: (layout: ReturnType<typeof maskLayout>) => MaskState): MaskState => {
  const staging = path.join(cache.tmpDir(), `${key}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`);
  const layout = maskLayout(staging);
  try {
    fs.mkdirSync(staging, {mode: 0o700});
    fs.mkdirSync(layout.layer, {mode: 0o755});
    fs.mkdirSync(layout.merged, {mode: 0o700});
    const state = fill(layout);
    writeMaskState(layout.state, state);
    try {
      fs.renameSync(staging, cache.maskDir(key));
    } catch (error) {
      // Only possible after a stale lock was taken over: the other build won, use it.
      if (!isErrno(error, 'ENOTEMPTY') && !isErrno(error, 'EEXIST')) throw error;
      removeTree(staging);
      return readMaskState(maskLayout(cache.maskDir(key)).state) ?? state;
    }
    // Stamp the layer where it now lives (a rename moves a directory's ctime).
    const published = maskLayout(cache.maskDir(key));
    const stamped = {...state, layerStamp: layerStamp(published.layer, state.mode, path.basename(state.storeDir))};
    writeMaskState(published.state, stamped);
    return stamped;
  } catch (error) {
    removeTree(staging);
    if (error instanceof JailError) throw error;
    throw new JailError('cache', `cannot build mask in ${staging}: ${reason(error)}`);
  }
};
