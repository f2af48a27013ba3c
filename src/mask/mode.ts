/**
 * Which kind of mask a request gets, and one entry point that gets either.
 *
 * `auto` takes the allowlist where it can work — real root, an overlay module that follows
 * redirects and metacopy, setfattr, and a cache filesystem that takes trusted xattrs — and the
 * whiteout mask otherwise. A forced mode that cannot work is an error, never a silent downgrade.
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import {findOnPath} from '../mount/capabilities.js';
import {maskView, type MaskView} from '../mount/strategy.js';
import type {StoreEntryName} from '../store.js';
import {allowlistMaskKey, ensureAllowlistMask} from './allowlist.js';
import {holderIsAlive, processIdentity} from './lock.js';
import {ensureWhiteoutMask, whiteoutMaskKey} from './build.js';
import {maskLayout, type MaskCache, type MaskMode, type MaskState} from './cache.js';

export type MaskModeChoice = MaskMode | 'auto';

/**
 * The mode, given why the allowlist is unavailable (undefined when it is available). That is
 * asked only when the choice depends on it: finding out may cost a probe (a process, a file).
 */
export const chooseMaskMode = (choice: MaskModeChoice, allowlistUnavailable: () => string | undefined): MaskMode => {
  if (choice === 'whiteout') return 'whiteout';
  const unavailable = allowlistUnavailable();
  if (choice === 'allowlist') {
    if (unavailable) throw new JailError('usage', `--mode allowlist: ${unavailable}`);
    return 'allowlist';
  }
  return unavailable ? 'whiteout' : 'allowlist';
};

/**
 * Why an allowlist mask cannot be used here, or undefined. The trusted-xattr probe of the cache
 * filesystem costs a process, so its answer is kept in the cache (per filesystem).
 */
export const allowlistUnavailable = (cacheDir: string, storeDir: string, probe: boolean): string | undefined => {
  if (process.getuid?.() !== 0) return 'allowlist masks need real root (trusted.overlay attributes)';
  // The allowlist layer stacks over the store's parent; overlayfs refuses (ELOOP) a layer that
  // lies inside another.
  const parent = path.dirname(storeDir);
  if (cacheDir === parent || cacheDir.startsWith(parent === '/' ? '/' : `${parent}/`)) {
    return `the cache directory ${cacheDir} lies inside ${parent}, which an allowlist mask stacks over: use --cache-dir elsewhere`;
  }
  for (const parameter of ['redirect_dir', 'metacopy']) {
    if (!fs.existsSync(`/sys/module/overlay/parameters/${parameter}`)) {
      return `the overlay module has no ${parameter} support (Linux 4.19 or later with overlay loaded)`;
    }
  }
  if (!findOnPath('setfattr')) return 'setfattr not found on PATH: install attr';
  let dev: number;
  try {
    dev = fs.statSync(cacheDir).dev;
  } catch {
    return probe ? `cache directory ${cacheDir} does not exist yet` : undefined;
  }
  const record = path.join(cacheDir, 'features.json');
  try {
    const known = JSON.parse(fs.readFileSync(record, 'utf8')) as {dev: number; trustedXattr: boolean};
    if (known.dev === dev) return known.trustedXattr ? undefined : `the filesystem of ${cacheDir} does not take trusted xattrs`;
  } catch {
    // not probed yet
  }
  if (!probe) return undefined;
  const tmp = path.join(cacheDir, 'tmp');
  // A probe killed midway leaves its file; its name says whose it was (pid and start time).
  for (const name of fs.readdirSync(tmp)) {
    const holder = /^xattr-probe-(\d+)-(\d*)-/.exec(name);
    if (holder && !holderIsAlive(`${holder[1]} ${holder[2]}`)) fs.rmSync(path.join(tmp, name), {force: true});
  }
  const scratch = path.join(tmp, `xattr-probe-${processIdentity().replace(' ', '-')}-${crypto.randomBytes(4).toString('hex')}`);
  fs.writeFileSync(scratch, '', {mode: 0o600});
  const result = childProcess.spawnSync('setfattr', ['-n', 'trusted.overlay.nix-overlay-jail-probe', '-v', 'y', scratch], {stdio: 'ignore'});
  fs.rmSync(scratch, {force: true});
  const trustedXattr = result.status === 0;
  fs.writeFileSync(record, JSON.stringify({dev, trustedXattr}), {mode: 0o600});
  return trustedXattr ? undefined : `the filesystem of ${cacheDir} does not take trusted xattrs`;
};

export interface MaskRequestAny {
  mode: MaskMode;
  storeDir: string;
  closure: ReadonlySet<StoreEntryName>;
  execOnly: boolean;
  /** For whiteout scans: progress and whether to count entries first (see MaskRequest). */
  onProgress?: (done: number, total: number | undefined) => void;
  countEntries?: boolean;
}

export interface ReadyMask {
  key: string;
  dir: string;
  layer: string;
  mountPoint: string;
  status: 'cached' | 'refreshed' | 'built';
  state: MaskState;
  added: number;
  view: MaskView;
}

export const ensureMask = async (cache: MaskCache, request: MaskRequestAny): Promise<ReadyMask> => {
  if (request.mode === 'allowlist') {
    const mask = await ensureAllowlistMask(cache, request);
    return {...mask, added: 0, view: maskView('allowlist', mask.layer, request.storeDir)};
  }
  const mask = await ensureWhiteoutMask(cache, request);
  return {...mask, view: maskView('whiteout', mask.layer, request.storeDir)};
};

/** Where a request's mask is (or would be), without writing anything: for --dry-run. */
export const locateMask = (cacheDir: string, request: MaskRequestAny) => {
  const key = request.mode === 'allowlist' ? allowlistMaskKey(request) : whiteoutMaskKey(request);
  const layout = maskLayout(path.join(cacheDir, 'masks', key));
  return {key, layout, view: maskView(request.mode, layout.layer, request.storeDir)};
};
