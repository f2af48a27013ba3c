/**
 * --wayland, --x11, --audio and the D-Bus names: which server sockets, variables and files a
 * graphical program needs, as a pure function of the host (HostProbe).
 *
 * Sockets are bound read-only at their host paths: connect(2) needs write permission on the
 * socket's inode, which a read-only mount does not take away, and the program can neither
 * remove nor replace them. The X socket is the one display's alone, never /tmp/.X11-unix, and
 * its cookie comes in a file of its own (xauth.ts). The buses are never bound: the jail gets
 * a socket of xdg-dbus-proxy's, which passes on only what the names allow (bus.ts runs it).
 */
import path from 'node:path';
import {JailError} from '../errors.js';
import type {HostResource} from './resources.js';
import {displayCookies, localDisplay, parseXauthority, serializeXauthority} from './xauth.js';

export interface DesktopIntegration {
  wayland: boolean;
  x11: boolean;
  audio: boolean;
  /** Session bus names the jail may talk to, own and see; system bus names it may talk to. */
  talk: readonly string[];
  own: readonly string[];
  see: readonly string[];
  systemTalk: readonly string[];
}

export interface DesktopProbe {
  exists: (candidate: string) => boolean;
  /** Whether the path (its links followed) is a socket. */
  isSocket: (candidate: string) => boolean;
  env: Readonly<Record<string, string | undefined>>;
  /** A file's bytes, or undefined when it cannot be read (the Xauthority). */
  readFile: (file: string) => Buffer | undefined;
  hostname: string;
  uid: number;
  /** A program's path on the caller's PATH, or undefined. */
  findProgram: (name: string) => string | undefined;
}

/** One bus the proxy serves: where the real one is, the rules, where the jail finds the proxy's. */
export interface BusEnd {
  /** The real bus's address, as D-Bus writes it (`unix:path=/run/user/1000/bus`). */
  address: string;
  /** The proxy's options for it: `--talk=NAME`, `--own=NAME`, `--see=NAME`. */
  rules: string[];
  /** The socket's file name in the proxy's directory on the host. */
  socketName: string;
  /** Where the jail has it, and the variable naming it. */
  jailSocket: string;
  variable: string;
}

export interface BusPlan {
  proxy: string;
  ends: BusEnd[];
}

export interface DesktopPlan {
  resources: HostResource[];
  setenv: Array<[string, string]>;
  /** Files written into the jail from memory (the display's Xauthority). */
  files: Array<{dest: string; data: Buffer}>;
  bus: BusPlan | undefined;
  missing: string[];
}

export const NO_DESKTOP: DesktopIntegration = {wayland: false, x11: false, audio: false, talk: [], own: [], see: [], systemTalk: []};

/** What --desktop asks of the session bus: the desktop portals (file chooser, open URI, ...). */
export const PORTAL_NAMES = ['org.freedesktop.portal.*'] as const;
export const SYSTEM_BUS_SOCKET = '/run/dbus/system_bus_socket';
/** Where the jail finds the display's cookie (its /tmp is its own). */
export const JAIL_XAUTHORITY = '/tmp/.Xauthority';
export const X11_SOCKETS = '/tmp/.X11-unix';

/**
 * A bus name as xdg-dbus-proxy takes it: a well-known name (two or more dot-separated
 * elements of letters, digits, `_` and `-`, none starting with a digit, at most 255
 * characters), optionally ending in `.*` for every name below it.
 */
export const isBusName = (name: string): boolean =>
  name.length <= 255 && /^[A-Za-z_-][\w-]*(?:\.[A-Za-z_-][\w-]*)+(?:\.\*)?$/.test(name);

/** The runtime directory the jail's servers live in: the caller's, or the usual one for the uid. */
export const runtimeDir = (env: Readonly<Record<string, string | undefined>>, uid: number): string => {
  const dir = env['XDG_RUNTIME_DIR'];
  return dir !== undefined && path.isAbsolute(dir) ? path.resolve(dir) : `/run/user/${uid}`;
};

/** A path as a D-Bus address value: bytes outside [-0-9A-Za-z_/.\\*] as %XX. */
export const busAddressValue = (file: string): string =>
  [...Buffer.from(file)].map(byte => (/[-0-9A-Za-z_/.\\*]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).padStart(2, '0')}`)).join('');

/** The socket path of a `unix:path=` address (the first one of a list), or undefined for any other kind. */
export const unixBusPath = (address: string): string | undefined => {
  const value = /^unix:(?:.*,)?path=([^,;]*)/.exec(address)?.[1];
  if (value === undefined || /%(?![0-9a-fA-F]{2})/.test(value)) return undefined;
  const bytes = value.split(/(%[0-9a-fA-F]{2})/).flatMap(part => (part.startsWith('%') ? [Number.parseInt(part.slice(1), 16)] : [...Buffer.from(part)]));
  return Buffer.from(bytes).toString();
};

/** The compositor's socket as the caller's environment names it: WAYLAND_DISPLAY (else wayland-0), in XDG_RUNTIME_DIR unless absolute. */
export const waylandSocket = (env: Readonly<Record<string, string | undefined>>): {display: string; file: string | undefined} => {
  const display = env['WAYLAND_DISPLAY'] || 'wayland-0';
  const runtime = env['XDG_RUNTIME_DIR'];
  if (path.isAbsolute(display)) return {display, file: display};
  return {display, file: runtime !== undefined && path.isAbsolute(runtime) ? path.join(runtime, display) : undefined};
};

const isAddress = (address: string): boolean => /^[a-z]+:/.test(address) && !address.includes('\0');

export const desktopPlan = (wanted: DesktopIntegration, probe: DesktopProbe): DesktopPlan => {
  const plan: DesktopPlan = {resources: [], setenv: [], files: [], bus: undefined, missing: []};
  const {env} = probe;
  const runtime = runtimeDir(env, probe.uid);
  const hostRuntime = env['XDG_RUNTIME_DIR'] !== undefined && path.isAbsolute(env['XDG_RUNTIME_DIR']) ? runtime : undefined;
  let usesRuntime = false;
  const socket = (source: string, by: string, variable: string): void => {
    plan.resources.push({source, dest: source, readOnly: true, by, variable});
  };
  const present = (file: string | undefined): file is string => file !== undefined && probe.exists(file);
  /**
   * Whether a server's socket is there: a path the caller's variables name is bound (or
   * connected to) only when it is a socket, never a directory or file that happens to be there.
   */
  const serving = (file: string | undefined, by: string, variable: string): file is string => {
    if (!present(file)) return false;
    if (!probe.isSocket(file)) throw new JailError('usage', `${by}: ${variable} names ${file}, which is not a socket: refused`);
    return true;
  };

  if (wanted.wayland) {
    const {display, file} = waylandSocket(env);
    const variable = path.isAbsolute(display) ? 'WAYLAND_DISPLAY' : 'XDG_RUNTIME_DIR';
    if (file === undefined) plan.missing.push('--wayland: no Wayland compositor (XDG_RUNTIME_DIR is not set)');
    else if (!serving(file, '--wayland', variable)) plan.missing.push(`--wayland: no Wayland compositor at ${file}`);
    else {
      socket(file, '--wayland', variable);
      plan.setenv.push(['WAYLAND_DISPLAY', display]);
      usesRuntime = true;
    }
  }

  if (wanted.x11) {
    const display = env['DISPLAY'] ?? '';
    const number = localDisplay(display);
    const file = `${X11_SOCKETS}/X${number}`;
    if (display === '') plan.missing.push('--x11: no X display (DISPLAY is not set)');
    else if (number === undefined) plan.missing.push(`--x11: DISPLAY=${display} is not a local display`);
    else if (!serving(file, '--x11', 'DISPLAY')) plan.missing.push(`--x11: no X server at ${file}`);
    else {
      socket(file, '--x11', 'DISPLAY');
      plan.setenv.push(['DISPLAY', display]);
      const authority = env['XAUTHORITY'] || (env['HOME'] ? path.join(env['HOME'], '.Xauthority') : undefined);
      // Stryker disable next-line ConditionalExpression: reading no file gives no bytes either way.
      const bytes = authority === undefined ? undefined : probe.readFile(authority);
      const cookies = bytes === undefined ? [] : displayCookies(parseXauthority(bytes), number, probe.hostname);
      // No cookie: the server may let the caller in otherwise (xhost +si:localuser:NAME).
      if (cookies.length > 0) {
        plan.files.push({dest: JAIL_XAUTHORITY, data: serializeXauthority(cookies)});
        plan.setenv.push(['XAUTHORITY', JAIL_XAUTHORITY]);
      }
    }
  }

  if (wanted.audio) {
    const pulseServer = env['PULSE_SERVER'];
    const named = pulseServer?.startsWith('unix:') ? pulseServer.slice('unix:'.length) : undefined;
    const pulse = named !== undefined && path.isAbsolute(named) ? named : hostRuntime === undefined ? undefined : path.join(hostRuntime, 'pulse/native');
    const pipewire = hostRuntime === undefined ? undefined : path.join(hostRuntime, 'pipewire-0');
    const looked = [pulse, pipewire].filter((file): file is string => file !== undefined);
    const variableOf = (file: string): string => (file === pulse && named !== undefined ? 'PULSE_SERVER' : 'XDG_RUNTIME_DIR');
    const found = looked.filter(file => serving(file, '--audio', variableOf(file)));
    if (found.length === 0) {
      plan.missing.push(looked.length === 0 ? '--audio: no sound server (XDG_RUNTIME_DIR is not set)' : `--audio: no sound server at ${looked.join(' or ')}`);
    }
    for (const file of found) socket(file, '--audio', variableOf(file));
    if (found.some(file => file === pulse)) plan.setenv.push(['PULSE_SERVER', `unix:${pulse}`]);
    usesRuntime ||= found.length > 0;
  }

  const sessionRules = [...wanted.talk.map(name => `--talk=${name}`), ...wanted.own.map(name => `--own=${name}`), ...wanted.see.map(name => `--see=${name}`)];
  const systemRules = wanted.systemTalk.map(name => `--talk=${name}`);
  const ends: BusEnd[] = [];
  const option = wanted.talk.length > 0 ? '--talk-name' : wanted.own.length > 0 ? '--own-name' : '--see-name';
  if (sessionRules.length > 0) {
    const given = env['DBUS_SESSION_BUS_ADDRESS'];
    const fallback = hostRuntime === undefined ? undefined : path.join(hostRuntime, 'bus');
    const address = given || (present(fallback) ? `unix:path=${busAddressValue(fallback)}` : undefined);
    const file = unixBusPath(address ?? '');
    if (address === undefined) plan.missing.push(`${option}: no session bus (DBUS_SESSION_BUS_ADDRESS is not set${fallback === undefined ? '' : `, no ${fallback}`})`);
    else if (!isAddress(address)) plan.missing.push(`${option}: DBUS_SESSION_BUS_ADDRESS is not a D-Bus address`);
    else if (file !== undefined && !serving(file, option, given ? 'DBUS_SESSION_BUS_ADDRESS' : 'XDG_RUNTIME_DIR')) plan.missing.push(`${option}: no session bus at ${file}`);
    else {
      const jailSocket = path.join(runtime, 'bus');
      ends.push({address, rules: sessionRules, socketName: 'bus', jailSocket, variable: 'DBUS_SESSION_BUS_ADDRESS'});
    }
  }
  if (systemRules.length > 0) {
    const address = env['DBUS_SYSTEM_BUS_ADDRESS'] || `unix:path=${SYSTEM_BUS_SOCKET}`;
    const file = unixBusPath(address);
    if (!isAddress(address)) plan.missing.push('--system-talk-name: DBUS_SYSTEM_BUS_ADDRESS is not a D-Bus address');
    else if (file !== undefined && !serving(file, '--system-talk-name', 'DBUS_SYSTEM_BUS_ADDRESS')) plan.missing.push(`--system-talk-name: no system bus at ${file}`);
    else ends.push({address, rules: systemRules, socketName: 'system_bus_socket', jailSocket: SYSTEM_BUS_SOCKET, variable: 'DBUS_SYSTEM_BUS_ADDRESS'});
  }
  if (ends.length > 0) {
    const proxy = probe.findProgram('xdg-dbus-proxy');
    if (proxy === undefined) {
      plan.missing.push(`${ends[0]!.socketName === 'bus' ? option : '--system-talk-name'}: xdg-dbus-proxy is not installed (package xdg-dbus-proxy); the jail gets no bus`);
    } else {
      plan.bus = {proxy, ends};
      for (const end of ends) plan.setenv.push([end.variable, `unix:path=${busAddressValue(end.jailSocket)}`]);
    }
  }
  if (usesRuntime || plan.bus?.ends.some(end => end.socketName === 'bus')) plan.setenv.push(['XDG_RUNTIME_DIR', runtime]);
  return plan;
};

/** xdg-dbus-proxy's arguments: readiness and lifetime on `readyFd`, then each bus with its rules. */
export const proxyArgs = (bus: BusPlan, hostDir: string, readyFd: number): string[] => [
  `--fd=${readyFd}`,
  ...bus.ends.flatMap(end => [end.address, path.join(hostDir, end.socketName), '--filter', ...end.rules]),
];

/** The proxy's sockets bound into the jail, read-only, where the variables say. */
export const proxyBinds = (bus: BusPlan, hostDir: string): Array<{source: string; dest: string; readOnly: boolean}> =>
  bus.ends.map(end => ({source: path.join(hostDir, end.socketName), dest: end.jailSocket, readOnly: true}));
