/**
 * What this machine and caller can do, read from /proc/sys and PATH: the inputs of the
 * strategy choice. Cheap reads only; bubblewrap's version costs a process, so it is asked for
 * only when the choice depends on it.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {JailError} from '../errors.js';
import {plainLayerPaths} from './options.js';

export const readSysctl = (name: string): string | undefined => {
  try {
    return fs.readFileSync(`/proc/sys/${name.replace(/\./g, '/')}`, 'utf8').trim();
  } catch {
    return undefined;
  }
};

/** Why an ordinary user cannot make a user namespace here, or undefined when they can. */
export const usernsUnavailable = (): string | undefined => {
  if (readSysctl('user.max_user_namespaces') === '0') {
    return 'unprivileged user namespaces are switched off (user.max_user_namespaces = 0): set it above 0 with sysctl, or run as root';
  }
  if (readSysctl('kernel.unprivileged_userns_clone') === '0') {
    return 'unprivileged user namespaces are switched off (kernel.unprivileged_userns_clone = 0): set it to 1 with sysctl, or run as root';
  }
  if (readSysctl('kernel.apparmor_restrict_unprivileged_userns') === '1') {
    return 'AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns = 1): allow them for unshare and bwrap, or run as root';
  }
  return undefined;
};

export const findOnPath = (name: string, searchPath = process.env['PATH'] ?? ''): string | undefined => {
  for (const dir of searchPath.split(':')) {
    if (dir === '') continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
};

const INSTALL_HINT: Record<string, string> = {
  bwrap: 'install bubblewrap (Debian: apt-get install bubblewrap)',
  unshare: 'install util-linux',
  mount: 'install mount (util-linux)',
  sh: 'install a POSIX shell',
  mknod: 'install coreutils',
  'fuse-overlayfs': 'install fuse-overlayfs (Debian: apt-get install fuse-overlayfs)',
};

export const requireTools = (names: readonly string[]): void => {
  for (const name of names) {
    if (findOnPath(name) === undefined) {
      throw new JailError('missing-tool', `${name} not found on PATH: ${INSTALL_HINT[name] ?? `install ${name}`}`);
    }
  }
};

/** bubblewrap's option for an overlay's lower layers (0.11.0 and later): what the probe below looks for. */
const OVERLAY_OPTION = Buffer.from('--overlay-src');
/** Far more than any bubblewrap (0.12 is ~190 KB): a larger file is not read. */
const PROBE_LIMIT = 8 * 1024 * 1024;

/**
 * Whether the bubblewrap at this path can mount overlays itself, read from its file rather
 * than asked (its --version costs a process, ~2 ms, on every exec): a regular file that knows
 * --overlay-src, and not set-user-ID, which bubblewrap refuses overlays under. A wrapper
 * script, or anything unreadable, answers no: the choice then stays with the user namespace.
 */
export const bwrapMountsOverlays = (file: string | undefined): boolean => {
  if (file === undefined) return false;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || (stat.mode & 0o4000) !== 0 || stat.size > PROBE_LIMIT) return false;
    return fs.readFileSync(file).includes(OVERLAY_OPTION);
  } catch {
    return false;
  }
};

/**
 * Whether auto may let this bubblewrap mount an ordinary user's jail: it can mount overlays, and
 * the cache's and the store's paths (masks lie at CACHE/masks/KEY/layer, KEY hex) can be given
 * to it as layers.
 */
export const bwrapOverlayUsable = (bwrap: string | undefined, cacheDir: string, storeDir: string): boolean =>
  plainLayerPaths([cacheDir, storeDir]) && bwrapMountsOverlays(bwrap);

export const bwrapVersion = (): number[] | undefined => {
  const result = childProcess.spawnSync('bwrap', ['--version'], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']});
  const match = /(\d+)\.(\d+)(?:\.(\d+))?/.exec(result.stdout ?? '');
  return match ? [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)] : undefined;
};

/** Why this kernel cannot mount overlay in a user namespace (it can since Linux 5.11), or undefined. */
export const usernsOverlayUnavailable = (release = os.release()): string | undefined => {
  const match = /^(\d+)\.(\d+)/.exec(release);
  if (match === null) return undefined;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major < 5 || (major === 5 && minor < 11) ? `Linux ${major}.${minor} cannot mount overlay in a user namespace (5.11 can)` : undefined;
};

/** Why fuse-overlayfs cannot mount a jail's store for this caller, or undefined when it can. */
export const fuseUnavailable = (): string | undefined => {
  const missing = ['fuse-overlayfs', 'setpriv'].find(name => findOnPath(name) === undefined);
  if (missing !== undefined) return `${missing} not found on PATH: ${INSTALL_HINT[missing] ?? 'install util-linux'}`;
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return fs.existsSync('/dev/fuse')
      ? '/dev/fuse is not readable and writable by you (most distributions make it 0666; here it is not): ask for it, or use a kernel way'
      : 'this host has no /dev/fuse (modprobe fuse)';
  }
  return undefined;
};
