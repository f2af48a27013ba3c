/**
 * `mount`: put the masked store at TARGET on the host, for tools that bring their own sandbox
 * (a chroot, systemd-nspawn, a container runtime); `--umount TARGET` takes it away.
 *
 * The mount lives in the host's mount namespace, so it is registered on its mask (gc leaves the
 * mask alone while TARGET is mounted), under the mask's lock and before the mount is made; a
 * failure at any step undoes the mount and the record.
 */
import fs from 'node:fs';
import path from 'node:path';
import {computeClosure, type ClosureRequest} from '../closure/index.js';
import {loadExeca} from '../process.js';
import {JailError, reason} from '../errors.js';
import {MaskCache, defaultCacheDir} from '../mask/cache.js';
import {mountRecordName, registerMount} from '../mask/usage.js';
import {allowlistUnavailable, chooseMaskMode, ensureMask, type MaskModeChoice, type ReadyMask} from '../mask/mode.js';
import {requireTools} from '../mount/capabilities.js';
import {parseMountinfo} from '../mount/mountinfo.js';
import {overlayLowerLayers, overlayOptions} from '../mount/options.js';

export interface MountOptions extends ClosureRequest {
  target: string;
  cacheDir?: string | undefined;
  execOnly: boolean;
  mode: MaskModeChoice;
}

const run = async (command: string, args: string[], what: string): Promise<void> => {
  const execa = await loadExeca();
  const result = await execa(command, args, {reject: false});
  if (result.failed) throw new JailError('mount', `cannot ${what}: ${result.stderr.trim().split('\n').pop() ?? `exit ${result.exitCode}`}`);
};

const assertRoot = (what: string): void => {
  if (process.getuid?.() !== 0) throw new JailError('usage', `${what} needs real root: it mounts on the host`);
};

const mountTable = () => parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'));

/**
 * TARGET as the kernel mounts on it: its real path. The mount table shows that path, so the
 * record must name it too, or gc and --umount would never find the mount.
 */
const realTarget = (target: string): string => {
  try {
    return fs.realpathSync(path.resolve(target));
  } catch (error) {
    throw new JailError('usage', `refusing ${path.resolve(target)}: ${reason(error)}`);
  }
};

const sameFile = (a: string, b: string): boolean => {
  try {
    const [x, y] = [fs.statSync(a), fs.statSync(b)];
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
};

const assertEmptyDirectory = (target: string): void => {
  let entries: string[];
  try {
    if (!fs.statSync(target).isDirectory()) throw new JailError('usage', `refusing ${target}: not a directory`);
    entries = fs.readdirSync(target);
  } catch (error) {
    if (error instanceof JailError) throw error;
    throw new JailError('usage', `refusing ${target}: ${reason(error)}`);
  }
  if (entries.length > 0) throw new JailError('usage', `refusing ${target}: not an empty directory`);
  if (mountTable().some(entry => entry.mountPoint === target)) {
    throw new JailError('usage', `refusing ${target}: something is already mounted there`);
  }
};

/**
 * Mount the mask's view of the store on TARGET; on any failure, nothing stays mounted. An
 * allowlist view is a subdirectory of the merged parent: the overlay goes on a scratch
 * directory, its store is bound at TARGET and made read-only, and the scratch is detached.
 */
const mountView = async (mask: ReadyMask, target: string, scratchParent: string): Promise<void> => {
  const optionsText = overlayOptions(mask.view.layersTopFirst, ['nosuid', 'nodev', ...mask.view.options]);
  if (mask.view.storeSubdir === '') {
    await run('mount', ['-t', 'overlay', '-o', optionsText, 'overlay', target], `mount the overlay on ${target}`);
    return;
  }
  const scratch = fs.mkdtempSync(path.join(scratchParent, 'mount-'));
  try {
    await run('mount', ['-t', 'overlay', '-o', optionsText, 'overlay', scratch], `mount the overlay on ${scratch}`);
    try {
      await run('mount', ['--bind', path.join(scratch, mask.view.storeSubdir), target], `bind the store on ${target}`);
      try {
        await run('mount', ['-o', 'remount,bind,ro,nosuid,nodev', target], `make ${target} read-only`);
      } catch (error) {
        await run('umount', [target], `undo the bind on ${target}`).catch(() => undefined);
        throw error;
      }
    } finally {
      await run('umount', ['--lazy', scratch], `detach ${scratch}`);
    }
  } finally {
    fs.rmdirSync(scratch);
  }
};

export const mountCommand = async (options: MountOptions): Promise<{target: string; mask: ReadyMask}> => {
  assertRoot('nix-overlay-jail mount');
  requireTools(['mount', 'umount']);
  const target = realTarget(options.target);
  assertEmptyDirectory(target);
  const closure = await computeClosure({...options, verifyPresent: false});
  const cache = MaskCache.open(options.cacheDir ?? defaultCacheDir());
  const mode = chooseMaskMode(options.mode, () => allowlistUnavailable(cache.dir, closure.storeDir, true));
  // Registered and mounted under the mask's lock; if gc removed the mask after it was looked
  // up, look it up (build it) again.
  for (let attempt = 0; attempt < 3; attempt++) {
    const mask = await ensureMask(cache, {mode, storeDir: closure.storeDir, closure: closure.entries, execOnly: options.execOnly});
    const registration = await registerMount(cache, mask.key, target, () => mountView(mask, target, cache.tmpDir()));
    if (registration !== undefined) return {target, mask};
  }
  throw new JailError('cache', 'the mask kept disappearing while mounting it (is gc running in a loop?)');
};

/**
 * Unmount TARGET if this command mounted it. The mask is found from the mount itself: the
 * overlay's top layer is CACHE/masks/KEY/layer, and that mask holds the mount's record.
 */
export const umountCommand = async (options: {target: string; cacheDir?: string | undefined}): Promise<string> => {
  assertRoot('nix-overlay-jail mount --umount');
  requireTools(['umount']);
  const target = realTarget(options.target);
  const notOurs = (why: string) => new JailError('usage', `refusing to unmount ${target}: ${why}`);
  const mounted = mountTable().filter(entry => entry.mountPoint === target);
  const top = mounted.length === 1 && mounted[0]!.fsType === 'overlay' ? overlayLowerLayers(mounted[0]!.superOptions)?.[0] : undefined;
  if (mounted.length === 0) throw notOurs('nothing is mounted there');
  if (top === undefined || path.basename(top) !== 'layer' || path.basename(path.dirname(path.dirname(top))) !== 'masks') {
    throw notOurs('it is not a store mounted by nix-overlay-jail mount');
  }
  const key = path.basename(path.dirname(top));
  const cacheDir = path.dirname(path.dirname(path.dirname(top)));
  if (options.cacheDir !== undefined && path.resolve(options.cacheDir) !== cacheDir && !sameFile(options.cacheDir, cacheDir)) {
    throw notOurs(`it was mounted from the cache ${cacheDir}, not ${path.resolve(options.cacheDir)}`);
  }
  const cache = MaskCache.existing(cacheDir);
  const record = path.join(cache.maskDir(key), 'jails', mountRecordName(target));
  if (!fs.existsSync(record)) throw notOurs(`${cacheDir} holds no record of mounting it`);
  await run('umount', [target], `unmount ${target}`);
  fs.rmSync(record, {force: true});
  return target;
};
