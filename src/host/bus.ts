/**
 * The D-Bus proxy of one jail: xdg-dbus-proxy, run outside the jail as the caller, with its
 * sockets in a directory of their own that only the caller can enter.
 *
 * Its lifetime is held by a descriptor (`--fd`): the proxy exits when the other end closes,
 * which happens when this process closes it after the jail, and also when this process dies
 * however it dies (SIGKILL included), since the kernel closes it then. On exit the proxy
 * removes its sockets; the empty directory of a process that could not remove it is swept by
 * the next run that starts a proxy. The proxy runs in a session of its own, so the terminal's
 * Ctrl-C reaches the jail (run.ts relays it) and not the bus the jail is using.
 */
import childProcess from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type {Duplex} from 'node:stream';
import {JailError, reason} from '../errors.js';
import {proxyArgs, type BusPlan} from './desktop.js';

const PREFIX = 'nix-overlay-jail-bus-';
/** How long the proxy may take to open its sockets, and to exit once told to. */
const READY_MS = 10_000;
const EXIT_MS = 2_000;

/**
 * Where a directory of this run's goes (the D-Bus proxy's, the network proxy's): the caller's
 * runtime directory when it has one (a tmpfs only the caller can enter, emptied at logout),
 * else the temporary directory. The name carries this process's id, so a later run can tell a
 * leftover from a live one.
 */
export const runDirectory = (env: Readonly<Record<string, string | undefined>>, prefix: string): string => {
  const runtime = env['XDG_RUNTIME_DIR'];
  let parent = os.tmpdir();
  try {
    if (runtime !== undefined && path.isAbsolute(runtime) && fs.statSync(runtime).isDirectory()) parent = runtime;
  } catch {
    // no runtime directory: the temporary one
  }
  return path.join(parent, `${prefix}${process.pid}-${crypto.randomBytes(6).toString('hex')}`);
};

export const busDirectory = (env: Readonly<Record<string, string | undefined>>): string => runDirectory(env, PREFIX);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Remove the caller's directories of `prefix` left by runs that are gone (killed before they could). */
export const sweepRunDirectories = (parent: string, prefix: string): void => {
  let names: string[];
  try {
    names = fs.readdirSync(parent).filter(name => name.startsWith(prefix));
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    const dir = path.join(parent, name);
    const stat = fs.lstatSync(dir, {throwIfNoEntry: false});
    if (stat === undefined || !stat.isDirectory() || stat.uid !== uid || !Number.isInteger(pid) || alive(pid)) continue;
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

export const sweepBusDirectories = (parent: string): void => sweepRunDirectories(parent, PREFIX);

export interface RunningProxy {
  /** Close the proxy's descriptor, wait for it to exit (kill it if it does not), remove its directory. */
  stop: () => Promise<void>;
}

/** Make `dir` (only the caller may enter it), start the proxy there and wait until its sockets listen. */
export const startBusProxy = async (bus: BusPlan, dir: string): Promise<RunningProxy> => {
  sweepBusDirectories(path.dirname(dir));
  try {
    fs.mkdirSync(dir, {mode: 0o700});
  } catch (error) {
    throw new JailError('cache', `cannot make the D-Bus proxy's directory ${dir}: ${reason(error)}`);
  }
  const remove = (): void => fs.rmSync(dir, {recursive: true, force: true});
  // Descriptor 3 is a socket pair: the proxy writes one byte on it when ready and exits when it closes.
  const child = childProcess.spawn(bus.proxy, proxyArgs(bus, dir, 3), {stdio: ['ignore', 'ignore', 'inherit', 'pipe'], detached: true});
  const lifeline = child.stdio[3] as Duplex;
  lifeline.on('error', () => undefined);
  const exited = new Promise<void>(resolve => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async (): Promise<void> => {
    lifeline.destroy();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>(resolve => {
      timer = setTimeout(() => resolve('late'), EXIT_MS);
    });
    if ((await Promise.race([exited, late])) === 'late') {
      child.kill('SIGKILL');
      await exited;
    }
    clearTimeout(timer);
    remove();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new JailError('missing-tool', `xdg-dbus-proxy did not open its sockets within ${READY_MS / 1000} s`)), READY_MS);
      const settle = (outcome: () => void): void => {
        clearTimeout(timer);
        outcome();
      };
      lifeline.once('data', () => settle(resolve));
      child.once('error', error => settle(() => reject(new JailError('missing-tool', `cannot start ${bus.proxy}: ${error.message}`))));
      child.once('exit', (code, signal) => settle(() => reject(new JailError('missing-tool',
        `xdg-dbus-proxy ended before the jail started (${signal ?? `exit ${code}`}): it could not reach ${bus.ends.map(end => end.address).join(' or ')}, see its message above`))));
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return {stop};
};
