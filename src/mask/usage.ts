/**
 * Who uses a mask: `build` and `exec` record the time of use (for gc's --max-age), and every
 * running jail registers itself so that gc never removes a mask under it.
 *
 *   masks/KEY/used           its mtime is the last use
 *   masks/KEY/jails/PID      one per running jail, holding `pid starttime`
 *   masks/KEY/jails/mount-H  one per host mount (`mount TARGET`), in use while TARGET is mounted
 *
 * Registration happens under the mask's lock, and gc checks and removes under the same lock,
 * so a mask is either registered before gc looks or gone before the jail registers (and then
 * built again).
 */
import fs from 'node:fs';
import path from 'node:path';
import {isErrno} from '../errors.js';
import type {MaskCache} from './cache.js';
import {parseMountinfo} from '../mount/mountinfo.js';
import {acquireLock, holderIsAlive, processIdentity} from './lock.js';

export const recordUse = (maskDir: string): void => {
  const file = path.join(maskDir, 'used');
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch (error) {
    if (!isErrno(error, 'ENOENT')) throw error;
    fs.writeFileSync(file, '', {mode: 0o600});
  }
};

export const lastUse = (maskDir: string): number => {
  for (const file of ['used', 'state.json']) {
    try {
      return fs.statSync(path.join(maskDir, file)).mtimeMs;
    } catch {
      // try the next
    }
  }
  return 0;
};

export interface JailRegistration {
  release(): void;
}

/**
 * Register a running jail on a mask. Returns undefined when the mask is gone (gc removed it
 * after it was looked up): the caller gets the mask again.
 */
export const registerJail = async (cache: MaskCache, key: string): Promise<JailRegistration | undefined> => {
  const maskDir = cache.maskDir(key);
  const lock = await acquireLock(cache.lockFile(key));
  try {
    if (!fs.existsSync(path.join(maskDir, 'state.json'))) return undefined;
    const jails = path.join(maskDir, 'jails');
    fs.mkdirSync(jails, {recursive: true, mode: 0o700});
    const file = path.join(jails, String(process.pid));
    fs.writeFileSync(file, `${processIdentity()}\n`, {mode: 0o600});
    recordUse(maskDir);
    return {
      release: () => {
        try {
          fs.unlinkSync(file);
        } catch {
          // already gone
        }
      },
    };
  } finally {
    lock.release();
  }
};

/** The running jails on a mask (registrations of processes that are gone do not count). */
export const liveJails = (maskDir: string): number => {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(maskDir, 'jails'));
  } catch {
    return 0;
  }
  let mountPoints: Set<string> | undefined;
  return names.filter(name => {
    try {
      const record = fs.readFileSync(path.join(maskDir, 'jails', name), 'utf8');
      if (!record.startsWith('mount ')) return holderIsAlive(record);
      // A host mount (nix-overlay-jail mount) is in use while its target is mounted.
      mountPoints ??= new Set(parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map(entry => entry.mountPoint));
      return mountPoints.has(record.slice('mount '.length).trimEnd());
    } catch {
      return false;
    }
  }).length;
};
