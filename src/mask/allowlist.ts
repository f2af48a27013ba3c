/**
 * Allowlist masks: a layer that shows only the closure and never a later store path.
 *
 * Overlayfs ignores an opaque directory at a layer's root, so the layer stands for the store's
 * parent (/nix) and its `store` directory is opaque: nothing of the real store shows through
 * except what the layer names. Each closure path is named by an entry that leads back to it:
 *
 *   directory  an empty directory with trusted.overlay.redirect=/store/NAME (redirect_dir=follow)
 *   file       a metacopy stub (trusted.overlay.metacopy + redirect, metacopy=on): its data
 *              comes from the real file, its size, mode, owner and times are copied here
 *   symlink    the same symlink
 *
 * A merged directory takes its attributes from the top layer, so each entry copies the real
 * one's mode, owner and times. The parent's other entries (such as `var`) are whited out.
 * Trusted xattrs need real root; building costs O(closure), not O(store).
 */
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import type {StoreEntryName} from '../store.js';
import {CACHE_FORMAT, type MaskCache, type MaskState, maskKey, maskLayout, readMaskState, storeStateOf} from './cache.js';
import {binEntriesAndSystemFiles} from './build.js';
import {acquireLock} from './lock.js';
import {assertMaskOwned, buildAndPublish, ensureIntact, removeAbandoned, unlessRemoved} from './publish.js';
import {makeWhiteout} from './whiteout.js';
import {setXattrs, type XattrAssignment} from './xattr.js';

export interface AllowlistRequest {
  storeDir: string;
  closure: ReadonlySet<StoreEntryName>;
  execOnly: boolean;
}

export const ALLOWLIST_MOUNT_OPTIONS = ['redirect_dir=follow', 'metacopy=on'];

export const allowlistMaskKey = (request: AllowlistRequest): string => {
  const store = fs.statSync(request.storeDir);
  return maskKey({mode: 'allowlist', storeDir: request.storeDir, storeDev: store.dev, storeIno: store.ino, execOnly: request.execOnly, closure: request.closure});
};

const copyAttributes = (target: string, source: fs.Stats, isLink: boolean): void => {
  if (isLink) {
    fs.lchownSync(target, source.uid, source.gid);
    fs.lutimesSync(target, source.atime, source.mtime);
    return;
  }
  fs.chownSync(target, source.uid, source.gid);
  fs.chmodSync(target, source.mode & 0o7777);
  fs.utimesSync(target, source.atime, source.mtime);
};

/** Write the layer into `layer`; returns the closure entries that have a bin directory. */
const writeLayer = (layer: string, request: AllowlistRequest): Pick<MaskState, 'binEntries' | 'systemFiles'> => {
  const storeBase = path.basename(request.storeDir);
  const parent = path.dirname(request.storeDir);
  const storeInLayer = path.join(layer, storeBase);
  fs.mkdirSync(storeInLayer);
  const xattrs: XattrAssignment[] = [{file: storeInLayer, name: 'trusted.overlay.opaque', value: 'y'}];
  const entries = new Map<StoreEntryName, fs.Stats>();

  for (const name of [...request.closure].sort()) {
    const real = path.join(request.storeDir, name);
    const target = path.join(storeInLayer, name);
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(real);
    } catch {
      throw new JailError('no-such-entry', `store entry does not exist: ${real}`);
    }
    entries.set(name, stats);
    const redirect = {file: target, name: 'trusted.overlay.redirect', value: `/${storeBase}/${name}`};
    if (stats.isDirectory()) {
      fs.mkdirSync(target);
      xattrs.push(redirect);
    } else if (stats.isFile()) {
      // A sparse stub of the same size: metacopy takes the data from the real file.
      fs.writeFileSync(target, '', {flag: 'wx'});
      fs.truncateSync(target, stats.size);
      xattrs.push({file: target, name: 'trusted.overlay.metacopy', value: ''}, redirect);
    } else if (stats.isSymbolicLink()) {
      fs.symlinkSync(fs.readlinkSync(real), target);
    } else {
      throw new JailError('bad-store', `cannot allow ${real}: a store path must be a directory, a file or a symlink`);
    }
  }

  // Whatever else the parent holds (var, …) is whited out, in case the merged parent is ever
  // shown; the jail itself only gets the store directory.
  for (const name of fs.readdirSync(parent)) {
    if (name !== storeBase) makeWhiteout(path.join(layer, name));
  }
  setXattrs(xattrs);

  for (const [name, stats] of entries) copyAttributes(path.join(storeInLayer, name), stats, stats.isSymbolicLink());
  const store = fs.statSync(request.storeDir);
  copyAttributes(storeInLayer, store, false);
  if (request.execOnly) fs.chmodSync(storeInLayer, 0o111);
  return binEntriesAndSystemFiles(request.storeDir, request.closure);
};


export interface AllowlistMask {
  key: string;
  dir: string;
  layer: string;
  mountPoint: string;
  status: 'cached' | 'built';
  state: MaskState;
}

/**
 * Get the allowlist mask of a closure: built once, then reused for good (later store paths
 * never show through it, so a store change does not make it stale).
 */
export const ensureAllowlistMask = async (cache: MaskCache, request: AllowlistRequest): Promise<AllowlistMask> => {
  if (process.getuid?.() !== 0) {
    throw new JailError('usage', 'allowlist masks need real root (trusted.overlay attributes): run as root, or use --mode whiteout');
  }
  const key = allowlistMaskKey(request);
  const maskDir = cache.maskDir(key);
  const layout = maskLayout(maskDir);
  const result = (status: AllowlistMask['status'], state: MaskState): AllowlistMask =>
    ({key, dir: maskDir, layer: layout.layer, mountPoint: layout.merged, status, state});

  const cached = readMaskState(layout.state);
  if (cached) {
    const intact = await unlessRemoved(maskDir, async () => {
      assertMaskOwned(cache, maskDir, 'allowlist');
      return ensureIntact(cache, key, cached, request.closure);
    });
    if (intact !== undefined) return result('cached', intact);
  }
  const lock = await acquireLock(cache.lockFile(key));
  let current: MaskState | undefined;
  try {
    current = readMaskState(layout.state);
    if (current === undefined) {
      if (fs.existsSync(maskDir)) throw new JailError('unsafe', `refusing mask ${maskDir}: it has no valid state.json (remove it to rebuild)`);
      removeAbandoned(cache, key);
      const state = buildAndPublish(cache, key, layout => {
        const bins = writeLayer(layout.layer, request);
        const now = new Date().toISOString();
        return {
          format: CACHE_FORMAT,
          mode: 'allowlist',
          storeDir: request.storeDir,
          execOnly: request.execOnly,
          closureSize: request.closure.size,
          whiteouts: 0,
          ...bins,
          store: storeStateOf(fs.statSync(request.storeDir, {bigint: true})),
          racy: false,
          builtAt: now,
          refreshedAt: now,
        };
      });
      return result('built', state);
    }
    assertMaskOwned(cache, maskDir, 'allowlist');
  } finally {
    lock.release();
  }
  return result('cached', await ensureIntact(cache, key, current, request.closure));
};
