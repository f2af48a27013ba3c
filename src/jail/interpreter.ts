/**
 * Whether a program can start inside the jail: the kernel needs the program's interpreter
 * (a script's `#!` line, or a dynamically linked ELF's PT_INTERP, the dynamic loader), and
 * that interpreter's own, in the jail. Without them bubblewrap's execvp fails and exits 1,
 * which cannot be told from the program's own `exit 1`; so this is checked before starting.
 */
import fs from 'node:fs';
import path from 'node:path';
import {EXIT_CANNOT_RUN, JailError} from '../errors.js';
import {JAIL_STORE} from '../store.js';

/** Linux reads this much of a script's first line (BINPRM_BUF_SIZE). */
const HEADER_BYTES = 256;
/** Linux follows at most this many interpreters of interpreters. */
const MAX_DEPTH = 4;
const PT_INTERP = 3;

/** The interpreter a file's first bytes name, as the kernel would find it; undefined for none. */
export const interpreterOf = (header: Buffer, readAt: (offset: number, length: number) => Buffer): string | undefined => {
  if (header.subarray(0, 2).toString('latin1') === '#!') {
    const line = header.subarray(2).toString('latin1').split('\n')[0]!;
    const word = line.trim().split(/[ \t]/)[0];
    return word === undefined || word === '' ? undefined : word;
  }
  if (header.length < 52 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const is64 = header[4] === 2;
  const little = header[5] === 1;
  const u16 = (buffer: Buffer, at: number): number => (little ? buffer.readUInt16LE(at) : buffer.readUInt16BE(at));
  const u32 = (buffer: Buffer, at: number): number => (little ? buffer.readUInt32LE(at) : buffer.readUInt32BE(at));
  const word = (buffer: Buffer, at: number): number => (is64 ? Number(little ? buffer.readBigUInt64LE(at) : buffer.readBigUInt64BE(at)) : u32(buffer, at));
  const elf = readAt(0, is64 ? 64 : 52);
  const phoff = word(elf, is64 ? 32 : 28);
  const phentsize = u16(elf, is64 ? 54 : 42);
  const phnum = u16(elf, is64 ? 56 : 44);
  if (phentsize === 0 || phnum === 0) return undefined;
  const table = readAt(phoff, phentsize * phnum);
  for (let index = 0; index < phnum; index++) {
    const at = index * phentsize;
    if (at + phentsize > table.length || u32(table, at) !== PT_INTERP) continue;
    const offset = word(table, at + (is64 ? 8 : 4));
    const size = word(table, at + (is64 ? 32 : 16));
    return readAt(offset, size).toString('latin1').replace(/\0.*$/s, '');
  }
  return undefined;
};

const readInterpreter = (file: string): string | undefined => {
  const fd = fs.openSync(file, 'r');
  try {
    const readAt = (offset: number, length: number): Buffer => {
      const buffer = Buffer.alloc(Math.min(length, 1 << 20));
      return buffer.subarray(0, fs.readSync(fd, buffer, 0, buffer.length, offset));
    };
    return interpreterOf(readAt(0, HEADER_BYTES), readAt);
  } finally {
    fs.closeSync(fd);
  }
};

export interface JailFiles {
  /** The host directory whose closure entries are the jail's /nix/store. */
  storeDir: string;
  closure: ReadonlySet<string>;
  /** Where host paths are bound in the jail (their destinations). */
  bindDests: readonly string[];
  /** Whether other bubblewrap arguments may add paths this check cannot see. */
  opaque: boolean;
  /** Links the jail makes (/bin/sh and /usr/bin/env into the closure): an interpreter there is their target. */
  links?: ReadonlyArray<{target: string; dest: string}> | undefined;
}

const covered = (file: string, dests: readonly string[]): boolean =>
  dests.some(dest => file === dest || file.startsWith(dest === '/' ? '/' : `${dest}/`));

/** The kernel's limit on links followed in one resolution. */
const MAX_LINKS = 40;

/**
 * A path outside the store as the jail resolves it through the links the jail makes itself
 * (`/usr/bin/env` and `/bin/sh` into the closure, a host chain such as /run/current-system):
 * a link at the path or at one of its directories takes its place. A bind there wins, as in
 * the jail (bubblewrap makes links before binds, and a bind over a link replaces it).
 */
const throughLinks = (start: string, jail: JailFiles): string => {
  let current = path.posix.normalize(start);
  for (let count = 0; count < MAX_LINKS && !current.startsWith(`${JAIL_STORE}/`); count++) {
    const link = jail.links?.find(candidate => covered(current, [candidate.dest]) && !covered(candidate.dest, jail.bindDests));
    if (link === undefined) break;
    const rest = current.slice(link.dest.length);
    current = path.posix.normalize(`${path.posix.resolve(path.posix.dirname(link.dest), link.target)}${rest}`);
  }
  return current;
};

/**
 * Refuse, with exit 126 and the missing piece named, a program (`/nix/store/…` as the jail sees
 * it) whose chain of interpreters leaves the jail's store or reaches a path nothing binds.
 */
export const assertRunnable = (program: string, jail: JailFiles): void => {
  let current = program;
  for (let depth = 0; depth <= MAX_DEPTH; depth++) {
    current = throughLinks(current, jail);
    const relative = path.posix.relative(JAIL_STORE, current);
    if (relative.startsWith('..') || path.posix.isAbsolute(relative) || relative === '') {
      // Outside the store: present only if bound in (or if --bwrap-arg may have put it there).
      if (jail.opaque || covered(path.posix.normalize(current), jail.bindDests)) return;
      throw new JailError('cannot-run', `${program} cannot run in the jail: its interpreter ${current} is outside /nix/store and not bound in`, EXIT_CANNOT_RUN);
    }
    const entry = relative.split('/')[0]!;
    if (!jail.closure.has(entry)) {
      throw new JailError('cannot-run', current === program
        ? `${program} cannot run in the jail: ${JAIL_STORE}/${entry} is not in its closure`
        : `${program} cannot run in the jail: its interpreter ${current} is not in the closure (add it with --also)`, EXIT_CANNOT_RUN);
    }
    const host = path.join(jail.storeDir, relative);
    let next: string | undefined;
    try {
      // A symlink may lead into another store entry, which must be in the closure too.
      const real = path.relative(jail.storeDir, fs.realpathSync.native(host));
      const realEntry = real.split(path.sep)[0]!;
      if (!real.startsWith('..') && !jail.closure.has(realEntry)) {
        throw new JailError('cannot-run', `${program} cannot run in the jail: ${current} leads to ${JAIL_STORE}/${realEntry}, which is not in the closure`, EXIT_CANNOT_RUN);
      }
      next = readInterpreter(host);
    } catch (error) {
      if (error instanceof JailError) throw error;
      if (depth > 0 && (error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new JailError('cannot-run', `${program} cannot run in the jail: its interpreter ${current} does not exist`, EXIT_CANNOT_RUN);
      }
      return; // unreadable from here (an execute-only file): the kernel will judge
    }
    if (next === undefined) return;
    current = next;
  }
};
