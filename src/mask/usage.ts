/**
 * Who uses a mask: `build` and `exec` record the time of use (for gc's --max-age), and every
 * running jail registers itself so that gc never removes a mask under it.
 *
 *   masks/KEY/used           its mtime is the last use
 *   masks/KEY/jails/PID      one per running jail, holding `pid starttime`
 *   masks/KEY/jails/mount-H  one per host mount (`mount TARGET`), in use while TARGET is mounted:
 *                            `{"mount": TARGET}`, TARGET the real path (as mountinfo shows it)
 *
 * Registration happens under the mask's lock, and gc checks and removes under the same lock,
 * so a mask is either registered before gc looks or gone before the jail registers (and then
 * built again).
 */
import crypto from 'node:crypto';
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
 * Register a user of a mask under its lock. Returns undefined when the mask is gone (gc
 * removed it after it was looked up): the caller gets the mask again. `whileLocked` runs
 * after the record is written and before the lock is released; if it fails, the record goes.
 */
const register = async (cache: MaskCache, key: string, name: string, record: string, whileLocked?: () => Promise<void>): Promise<JailRegistration | undefined> => {
  const maskDir = cache.maskDir(key);
  const lock = await acquireLock(cache.lockFile(key));
  try {
    if (!fs.existsSync(path.join(maskDir, 'state.json'))) return undefined;
    const jails = path.join(maskDir, 'jails');
    fs.mkdirSync(jails, {recursive: true, mode: 0o700});
    const file = path.join(jails, name);
    const release = (): void => {
      try {
        fs.unlinkSync(file);
      } catch {
        // already gone
      }
    };
    try {
      fs.writeFileSync(file, record, {mode: 0o600});
      recordUse(maskDir);
      await whileLocked?.();
    } catch (error) {
      release();
      throw error;
    }
    return {release};
  } finally {
    lock.release();
  }
};

/** Register a running jail (this process) on a mask; see register. */
export const registerJail = (cache: MaskCache, key: string): Promise<JailRegistration | undefined> =>
  register(cache, key, String(process.pid), `${processIdentity()}\n`);

/** The record's name for a host mount on TARGET (a real path). */
export const mountRecordName = (target: string): string => `mount-${crypto.createHash('sha256').update(target).digest('hex').slice(0, 16)}`;

/**
 * Register a host mount on TARGET (its real path) on a mask and make it with `mount`, both
 * under the mask's lock: gc, which judges a mount record by whether TARGET is mounted, never
 * looks between the two. If mounting fails, the record goes; see register.
 */
export const registerMount = (cache: MaskCache, key: string, target: string, mount: () => Promise<void>): Promise<JailRegistration | undefined> =>
  register(cache, key, mountRecordName(target), `${JSON.stringify({mount: target})}\n`, mount);

/** The target of a host mount record, or undefined for a jail's. */
const mountTarget = (record: string): string | undefined => {
  if (record.startsWith('{')) {
    const target = (JSON.parse(record) as {mount?: unknown}).mount;
    return typeof target === 'string' ? target : '';
  }
  // Records of earlier versions: `mount TARGET` on one line.
  return record.startsWith('mount ') ? record.slice('mount '.length).trimEnd() : undefined;
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
      const target = mountTarget(record);
      if (target === undefined) return holderIsAlive(record);
      // A host mount (nix-overlay-jail mount) is in use while its target is mounted.
      mountPoints ??= new Set(parseMountinfo(fs.readFileSync('/proc/self/mountinfo', 'utf8')).map(entry => entry.mountPoint));
      return mountPoints.has(target);
    } catch {
      return false;
    }
  }).length;
};
