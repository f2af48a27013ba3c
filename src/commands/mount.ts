/**
 * `mount`: put the masked store at TARGET on the host, for tools that bring their own sandbox
 * (a chroot, systemd-nspawn, a container runtime); `--umount TARGET` takes it away.
 *
 * The mount lives in the host's mount namespace, so it is registered on its mask (gc leaves the
 * mask alone while TARGET is mounted). An allowlist view is a subdirectory of the merged
 * parent: the overlay is mounted on a scratch directory, its store bound at TARGET, and the
 * scratch mount detached (the bind keeps the overlay alive).
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {computeClosure, type ClosureRequest} from '../closure/index.js';
import {loadExeca} from '../process.js';
import {JailError, reason} from '../errors.js';
import {MaskCache, defaultCacheDir} from '../mask/cache.js';
import {allowlistUnavailable, chooseMaskMode, ensureMask, type MaskModeChoice, type ReadyMask} from '../mask/mode.js';
import {requireTools} from '../mount/capabilities.js';
import {parseMountinfo} from '../mount/mountinfo.js';
import {overlayOptions} from '../mount/options.js';

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

const mountRecord = (target: string): string => `mount-${crypto.createHash('sha256').update(target).digest('hex').slice(0, 16)}`;

const assertRoot = (what: string): void => {
  if (process.getuid?.() !== 0) throw new JailError('usage', `${what} needs real root: it mounts on the host`);
};

const assertEmptyDirectory = (target: string): void => {
  let entries: string[];
  try {
    if (!fs.lstatSync(target).isDirectory()) throw new JailError('usage', `refusing ${target}: not a directory`);
    entries = fs.readdirSync(target);
  } catch (error) {
    if (error instanceof JailError) throw error;
    throw new JailError('usage', `refusing ${target}: ${reason(error)}`);
  }
  if (entries.length > 0) throw new JailError('usage', `refusing ${target}: not an empty directory`);
  if (parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).some(entry => entry.mountPoint === target)) {
    throw new JailError('usage', `refusing ${target}: something is already mounted there`);
  }
};

export const mountCommand = async (options: MountOptions): Promise<{target: string; mask: ReadyMask}> => {
  assertRoot('nix-overlay-jail mount');
  requireTools(['mount', 'umount']);
  const target = path.resolve(options.target);
  assertEmptyDirectory(target);
  const closure = await computeClosure({...options, verifyPresent: false});
  const cache = MaskCache.open(options.cacheDir ?? defaultCacheDir());
  const mode = chooseMaskMode(options.mode, () => allowlistUnavailable(cache.dir, closure.storeDir, true));
  const mask = await ensureMask(cache, {mode, storeDir: closure.storeDir, closure: closure.entries, execOnly: options.execOnly});
  const optionsText = overlayOptions(mask.view.layersTopFirst, ['nosuid', 'nodev', ...mask.view.options]);

  if (mask.view.storeSubdir === '') {
    await run('mount', ['-t', 'overlay', '-o', optionsText, 'overlay', target], `mount the overlay on ${target}`);
  } else {
    const scratch = fs.mkdtempSync(path.join(cache.tmpDir(), 'mount-'));
    try {
      await run('mount', ['-t', 'overlay', '-o', optionsText, 'overlay', scratch], `mount the overlay on ${scratch}`);
      try {
        await run('mount', ['--bind', path.join(scratch, mask.view.storeSubdir), target], `bind the store on ${target}`);
        await run('mount', ['-o', 'remount,bind,ro,nosuid,nodev', target], `make ${target} read-only`);
      } finally {
        await run('umount', ['--lazy', scratch], `detach ${scratch}`);
      }
    } finally {
      fs.rmdirSync(scratch);
    }
  }
  const jails = path.join(mask.dir, 'jails');
  fs.mkdirSync(jails, {recursive: true, mode: 0o700});
  fs.writeFileSync(path.join(jails, mountRecord(target)), `mount ${target}\n`, {mode: 0o600});
  return {target, mask};
};

export const umountCommand = async (options: {target: string; cacheDir?: string | undefined}): Promise<string> => {
  assertRoot('nix-overlay-jail mount --umount');
  const target = path.resolve(options.target);
  const cache = MaskCache.existing(options.cacheDir ?? defaultCacheDir());
  const record = mountRecord(target);
  const owner = fs.readdirSync(path.join(cache.dir, 'masks')).find(key => fs.existsSync(path.join(cache.maskDir(key), 'jails', record)));
  const mounted = parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).filter(entry => entry.mountPoint === target);
  if (owner === undefined || mounted.length === 0 || mounted.some(entry => entry.fsType !== 'overlay')) {
    throw new JailError('usage', `refusing to unmount ${target}: it is not a store mounted by nix-overlay-jail mount (with this cache)`);
  }
  await run('umount', [target], `unmount ${target}`);
  fs.rmSync(path.join(cache.maskDir(owner), 'jails', record), {force: true});
  return target;
};
