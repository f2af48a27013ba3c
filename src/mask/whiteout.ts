/**
 * Writing whiteouts: the only code that creates the character devices overlayfs reads as
 * "this name is deleted".
 *
 * A whiteout is `mknod(S_IFCHR, 0/0)`. Node has no mknod, and spawning the mknod program per
 * entry would cost a process per store path, so one template is made with `mknod` and every
 * whiteout is a hard link of it: a hard link of a whiteout is a whiteout (overlayfs shares a
 * single whiteout inode the same way). Filesystems cap links per inode (ext4: 65,000), so
 * when link() says EMLINK the writer starts a new template.
 */
import fs from 'node:fs';
import path from 'node:path';
import type {execaSync as ExecaSync} from 'execa';
import {JailError, isErrno, reason} from '../errors.js';
import type {StoreEntryName} from '../store.js';

const isWhiteoutStats = (stats: fs.Stats): boolean => stats.isCharacterDevice() && stats.rdev === 0;

/** Create one whiteout with the mknod program (an unprivileged user may since Linux 5.8). */
export const makeWhiteout = (file: string, execaSync: typeof ExecaSync): void => {
  const result = execaSync('mknod', ['--', file, 'c', '0', '0'], {reject: false, stdin: 'ignore'});
  if (result.failed) {
    if ((result as {code?: string}).code === 'ENOENT') {
      throw new JailError('missing-tool', 'mknod not found on PATH: install coreutils');
    }
    const detail = result.stderr.trim().split('\n').pop() ?? `exit ${result.exitCode}`;
    throw new JailError(
      'whiteout',
      `cannot create a whiteout at ${file}: ${detail} (the filesystem or this user cannot make 0/0 character devices; use --cache-dir on ext4, xfs, btrfs or tmpfs)`,
    );
  }
  const stats = fs.lstatSync(file);
  if (!isWhiteoutStats(stats)) {
    throw new JailError('whiteout', `mknod made something other than a whiteout at ${file}`);
  }
};

/**
 * Adds whiteouts to one mask directory by linking templates kept in a sibling directory (on
 * the same filesystem, outside the layer, so the templates never appear in a jail).
 */
export class WhiteoutWriter {
  private template: string | undefined;
  private templates = 0;
  count = 0;

  constructor(
    private readonly layerDir: string,
    private readonly templateDir: string,
    /** Passed in so that only builds pay for loading execa, not every cached lookup. */
    private readonly execaSync: typeof ExecaSync,
  ) {}

  private newTemplate(): string {
    fs.mkdirSync(this.templateDir, {recursive: true, mode: 0o700});
    let file: string;
    do file = path.join(this.templateDir, `whiteout-${this.templates++}`);
    while (fs.existsSync(file));
    makeWhiteout(file, this.execaSync);
    return file;
  }

  /** White out one name. Returns false when it was already there (a refresh racing itself). */
  add(name: StoreEntryName): boolean {
    this.template ??= this.newTemplate();
    const target = path.join(this.layerDir, name);
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(this.template, target);
        this.count++;
        return true;
      } catch (error) {
        if (isErrno(error, 'EMLINK') && attempt === 0) {
          this.template = this.newTemplate();
          continue;
        }
        if (isErrno(error, 'EEXIST')) return false;
        throw new JailError('whiteout', `cannot link a whiteout to ${target}: ${reason(error)}`);
      }
    }
  }
}

/** The names in a directory, streamed in batches so a million-entry store is never held twice. */
export function* listDirectory(dir: string): Generator<string> {
  let handle: fs.Dir;
  try {
    handle = fs.opendirSync(dir, {bufferSize: 4096});
  } catch (error) {
    throw new JailError('bad-store', `cannot list ${dir}: ${reason(error)}`);
  }
  try {
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) yield entry.name;
  } finally {
    handle.closeSync();
  }
}

/** Whether every entry of a layer is a whiteout (what a whiteout mask may hold, and no more). */
export const isWhiteout = (file: string): boolean => {
  try {
    return isWhiteoutStats(fs.lstatSync(file));
  } catch {
    return false;
  }
};
