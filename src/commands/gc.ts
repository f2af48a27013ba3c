/**
 * `gc`: remove cached masks not used for --max-age, then the least recently used beyond
 * --max-size; never a mask a running jail is registered on, and only inside a cache directory
 * this tool made. A mask is checked and moved out of masks/ under its lock, then deleted.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {JailError} from '../errors.js';
import {removeTree} from '../mask/publish.js';
import {MaskCache, defaultCacheDir, readMaskState} from '../mask/cache.js';
import {acquireLock, holderIsAlive} from '../mask/lock.js';
import {lastUse, liveJails} from '../mask/usage.js';

export interface GcOptions {
  cacheDir?: string | undefined;
  maxAgeMs: number;
  maxSizeBytes?: number | undefined;
  dryRun: boolean;
  now?: number;
}

export interface GcEntry {
  key: string;
  bytes: number;
  lastUsed: string;
  reason: 'older than --max-age' | 'beyond --max-size' | 'incomplete';
}

export interface GcReport {
  cacheDir: string;
  removed: GcEntry[];
  kept: number;
  inUse: string[];
  freedBytes: number;
  dryRun: boolean;
}

/** Disk use of a mask: its directories' own blocks and one inode per template (links are free). */
const maskBytes = (maskDir: string): number => {
  let bytes = 0;
  const add = (file: string): void => {
    try {
      bytes += fs.lstatSync(file).blocks * 512;
    } catch {
      // gone meanwhile
    }
  };
  for (const name of ['', 'layer', 'merged', 'state.json', 'hidden', 'used', 'jails', 'templates']) add(path.join(maskDir, name));
  try {
    for (const name of fs.readdirSync(path.join(maskDir, 'templates'))) add(path.join(maskDir, 'templates', name));
  } catch {
    // no templates
  }
  return bytes;
};

const parseSize = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?$/i.exec(text.trim());
  if (!match) throw new JailError('usage', `--max-size must be a size such as 500M or 2G, got ${JSON.stringify(text)}`);
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Math.round(Number(match[1]) * 1024 ** power);
};

const parseAge = (text: string): number => {
  const match = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/i.exec(text.trim());
  if (!match) throw new JailError('usage', `--max-age must be a duration such as 30d, 12h or 0, got ${JSON.stringify(text)}`);
  const unit = {'': 86_400_000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000}[(match[2] ?? '').toLowerCase() as '' | 's'];
  return Number(match[1]) * unit;
};

export const parseGcLimits = (maxAge: string, maxSize: string | undefined) => ({
  maxAgeMs: parseAge(maxAge),
  maxSizeBytes: maxSize === undefined ? undefined : parseSize(maxSize),
});

export const gcCommand = async (options: GcOptions): Promise<GcReport> => {
  const cache = MaskCache.existing(options.cacheDir ?? defaultCacheDir());
  const now = options.now ?? Date.now();
  const masksDir = path.join(cache.dir, 'masks');
  const masks = (fs.existsSync(masksDir) ? fs.readdirSync(masksDir) : []).map(key => {
    const dir = cache.maskDir(key);
    return {key, dir, bytes: maskBytes(dir), used: lastUse(dir), complete: readMaskState(path.join(dir, 'state.json')) !== undefined};
  });

  // Oldest use first: what --max-age and then --max-size take.
  masks.sort((a, b) => a.used - b.used);
  const chosen = new Map<string, GcEntry['reason']>();
  for (const mask of masks) {
    if (!mask.complete) chosen.set(mask.key, 'incomplete');
    else if (now - mask.used > options.maxAgeMs) chosen.set(mask.key, 'older than --max-age');
  }
  if (options.maxSizeBytes !== undefined) {
    let total = masks.filter(mask => !chosen.has(mask.key)).reduce((sum, mask) => sum + mask.bytes, 0);
    for (const mask of masks) {
      if (total <= options.maxSizeBytes) break;
      if (chosen.has(mask.key) || liveJails(mask.dir) > 0) continue;
      chosen.set(mask.key, 'beyond --max-size');
      total -= mask.bytes;
    }
  }

  const report: GcReport = {cacheDir: cache.dir, removed: [], kept: 0, inUse: [], freedBytes: 0, dryRun: options.dryRun};
  for (const mask of masks) {
    const reason = chosen.get(mask.key);
    if (reason === undefined) {
      report.kept++;
      continue;
    }
    const lock = await acquireLock(cache.lockFile(mask.key));
    let removedDir: string | undefined;
    try {
      // Another gc removed it while this one waited for the lock.
      if (!fs.existsSync(mask.dir)) continue;
      if (liveJails(mask.dir) > 0) {
        report.inUse.push(mask.key);
        report.kept++;
        continue;
      }
      if (!options.dryRun) {
        removedDir = path.join(cache.tmpDir(), `gc-${mask.key}-${crypto.randomBytes(4).toString('hex')}`);
        fs.renameSync(mask.dir, removedDir);
        // A launcher registers without the lock: it writes its record, then checks that the
        // mask is still in place. Looking again after moving the mask away means one of the
        // two always sees the other: a launcher that registered in time is seen here (and
        // the mask goes back), one that registered later finds no mask and goes to exec.
        if (liveJails(removedDir) > 0) {
          fs.renameSync(removedDir, mask.dir);
          removedDir = undefined;
          report.inUse.push(mask.key);
          report.kept++;
          continue;
        }
      }
    } finally {
      lock.release();
    }
    if (removedDir !== undefined) removeTree(removedDir);
    report.removed.push({key: mask.key, bytes: mask.bytes, lastUsed: new Date(mask.used).toISOString(), reason});
    report.freedBytes += mask.bytes;
  }

  if (!options.dryRun) {
    removeAbandonedStaging(cache);
    removeAbandonedLockFiles(cache);
    removeAbandonedLaunchFiles(cache, now);
  }
  return report;
};

/** How old a launcher's file must be before gc may judge it (it is written after it is made). */
const LAUNCH_FILE_GRACE_MS = 60_000;

/**
 * What killed launchers leave: their jail records on masks (jails/PID) and their status
 * files in plan directories (run.PID), once their process is gone. A record of a live jail is
 * never removed; a file younger than a minute is left alone, as its writer may still be
 * filling it in.
 */
const removeAbandonedLaunchFiles = (cache: MaskCache, now: number): void => {
  const old = (file: string): boolean => {
    try {
      return now - fs.lstatSync(file).mtimeMs > LAUNCH_FILE_GRACE_MS;
    } catch {
      return false;
    }
  };
  const children = (dir: string): string[] => {
    try {
      return fs.readdirSync(dir).map(name => path.join(dir, name));
    } catch {
      return [];
    }
  };
  for (const maskDir of children(path.join(cache.dir, 'masks'))) {
    for (const record of children(path.join(maskDir, 'jails'))) {
      if (!/^\d+$/.test(path.basename(record)) || !old(record)) continue;
      let content = '';
      try {
        content = fs.readFileSync(record, 'utf8');
      } catch {
        continue;
      }
      if (!holderIsAlive(content)) fs.rmSync(record, {force: true});
    }
  }
  for (const planDir of children(path.join(cache.dir, 'plans'))) {
    for (const file of children(planDir)) {
      const pid = /^run\.(\d+)(?:\.\d+)?$/.exec(path.basename(file))?.[1];
      if (pid !== undefined && old(file) && !fs.existsSync(`/proc/${pid}`)) fs.rmSync(file, {force: true});
    }
  }
};

/** Private files of lock attempts (KEY.lock.PID.RANDOM.new) whose process is gone. */
const removeAbandonedLockFiles = (cache: MaskCache): void => {
  let names: string[];
  try {
    names = fs.readdirSync(path.join(cache.dir, 'locks'));
  } catch {
    return;
  }
  for (const name of names) {
    const pid = /\.lock\.(\d+)\.[a-z0-9]+\.new$/.exec(name)?.[1];
    if (pid !== undefined && !fs.existsSync(`/proc/${pid}`)) fs.rmSync(path.join(cache.dir, 'locks', name), {force: true});
  }
};

/**
 * Staging directories of builds whose process is gone, and gc leftovers. (Stale locks are left
 * to acquireLock, which takes them over atomically; removing them here could race with it.)
 */
const removeAbandonedStaging = (cache: MaskCache): void => {
  for (const name of fs.readdirSync(cache.tmpDir())) {
    const pid = /^[0-9a-f]{32}\.(\d+)\./.exec(name)?.[1];
    const abandoned = name.startsWith('gc-') || (pid !== undefined && !fs.existsSync(`/proc/${pid}`));
    if (abandoned) removeTree(path.join(cache.tmpDir(), name));
  }
};
