/**
 * Real desktop servers for the desktop tests, run as the caller the jail runs as (root or the
 * test user), each in a runtime directory of that caller's: two Xvfb displays with cookies of
 * their own, a headless weston, PulseAudio with a null sink, and a session dbus-daemon with two
 * echo services on it. Everything started here is stopped when the tests end.
 */
import {execFileSync, spawn, spawnSync, type ChildProcess} from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {eventually, tempDir} from './cli.js';
import {TEST_USER} from './env.js';

export interface DesktopServers {
  /** The caller's runtime directory (XDG_RUNTIME_DIR), mode 0700. */
  runtime: string;
  /** The display the jail is given, and another one it must not reach. */
  display: number;
  other: number;
  /** The caller's Xauthority, with a cookie for each display. */
  xauthority: string;
  cookies: Map<number, Buffer>;
  wayland: string;
  bus: string;
  /** A second dbus-daemon standing for the system bus (DBUS_SYSTEM_BUS_ADDRESS names it), with one echo service. */
  systemBus: string;
  /** The caller's session as a desktop would set it. */
  env: Record<string, string>;
}

export const ECHO_NAMES = ['com.example.Reachable', 'com.example.Unreachable'] as const;
export const SYSTEM_ECHO_NAME = 'com.example.SystemService';

const SETPRIV = execFileSync('sh', ['-c', 'command -v setpriv'], {encoding: 'utf8'}).trim();
const started: ChildProcess[] = [];
const displays: number[] = [];
/** The servers' directories: removed again once they are stopped (PulseAudio makes run/pulse as it ends). */
const bases: string[] = [];
const signalAll = (signal: NodeJS.Signals): void => {
  for (const child of started) if (child.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // gone
    }
  }
};
process.on('exit', () => {
  // SIGTERM first, so that the servers remove their sockets and locks; then whatever is left.
  signalAll('SIGTERM');
  spawnSync('sleep', ['0.3']);
  signalAll('SIGKILL');
  for (const display of displays) {
    for (const file of [`/tmp/.X11-unix/X${display}`, `/tmp/.X${display}-lock`]) fs.rmSync(file, {force: true});
  }
  for (const base of bases) fs.rmSync(base, {recursive: true, force: true});
});

const asCaller = (user: boolean, command: string[]): [string, string[]] =>
  user ? [SETPRIV, [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--', ...command]] : [command[0]!, command.slice(1)];

/** Start a server in a process group of its own (so it can be stopped with everything it starts). */
const server = (user: boolean, command: string[], env: Record<string, string>, stdio: Array<'ignore' | 'pipe'> = ['ignore', 'ignore', 'ignore']): ChildProcess => {
  const [file, args] = asCaller(user, command);
  const child = spawn(file, args, {env: {PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env}, stdio, detached: true});
  started.push(child);
  child.unref();
  return child;
};

/** Wait, 10 s at most, for `ready` to hold. */
const until = async (what: string, ready: () => boolean): Promise<void> => {
  if (!(await eventually(ready))) throw new Error(`${what} did not come up within 10 s`);
};

/** An Xvfb display of its own number (-displayfd), requiring `cookie`. */
const startXvfb = async (user: boolean, xauthority: string): Promise<number> => {
  const child = server(user, ['Xvfb', '-displayfd', '3', '-auth', xauthority, '-nolisten', 'tcp', '-screen', '0', '640x480x24'], {}, ['ignore', 'ignore', 'ignore', 'pipe']);
  const output = child.stdio[3]!;
  let text = '';
  output.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  await until('Xvfb', () => /\d+\n/.test(text));
  (output as unknown as {destroy: () => void}).destroy();
  displays.push(Number(text.trim()));
  return Number(text.trim());
};

const servers = new Map<boolean, DesktopServers>();

/** The servers for root (`user` false) or the test user, started once. */
export const desktopServers = async (user: boolean): Promise<DesktopServers> => {
  const known = servers.get(user);
  if (known !== undefined) return known;
  const owner = user ? TEST_USER : undefined;
  const base = tempDir('desktop', owner);
  bases.push(base);
  const runtime = path.join(base, 'run');
  const home = path.join(base, 'home');
  const [file, args] = asCaller(user, ['sh', '-c', 'mkdir -m 700 "$1" "$2"', 'sh', runtime, home]);
  execFileSync(file, args);
  if (!fs.existsSync('/tmp/.X11-unix')) fs.mkdirSync('/tmp/.X11-unix', {mode: 0o1777});
  fs.chmodSync('/tmp/.X11-unix', 0o1777);

  // Two cookies in one Xauthority, written before either server reads it (as xauth would on a
  // host named this way), so each display takes only its own.
  const xauthority = path.join(home, '.Xauthority');
  const placeholder = [crypto.randomBytes(16), crypto.randomBytes(16)];
  const display = await startXvfbWithCookie(user, xauthority, placeholder[0]!);
  const other = await startXvfbWithCookie(user, xauthority, placeholder[1]!);
  const cookies = new Map([[display, placeholder[0]!], [other, placeholder[1]!]]);

  const session = {XDG_RUNTIME_DIR: runtime, HOME: home};
  server(user, ['weston', '--backend=headless-backend.so', '--socket=wayland-noj', '--idle-time=0', '--shell=kiosk-shell.so'], session);
  const wayland = path.join(runtime, 'wayland-noj');
  server(user, ['pulseaudio', '-n', '--daemonize=no', '--exit-idle-time=-1', '--disable-shm=yes', '--load=module-native-protocol-unix', '--load=module-null-sink'], session);
  const bus = path.join(runtime, 'bus');
  server(user, ['dbus-daemon', '--session', '--nofork', `--address=unix:path=${bus}`], session);
  await until('weston', () => fs.existsSync(wayland));
  await until('pulseaudio', () => fs.existsSync(path.join(runtime, 'pulse/native')));
  await until('dbus-daemon', () => fs.existsSync(bus));
  // The system bus's stand-in: a session-configured daemon of the caller's (a real system bus
  // is the host's, and its policy is not the test's to change).
  const systemBus = path.join(runtime, 'system_bus_socket');
  server(user, ['dbus-daemon', '--session', '--nofork', `--address=unix:path=${systemBus}`], session);
  await until('the system bus stand-in', () => fs.existsSync(systemBus));
  const busEnv = {...session, DBUS_SESSION_BUS_ADDRESS: `unix:path=${bus}`, DBUS_SYSTEM_BUS_ADDRESS: `unix:path=${systemBus}`};
  for (const name of ECHO_NAMES) server(user, ['dbus-test-tool', 'echo', `--name=${name}`], busEnv);
  server(user, ['dbus-test-tool', 'echo', `--name=${SYSTEM_ECHO_NAME}`], {...busEnv, DBUS_SESSION_BUS_ADDRESS: `unix:path=${systemBus}`});
  for (const [name, address] of [...ECHO_NAMES.map(name => [name, bus] as const), [SYSTEM_ECHO_NAME, systemBus] as const]) {
    const [send, sendArgs] = asCaller(user, ['dbus-send', '--session', '--print-reply', `--dest=${name}`, '/', 'com.example.Echo.Ping']);
    await until(`the echo service ${name}`, () => spawnSync(send, sendArgs, {env: {...process.env, ...busEnv, DBUS_SESSION_BUS_ADDRESS: `unix:path=${address}`}, stdio: 'ignore'}).status === 0);
  }
  const made: DesktopServers = {
    runtime,
    display,
    other,
    xauthority,
    cookies,
    wayland,
    bus,
    systemBus,
    env: {...busEnv, DISPLAY: `:${display}`, XAUTHORITY: xauthority, WAYLAND_DISPLAY: 'wayland-noj'},
  };
  servers.set(user, made);
  return made;
};

/**
 * Start an Xvfb whose cookie is `cookie`, and add it to `xauthority` for the display number
 * the server chose. The X server takes every cookie of its -auth file, whatever display the
 * record names, so its own file is written before the number is known.
 */
const startXvfbWithCookie = async (user: boolean, xauthority: string, cookie: Buffer): Promise<number> => {
  const own = `${xauthority}-server-${crypto.randomBytes(4).toString('hex')}`;
  const [writer, writerArgs] = asCaller(user, ['xauth', '-q', '-f', own, 'add', ':0', '.', cookie.toString('hex')]);
  execFileSync(writer, writerArgs, {stdio: 'ignore'});
  const number = await startXvfb(user, own);
  const [add, addArgs] = asCaller(user, ['xauth', '-q', '-f', xauthority, 'add', `:${number}`, '.', cookie.toString('hex')]);
  execFileSync(add, addArgs, {stdio: 'ignore'});
  return number;
};
