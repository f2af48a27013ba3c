/**
 * One jail's network by host name: the proxy (proxy.ts) in a directory only the caller can
 * enter, started before the jail, and the bridge started in the jail's network namespace once
 * bubblewrap made it and before the program runs (bubblewrap waits on --block-fd meanwhile):
 * systemd's socket activator and proxy, one pair per route, where the host has them, else
 * this CLI in Node (bridge.ts). Both end with the jail: the proxy is this process's, and the
 * bridge is ended after the jail, or by the kernel when this process dies (setpriv
 * --pdeathsig; the Node bridge also ends when its standard input does).
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {JailError, reason} from '../errors.js';
import {runDirectory, sweepRunDirectories} from '../host/bus.js';
import type {NetAllowance} from './allow.js';
import {BRIDGE_COMMAND} from './bridge.js';
import {localSocket, PROXY_SOCKET, startNetProxy} from './proxy.js';
import {findOnPath} from '../mount/capabilities.js';

const PREFIX = 'nix-overlay-jail-net-';

/**
 * systemd's socket activator and socket proxy, where this host has them (the activator on
 * PATH, the proxy in systemd's library directory beside it or a usual one); else the bridge is
 * this CLI in Node (bridge.ts). NIX_OVERLAY_JAIL_NODE_BRIDGE=1 takes Node's in any case.
 */
const systemdBridge = (): {activate: string; proxy: string} | undefined => {
  if (process.env['NIX_OVERLAY_JAIL_NODE_BRIDGE'] === '1') return undefined;
  const activate = findOnPath('systemd-socket-activate');
  if (activate === undefined) return undefined;
  // PATH first, then systemd's library directory beside the activator, then the usual ones.
  const beside = path.join(path.dirname(path.dirname(fs.realpathSync(activate))), 'lib/systemd');
  const proxy = findOnPath('systemd-socket-proxyd', [process.env['PATH'] ?? '', beside, '/usr/lib/systemd', '/lib/systemd'].join(':'));
  return proxy === undefined ? undefined : {activate, proxy};
};
const READY_MS = 10_000;

export interface NetSession {
  /** Start the bridge in the network namespace of `pid` (the sandbox's first process); resolves once it listens. */
  bridge: (pid: number, launcher: number) => Promise<void>;
  stop: () => Promise<void>;
}

export const startNetSession = async (allowance: NetAllowance, proxyPort: number, env: Readonly<Record<string, string | undefined>>, warn: ((line: string) => void) | undefined): Promise<NetSession> => {
  const dir = runDirectory(env, PREFIX);
  sweepRunDirectories(path.dirname(dir), PREFIX);
  try {
    fs.mkdirSync(dir, {mode: 0o700});
  } catch (error) {
    throw new JailError('cache', `cannot make the proxy's directory ${dir}: ${reason(error)}`);
  }
  let proxy: Awaited<ReturnType<typeof startNetProxy>>;
  try {
    proxy = await startNetProxy(allowance, dir, warn);
  } catch (error) {
    fs.rmSync(dir, {recursive: true, force: true});
    throw new JailError('cache', `cannot start the jail's proxy in ${dir}: ${reason(error)}`);
  }
  const bridges: childProcess.ChildProcess[] = [];
  /** Run `command` in the sandbox's network namespace, dying with this process; resolve once it says `ready` (a line matching it on `stream`). */
  const enter = async (pid: number, launcher: number, command: string[], ready: RegExp, stream: 'stdout' | 'stderr'): Promise<void> => {
    // The sandbox's network namespace belongs to bubblewrap's user namespace, in which the
    // sandbox itself made another (--disable-userns): entering the sandbox's would give no
    // power over it. The launch command's (the user namespace the way made, or the one the
    // bwrap way runs in for this: exec.ts) is an ancestor the caller owns; root needs none.
    const userns = `/proc/${launcher}/ns/user`;
    const ownUser = fs.readlinkSync('/proc/self/ns/user') === fs.readlinkSync(userns);
    // nsenter and setpriv exec: the bridge is this process's child, and dies with it (--pdeathsig).
    const child = childProcess.spawn('nsenter', [...(ownUser ? [] : [`--user=${userns}`, '--preserve-credentials']), `--net=/proc/${pid}/ns/net`, '--',
      'setpriv', '--pdeathsig', 'KILL', '--', ...command], {stdio: ['pipe', stream === 'stdout' ? 'pipe' : 'ignore', stream === 'stderr' ? 'pipe' : 'inherit']});
    bridges.push(child);
    child.stdin!.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new JailError('missing-tool', `the jail's network bridge did not listen within ${READY_MS / 1000} s`)), READY_MS);
      let said = '';
      child[stream]!.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (ready.test(said)) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('error', error => {
        clearTimeout(timer);
        reject(new JailError('missing-tool', `cannot start nsenter for the jail's network: ${error.message}`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new JailError('missing-tool', `the jail's network bridge ended before the jail started (${signal ?? `exit ${code}`}): ${said.trim() || 'see its message above'}`));
      });
    });
  };
  const routes: Array<[number, string]> = [[proxyPort, PROXY_SOCKET], ...allowance.localPorts.map((port): [number, string] => [port, localSocket(port)])];
  return {
    bridge: async (pid, launcher) => {
      const systemd = systemdBridge();
      if (systemd !== undefined) {
        // systemd's socket activator listens at once and starts its proxy on the first
        // connection: a C program per route, a few milliseconds, where Node takes a start-up.
        await Promise.all(routes.map(([port, name]) => enter(pid, launcher, [systemd.activate, '--listen', `127.0.0.1:${port}`, systemd.proxy, path.join(dir, name)], /^Listening on /m, 'stderr')));
        return;
      }
      await enter(pid, launcher, [process.execPath, process.argv[1]!, BRIDGE_COMMAND, dir, String(proxyPort), ...allowance.localPorts.map(String)], /^ready$/m, 'stdout');
    },
    stop: async () => {
      await Promise.all(bridges.filter(child => child.exitCode === null && child.signalCode === null).map(async child => {
        const ended = new Promise<void>(resolve => child.once('exit', () => resolve()));
        // The Node bridge ends with its standard input; systemd's tools with SIGTERM.
        child.stdin!.end();
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
        await ended;
        clearTimeout(timer);
      }));
      await proxy.stop();
      fs.rmSync(dir, {recursive: true, force: true});
    },
  };
};
