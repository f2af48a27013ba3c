/**
 * One jail's network by host name: the proxy (proxy.ts) in a directory only the caller can
 * enter, started before the jail, and the bridge (bridge.ts) started in the jail's network
 * namespace once bubblewrap made it and before the program runs (bubblewrap waits on
 * --block-fd meanwhile). Both end with the jail: the proxy is this process's, the bridge ends
 * when its standard input does, which the kernel closes if this process is killed.
 */
import childProcess from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import {JailError, reason} from '../errors.js';
import {runDirectory, sweepRunDirectories} from '../host/bus.js';
import type {NetAllowance} from './allow.js';
import {BRIDGE_COMMAND} from './bridge.js';
import {startNetProxy} from './proxy.js';

const PREFIX = 'nix-overlay-jail-net-';
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
  let bridge: childProcess.ChildProcess | undefined;
  return {
    bridge: async (pid, launcher) => {
      // The sandbox's network namespace belongs to bubblewrap's user namespace, in which the
      // sandbox itself made another (--disable-userns): entering the sandbox's would give no
      // power over it. The launch command's (the user namespace the way made, or the one the
      // bwrap way runs in for this: exec.ts) is an ancestor the caller owns; root needs none.
      const userns = `/proc/${launcher}/ns/user`;
      const ownUser = fs.readlinkSync('/proc/self/ns/user') === fs.readlinkSync(userns);
      const script = process.argv[1]!;
      bridge = childProcess.spawn('nsenter', [...(ownUser ? [] : [`--user=${userns}`, '--preserve-credentials']), `--net=/proc/${pid}/ns/net`, '--',
        process.execPath, script, BRIDGE_COMMAND, dir, String(proxyPort), ...allowance.localPorts.map(String)], {stdio: ['pipe', 'pipe', 'inherit']});
      const child = bridge;
      child.stdin!.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new JailError('missing-tool', `the jail's network bridge did not listen within ${READY_MS / 1000} s`)), READY_MS);
        let said = '';
        child.stdout!.on('data', (chunk: Buffer) => {
          said += chunk.toString();
          if (said.includes('ready\n')) {
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
          reject(new JailError('missing-tool', `the jail's network bridge ended before the jail started (${signal ?? `exit ${code}`}): see its message above`));
        });
      });
    },
    stop: async () => {
      if (bridge !== undefined && bridge.exitCode === null && bridge.signalCode === null) {
        const ended = new Promise<void>(resolve => bridge!.once('exit', () => resolve()));
        bridge.stdin!.end();
        const timer = setTimeout(() => bridge!.kill('SIGKILL'), 2000);
        await ended;
        clearTimeout(timer);
      }
      await proxy.stop();
      fs.rmSync(dir, {recursive: true, force: true});
    },
  };
};
