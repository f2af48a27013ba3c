/**
 * Which file descriptors reach the jailed program: 0, 1 and 2, and the ones asked for with
 * --keep-fd, nothing else.
 *
 * A descriptor the caller holds without close-on-exec survives Node, unshare, the mount script
 * and bubblewrap, and bubblewrap has no option to close it. Through /proc/self/fd/N a directory
 * descriptor is a view of the host that no mount namespace hides: an inherited descriptor of
 * /nix/store walks around the mask. So before the jail starts, this process closes every
 * descriptor it inherited. Node opens its own with O_CLOEXEC (they never cross an exec), so an
 * inherited one is any descriptor above 2 without that flag.
 */
import fs from 'node:fs';
import {JailError} from '../errors.js';

/** O_CLOEXEC and O_NONBLOCK as the `flags:` line of /proc/PID/fdinfo/N shows them (octal). */
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;

const fdinfoFlags = (fdinfo: string): number => {
  const match = /^flags:\s*([0-7]+)$/m.exec(fdinfo);
  return match === null ? 0 : Number.parseInt(match[1]!, 8);
};

/** Whether an fdinfo text says the descriptor is closed on exec. */
export const isCloseOnExec = (fdinfo: string): boolean => (fdinfoFlags(fdinfo) & O_CLOEXEC) !== 0;

/**
 * Whether a descriptor is one of Node's own event-loop descriptors: an epoll, eventfd or
 * similar anonymous inode, or a non-blocking close-on-exec pipe (libuv's signal and wake-up
 * pipes). Passing one of those to the program would mean nothing to it.
 */
export const isRuntimeDescriptor = (target: string, fdinfo: string): boolean =>
  target.startsWith('anon_inode:') ||
  (target.startsWith('pipe:') && (fdinfoFlags(fdinfo) & (O_CLOEXEC | O_NONBLOCK)) === (O_CLOEXEC | O_NONBLOCK));

/**
 * The descriptors bubblewrap reports on and reads from (its seccomp filter, the jail's
 * /etc/passwd, /etc/group and /etc/hosts, then `files` more such as an Xauthority): the lowest
 * numbers above 2 that no kept descriptor uses, so a kept one arrives at its own number.
 */
export const controlDescriptors = (keep: readonly number[], files = 0): {statusFd: number; seccompFd: number; passwdFd: number; groupFd: number; hostsFd: number; fileFds: number[]} => {
  const taken = new Set(keep);
  const free: number[] = [];
  for (let fd = 3; free.length < 5 + files; fd++) if (!taken.has(fd)) free.push(fd);
  const [statusFd, seccompFd, passwdFd, groupFd, hostsFd, ...fileFds] = free as [number, number, number, number, number, ...number[]];
  return {statusFd, seccompFd, passwdFd, groupFd, hostsFd, fileFds};
};

/** Parse one --keep-fd value: a descriptor number above 2. */
export const parseKeepFd = (value: string): number => {
  if (!/^\d+$/.test(value)) throw new JailError('usage', `--keep-fd needs a descriptor number, got ${JSON.stringify(value)}`);
  const fd = Number(value);
  if (fd <= 2) throw new JailError('usage', `--keep-fd ${fd}: descriptors 0, 1 and 2 always reach the program`);
  if (!Number.isSafeInteger(fd)) throw new JailError('usage', `--keep-fd ${value}: not a descriptor number`);
  return fd;
};

const openDescriptors = (): number[] =>
  fs.readdirSync('/proc/self/fd').map(Number).filter(fd => Number.isInteger(fd));

const readOr = (read: () => string): string => {
  try {
    return read();
  } catch {
    return '';
  }
};

/** What descriptor `fd` of this process refers to (`/dev/pts/3`, `pipe:[12]`), or ''. */
export const fdTarget = (fd: number): string => readOr(() => fs.readlinkSync(`/proc/self/fd/${fd}`));

/**
 * Check that each descriptor to keep is open and was inherited: not close-on-exec, as
 * closeInheritedDescriptors decides (every descriptor Node opens itself is close-on-exec,
 * its internal pipes included).
 */
export const assertKeepable = (keep: readonly number[]): void => {
  for (const fd of keep) {
    try {
      fs.fstatSync(fd);
    } catch {
      throw new JailError('usage', `--keep-fd ${fd}: descriptor ${fd} is not open`);
    }
    const info = readOr(() => fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    if (info === '' || isCloseOnExec(info) || isRuntimeDescriptor(fdTarget(fd), info)) {
      throw new JailError('usage', `--keep-fd ${fd}: descriptor ${fd} is nix-overlay-jail's own (${fdTarget(fd)}), not one it inherited`);
    }
  }
};

/** Close every descriptor above 2 that this process inherited, except those to keep. */
export const closeInheritedDescriptors = (keep: readonly number[]): void => {
  const kept = new Set(keep);
  for (const fd of openDescriptors()) {
    if (fd <= 2 || kept.has(fd)) continue;
    let info: string;
    try {
      info = fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
    } catch {
      continue; // the directory handle of the listing itself, already closed
    }
    if (isCloseOnExec(info)) continue;
    try {
      fs.closeSync(fd);
    } catch {
      // closed meanwhile
    }
  }
};
