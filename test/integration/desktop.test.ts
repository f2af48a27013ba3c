/**
 * Desktop programs against real servers: Xvfb, a headless weston, PulseAudio and a session
 * dbus-daemon, each run as the caller; Debian's X, Wayland, sound and D-Bus clients patched
 * into the store. Each option reaches its server, and nothing is reached without it; the bus
 * is filtered by xdg-dbus-proxy, which is gone when the jail ends however it ends. For each
 * mounting way, as root and as an ordinary user, and through wrap launchers.
 */
import {execFileSync, spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseXauthority} from '../../src/host/xauth.js';
import {collect, eventually, tempDir, type Collected} from '../helpers/cli.js';
import {mountingWays, type Caller} from '../helpers/callers.js';
import {desktopServers, ECHO_NAMES, SYSTEM_ECHO_NAME, type DesktopServers} from '../helpers/desktop.js';
import {TEST_USER, when} from '../helpers/env.js';
import {busyboxStorePath, debianPrograms} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const CLIENTS = ['xdpyinfo', 'wayland-info', 'pactl', 'dbus-send', 'xlogo'] as const;

const uidOf = (caller: Caller): string => (caller.user ? execFileSync('id', ['-u', TEST_USER], {encoding: 'utf8'}).trim() : '0');

/** The caller's xdg-dbus-proxy processes. */
const proxies = (caller: Caller): string[] =>
  spawnSync('pgrep', ['-u', uidOf(caller), '-x', 'xdg-dbus-proxy'], {encoding: 'utf8'}).stdout.split('\n').filter(Boolean);

/** The proxy directories left in the caller's runtime directory. */
const proxyDirs = (servers: DesktopServers): string[] => fs.readdirSync(servers.runtime).filter(name => name.startsWith('nix-overlay-jail-bus-'));

for (const caller of mountingWays) {
  const desktop = suite(`desktop programs against real servers, as ${caller.name}`);
  const desktopTest = when(desktop, caller.needs);
  let cache = '';
  desktop.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });
  /** The caller's environment in a desktop session: the servers' variables, minus `without`. */
  const sessionEnv = async (without: string[] = []): Promise<NodeJS.ProcessEnv> => {
    const servers = await desktopServers(caller.user);
    const {HOME: _, ...session} = servers.env;
    const env: NodeJS.ProcessEnv = {...caller.env(), ...session};
    for (const name of without) delete env[name];
    return env;
  };
  const exec = async (args: string[], without: string[] = []): Promise<Collected> => {
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...args]);
    return collect(command, argv, await sessionEnv(without));
  };
  const client = (name: (typeof CLIENTS)[number]): string => `${debianPrograms(CLIENTS).programs}/bin/${name}`;

  desktopTest('--x11: an X client reaches $DISPLAY; the jail holds that display\'s socket alone and its cookie alone', async () => {
    const servers = await desktopServers(caller.user);
    const reached = await exec(['--x11', '--', client('xdpyinfo')]);
    assert.is(reached.status, 0, reached.stderr);
    assert.match(reached.stdout, new RegExp(`^name of display:\\s+:${servers.display}\\n`));

    const busybox = `${busyboxStorePath()}/bin/busybox`;
    const sockets = await exec(['--x11', '--', busybox, 'ls', '-a', '/tmp/.X11-unix']);
    assert.is(sockets.status, 0, sockets.stderr);
    assert.equal(sockets.stdout.trim().split('\n'), ['.', '..', `X${servers.display}`]);
    const cookie = await exec(['--x11', '--', busybox, 'sh', '-c', 'cat "$XAUTHORITY"']);
    assert.is(cookie.status, 0, cookie.stderr);
    assert.equal(parseXauthority(cookie.bytes).map(record => [record.display, record.data]), [[String(servers.display), servers.cookies.get(servers.display)]]);

    // The other display: no socket in the jail; and with --net, where its abstract socket is
    // reachable, no cookie for it.
    const other = await exec(['--x11', '--', client('xdpyinfo'), '-display', `:${servers.other}`]);
    assert.is.not(other.status, 0);
    assert.match(other.stderr, /unable to open display/);
    const abstract = await exec(['--x11', '--net', '--', client('xdpyinfo'), '-display', `:${servers.other}`]);
    assert.is.not(abstract.status, 0);
    assert.match(abstract.stderr, /Authorization required/, 'the other server is met through its abstract socket and refuses the jail');
    tally('escape', 2);
  });

  desktopTest('without --x11 the display is out of reach, even with DISPLAY and XAUTHORITY passed in', async () => {
    const cut = await exec(['--keep-env', 'DISPLAY', '--keep-env', 'XAUTHORITY', '--', client('xdpyinfo')]);
    assert.is.not(cut.status, 0);
    assert.match(cut.stderr, /unable to open display/);
    tally('escape', 1);
  });

  desktopTest('--wayland: a Wayland client reaches the compositor; without it, it cannot', async () => {
    const reached = await exec(['--wayland', '--', client('wayland-info')]);
    assert.is(reached.status, 0, reached.stderr);
    assert.match(reached.stdout, /interface: 'wl_compositor'/);
    const cut = await exec(['--keep-env', 'WAYLAND_DISPLAY', '--keep-env', 'XDG_RUNTIME_DIR', '--', client('wayland-info')]);
    assert.is.not(cut.status, 0);
    assert.not.match(cut.stdout, /wl_compositor/);
    tally('escape', 1);
  });

  desktopTest('--audio: pactl reaches the sound server; without it, it cannot', async () => {
    const reached = await exec(['--audio', '--', client('pactl'), 'info']);
    assert.is(reached.status, 0, reached.stderr);
    assert.match(reached.stdout, /^Server Name: pulseaudio$/m);
    const cut = await exec(['--keep-env', 'XDG_RUNTIME_DIR', '--keep-env', 'PULSE_SERVER', '--', client('pactl'), 'info']);
    assert.is.not(cut.status, 0);
    assert.match(cut.stderr, /Connection refused|Connection failure/);
    tally('escape', 1);
  });

  desktopTest('D-Bus: --talk-name reaches that service and not another, --own-name owns that name only, no option no bus; the proxy is gone after', async () => {
    const servers = await desktopServers(caller.user);
    const [reachable, unreachable] = ECHO_NAMES;
    const send = (dest: string, ...rest: string[]) => ['--', client('dbus-send'), '--session', '--print-reply', `--dest=${dest}`, ...rest];
    const ping = (dest: string) => send(dest, '/', 'com.example.Echo.Ping');
    const talked = await exec(['--talk-name', reachable, ...ping(reachable)]);
    assert.is(talked.status, 0, talked.stderr);
    assert.match(talked.stdout, /^method return /);
    const refused = await exec(['--talk-name', reachable, ...ping(unreachable)]);
    assert.is.not(refused.status, 0);
    assert.match(refused.stderr, /ServiceUnknown/, 'the proxy hides the other service');

    const request = (name: string) => send('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.RequestName', `string:${name}`, 'uint32:0');
    const owned = await exec(['--own-name', 'com.example.Jailed', ...request('com.example.Jailed')]);
    assert.is(owned.status, 0, owned.stderr);
    assert.match(owned.stdout, /uint32 1/, 'the primary owner');
    const notOwned = await exec(['--own-name', 'com.example.Jailed', ...request('com.example.Other')]);
    assert.is.not(notOwned.status, 0);
    assert.not.match(notOwned.stdout, /uint32/);

    // No bus option: no bus, even with the variable passed in (its socket is not in the jail).
    const none = await exec(['--keep-env', 'DBUS_SESSION_BUS_ADDRESS', '--keep-env', 'XDG_RUNTIME_DIR', ...ping(reachable)]);
    assert.is.not(none.status, 0);
    assert.match(none.stderr, /Failed to connect|Failed to open connection/);

    assert.equal(proxies(caller), [], 'no proxy outlives its jail');
    assert.equal(proxyDirs(servers), [], 'no proxy directory is left behind');
    tally('escape', 3);
  });

  desktopTest('D-Bus: --system-talk-name reaches that name on the system bus, through the proxy at the usual path; --see-name shows a name without calling it', async () => {
    const system = ['--', client('dbus-send'), '--system', '--print-reply', `--dest=${SYSTEM_ECHO_NAME}`, '/', 'com.example.Echo.Ping'];
    const talked = await exec(['--system-talk-name', SYSTEM_ECHO_NAME, ...system]);
    assert.is(talked.status, 0, talked.stderr);
    assert.match(talked.stdout, /^method return /);
    const where = await exec(['--system-talk-name', SYSTEM_ECHO_NAME, '--', `${busyboxStorePath()}/bin/busybox`, 'sh', '-c', 'echo "$DBUS_SYSTEM_BUS_ADDRESS"; ls /run/dbus']);
    assert.is(where.stdout, 'unix:path=/run/dbus/system_bus_socket\nsystem_bus_socket\n');
    const none = await exec(['--keep-env', 'DBUS_SYSTEM_BUS_ADDRESS', ...system]);
    assert.is.not(none.status, 0, 'no system bus without the option');

    // --see-name: the name is listed (NameHasOwner answers true) but a call to it is refused.
    const [reachable] = ECHO_NAMES;
    const hasOwner = ['--', client('dbus-send'), '--session', '--print-reply', '--dest=org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus.NameHasOwner', `string:${reachable}`];
    const seen = await exec(['--see-name', reachable, ...hasOwner]);
    assert.is(seen.status, 0, seen.stderr);
    assert.match(seen.stdout, /boolean true/);
    const unseen = await exec(['--see-name', 'com.example.Other', ...hasOwner]);
    assert.match(unseen.stdout, /boolean false/, 'a name the rules do not show does not exist for the jail');
    const called = await exec(['--see-name', reachable, '--', client('dbus-send'), '--session', '--print-reply', `--dest=${reachable}`, '/', 'com.example.Echo.Ping']);
    assert.is.not(called.status, 0, 'seen, not callable');
    tally('escape', 3);
  });

  desktopTest('D-Bus: when the jail is killed (SIGTERM), and when nix-overlay-jail is (SIGKILL), the proxy ends with it', async () => {
    const servers = await desktopServers(caller.user);
    const busybox = `${busyboxStorePath()}/bin/busybox`;
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, '--talk-name', ECHO_NAMES[0], '--', busybox, 'sh', '-c', 'echo ready; exec sleep 60']);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const jail = spawn(command, argv, {env: await sessionEnv(), stdio: ['ignore', 'pipe', 'ignore']});
      const ended = new Promise<[number | null, NodeJS.Signals | null]>(resolve => jail.on('exit', (code, killedBy) => resolve([code, killedBy])));
      // Killed once the program runs: bubblewrap killed while it sets the sandbox up can leave
      // its sandbox's first process behind (its --die-with-parent is not armed yet).
      await new Promise<void>(resolve => jail.stdout.once('data', () => resolve()));
      assert.ok(await eventually(() => proxies(caller).length === 1), 'the proxy runs while the jail does');
      assert.ok(await eventually(() => proxyDirs(servers).some(dir => fs.existsSync(path.join(servers.runtime, dir, 'bus')))), 'its socket is there');
      jail.kill(signal);
      const [code, killedBy] = await ended;
      if (signal === 'SIGTERM') assert.equal([code, killedBy], [143, null], 'the program died of the relayed SIGTERM');
      else assert.equal([code, killedBy], [null, 'SIGKILL']);
      assert.ok(await eventually(() => proxies(caller).length === 0), `the proxy ended after ${signal}`);
      assert.ok(await eventually(() => proxyDirs(servers).every(dir => !fs.existsSync(path.join(servers.runtime, dir, 'bus')))), 'its socket is gone');
      if (signal === 'SIGTERM') assert.equal(proxyDirs(servers), [], 'and its directory');
    }
    // The directory of the run killed outright goes with the next run that starts a proxy.
    const next = await exec(['--talk-name', ECHO_NAMES[0], '--', busybox, 'true']);
    assert.is(next.status, 0, next.stderr);
    assert.equal(proxyDirs(servers), []);
  });

  desktopTest('a server that is not running is one line, and the jail starts; with --strict it does not (125)', async () => {
    const busybox = `${busyboxStorePath()}/bin/busybox`;
    const servers = await desktopServers(caller.user);
    const gone = ['--wayland', '--', busybox, 'sh', '-c', 'echo "ran $WAYLAND_DISPLAY"'];
    const env = {WAYLAND_DISPLAY: 'wayland-gone'};
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...gone]);
    const went = collect(command, argv, {...(await sessionEnv()), ...env});
    assert.is(went.status, 0, went.stderr);
    assert.is(went.stdout, 'ran \n');
    assert.is(went.stderr, `nix-overlay-jail: --wayland: no Wayland compositor at ${servers.runtime}/wayland-gone; going on without\n`);
    const [strictCommand, strictArgv] = caller.command(['exec', '--cache-dir', cache, '--strict', ...gone]);
    const stopped = collect(strictCommand, strictArgv, {...(await sessionEnv()), ...env});
    assert.is(stopped.status, 125);
    assert.is(stopped.stdout, '');
    assert.is(stopped.stderr, `nix-overlay-jail: --wayland: no Wayland compositor at ${servers.runtime}/wayland-gone (--strict)\n`);
  });

  if (caller.mountWith === 'root') desktopTest('no xdg-dbus-proxy: one line naming the package, and the jail starts without a bus', async () => {
    const bin = tempDir('no-proxy');
    for (const name of ['bwrap', 'unshare', 'sh', 'mount', 'mknod', 'nix-store']) {
      const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map(dir => path.join(dir, name)).find(file => fs.existsSync(file));
      if (found !== undefined) fs.symlinkSync(found, path.join(bin, name));
    }
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, '--talk-name', ECHO_NAMES[0], '--', `${busyboxStorePath()}/bin/busybox`, 'sh', '-c', 'echo "bus: ${DBUS_SESSION_BUS_ADDRESS-none}"']);
    const result = collect(command, argv, {...(await sessionEnv()), PATH: bin});
    assert.is(result.status, 0, result.stderr);
    assert.is(result.stdout, 'bus: none\n');
    assert.is(result.stderr, 'nix-overlay-jail: --talk-name: xdg-dbus-proxy is not installed (package xdg-dbus-proxy); the jail gets no bus; going on without\n');
  });

  desktopTest('--desktop: a graphical program under Xvfb shows its window; the proxy for the portals goes with it', async () => {
    const servers = await desktopServers(caller.user);
    // No Wayland in this session: --desktop takes X11.
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, '--desktop', '--', client('xlogo')]);
    const jail = spawn(command, argv, {env: await sessionEnv(['WAYLAND_DISPLAY']), stdio: ['ignore', 'ignore', 'pipe']});
    let stderr = '';
    jail.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const ended = new Promise<number | null>(resolve => jail.on('exit', code => resolve(code)));
    const windows = (): string => spawnSync('xwininfo', ['-root', '-tree', '-display', `:${servers.display}`], {encoding: 'utf8', env: {...process.env, XAUTHORITY: servers.xauthority}}).stdout;
    const shown = await eventually(() => /"xlogo": \("xlogo" "XLogo"\)/.test(windows()));
    assert.ok(shown, `xlogo's window is on the display (${stderr})`);
    assert.is(proxies(caller).length, 1, 'the portals\' proxy runs beside it');
    jail.kill('SIGTERM');
    assert.is(await ended, 143);
    assert.ok(await eventually(() => !/"xlogo"/.test(windows())), 'the window went with the program');
    assert.equal(proxies(caller), []);
    assert.equal(proxyDirs(servers), []);
  });

  desktopTest('through wrap launchers: --x11 and --talk-name as with exec, and a desktop entry that validates and runs the launcher', async () => {
    const servers = await desktopServers(caller.user);
    const dir = tempDir('desktop-wrap', caller.user ? TEST_USER : undefined);
    const launcher = path.join(dir, 'x info');
    const entry = path.join(dir, 'x-info.desktop');
    const [command, argv] = caller.command(['wrap', '--out', launcher, '--desktop-file', entry, '--desktop-name', 'X info', '--cache-dir', cache, '--x11', '--talk-name', ECHO_NAMES[0], client('xdpyinfo')]);
    const written = collect(command, argv, await sessionEnv());
    assert.is(written.status, 0, written.stderr);
    const validated = spawnSync('desktop-file-validate', [entry], {encoding: 'utf8'});
    assert.is(validated.status, 0, validated.stdout + validated.stderr);
    const text = fs.readFileSync(entry, 'utf8');
    assert.match(text, /^Name=X info$/m);
    assert.ok(text.includes(`Exec="${launcher}"\n`), text);

    const env = await sessionEnv();
    const launched = caller.user
      ? collect('setpriv', [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--', launcher], env)
      : collect(launcher, [], env);
    assert.is(launched.status, 0, launched.stderr);
    assert.match(launched.stdout, new RegExp(`^name of display:\\s+:${servers.display}\\n`));
    assert.equal(proxies(caller), []);
  });

  desktop.run();
}
