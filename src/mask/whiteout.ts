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
import childProcess from 'node:child_process';
import {JailError, isErrno, reason} from '../errors.js';
import type {StoreEntryName} from '../store.js';

const isWhiteoutStats = (stats: fs.Stats): boolean => stats.isCharacterDevice() && stats.rdev === 0;

/**
 * Create one whiteout with the mknod program (an unprivileged user may since Linux 5.8).
 * node:child_process rather than execa: importing execa costs ~100 ms, a tenth of a whole
 * 100,000-entry build, for one short process.
 */
export const makeWhiteout = (file: string): void => {
  const result = childProcess.spawnSync('mknod', ['--', file, 'c', '0', '0'], {stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8'});
  if (result.error !== undefined || result.status !== 0) {
    if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      throw new JailError('missing-tool', 'mknod not found on PATH: install coreutils');
    }
    const detail = result.stderr?.trim().split('\n').pop() || `exit ${result.status}`;
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
 *
 * While linking, the process works from inside the layer and links by relative names: the
 * kernel then resolves one or two path components per link() instead of the whole cache path,
 * which is a tenth of a large build. `linkAll` runs synchronously, so nothing else in the
 * process sees the changed working directory.
 */
export class WhiteoutWriter {
  private template: string | undefined;
  private templates = 0;
  private pending: string[] = [];
  count = 0;

  /**
   * @param journal file descriptor to append every whited-out name to, NUL-terminated (no
   * entry name holds a NUL). Names are appended after they are linked, so the journal never
   * names more than the layer holds; one it misses is linked again later and answers EEXIST.
   */
  constructor(
    private readonly layerDir: string,
    private readonly templateDir: string,
    private readonly journal: number,
  ) {}

  private record(name: StoreEntryName): void {
    this.pending.push(name);
    if (this.pending.length >= 4096) this.flush();
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    fs.writeSync(this.journal, `${this.pending.join('\0')}\0`);
    this.pending = [];
  }

  private newTemplate(): string {
    fs.mkdirSync(this.templateDir, {recursive: true, mode: 0o700});
    let name: string;
    do name = `whiteout-${this.templates++}`;
    while (fs.existsSync(path.join(this.templateDir, name)));
    makeWhiteout(path.join(this.templateDir, name));
    return path.join(path.relative(this.layerDir, this.templateDir), name);
  }

  /** Run `body` with `add` available; the working directory is restored afterwards. */
  linkAll<T>(body: (add: (name: StoreEntryName) => boolean) => T): T {
    let previous = '/';
    try {
      previous = process.cwd();
    } catch {
      // The working directory was removed; coming back to / is the best that can be done.
    }
    process.chdir(this.layerDir);
    try {
      return body(name => this.add(name));
    } finally {
      process.chdir(previous);
      this.flush();
    }
  }

  /** White out one name. Returns false when it was already there (a refresh racing itself). */
  private add(name: StoreEntryName): boolean {
    if (name.includes('\uFFFD')) {
      // Node decodes directory entries as UTF-8; a name that is not would be linked under a
      // different name, and the real entry would stay visible.
      throw new JailError('whiteout', `cannot white out ${JSON.stringify(name)} in ${this.layerDir}: the name is not valid UTF-8`);
    }
    this.template ??= this.newTemplate();
    for (let attempt = 0; ; attempt++) {
      try {
        fs.linkSync(this.template, name);
        this.count++;
        this.record(name);
        return true;
      } catch (error) {
        if (isErrno(error, 'EMLINK') && attempt === 0) {
          this.template = this.newTemplate();
          continue;
        }
        if (isErrno(error, 'EEXIST')) {
          this.record(name); // linked by a run that died before it could journal it
          return false;
        }
        throw new JailError('whiteout', `cannot link a whiteout to ${path.join(this.layerDir, name)}: ${reason(error)}`);
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

/** The names a journal records (see WhiteoutWriter). */
export const readJournal = (file: string): Set<StoreEntryName> => {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return new Set();
    throw new JailError('cache', `cannot read mask journal ${file}: ${reason(error)}`);
  }
  const names = text.split('\0');
  names.pop(); // after the last NUL: empty, or a name cut short by a crash
  return new Set(names);
};

/** Whether every entry of a layer is a whiteout (what a whiteout mask may hold, and no more). */
export const isWhiteout = (file: string): boolean => {
  try {
    return isWhiteoutStats(fs.lstatSync(file));
  } catch {
    return false;
  }
};
