import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {busAddressValue, desktopPlan, isBusName, NO_DESKTOP, proxyArgs, proxyBinds, unixBusPath, type DesktopIntegration} from '../../src/host/desktop.js';
import {integrationPlan, NO_INTEGRATION, withDesktop, type HostProbe} from '../../src/host/integration.js';
import {FAMILY_LOCAL, parseXauthority, serializeXauthority} from '../../src/host/xauth.js';

const RUN = '/run/user/1000';
const SESSION = {XDG_RUNTIME_DIR: RUN, WAYLAND_DISPLAY: 'wayland-1', DISPLAY: ':0', HOME: '/home/u', DBUS_SESSION_BUS_ADDRESS: `unix:path=${RUN}/bus`};
const SOCKETS = [`${RUN}/wayland-1`, '/tmp/.X11-unix/X0', '/tmp/.X11-unix/X1', `${RUN}/pulse/native`, `${RUN}/pipewire-0`, `${RUN}/bus`, '/run/dbus/system_bus_socket'];
const NOT_SOCKETS = /^\/nix(\/|$)|\/dir$|\/X9$/;
const COOKIES = serializeXauthority([
  {family: FAMILY_LOCAL, address: Buffer.from('host'), display: '0', name: 'MIT-MAGIC-COOKIE-1', data: Buffer.from('cookie-of-0')},
  {family: FAMILY_LOCAL, address: Buffer.from('host'), display: '1', name: 'MIT-MAGIC-COOKIE-1', data: Buffer.from('cookie-of-1')},
]);

/** A host with these files; asking about anything but an absolute path is a bug in the plan. */
const probe = (present: string[] = SOCKETS, env: Record<string, string> = SESSION, files: Record<string, Buffer> = {'/home/u/.Xauthority': COOKIES}, programs = ['xdg-dbus-proxy']): HostProbe => ({
  exists: candidate => {
    if (typeof candidate !== 'string' || !candidate.startsWith('/')) throw new Error(`asked whether ${String(candidate)} exists`);
    return present.includes(candidate);
  },
  // Every present path is a socket but directories named so (`/nix`, `…/dir`).
  isSocket: candidate => present.includes(candidate) && !NOT_SOCKETS.test(candidate),
  devNames: () => [],
  env,
  readFile: file => {
    if (!file.startsWith('/')) throw new Error(`asked to read ${file}`);
    return files[file];
  },
  hostname: 'host',
  uid: 1000,
  findProgram: name => (programs.includes(name) ? `/usr/bin/${name}` : undefined),
});

const want = (wanted: Partial<DesktopIntegration>): DesktopIntegration => ({...NO_DESKTOP, ...wanted});
const sockets = (plan: ReturnType<typeof desktopPlan>) => plan.resources.map(resource => [resource.source, resource.dest, resource.readOnly, resource.by]);

const display = suite('--wayland and --x11');

display('should bring nothing without options', () => {
  assert.equal(desktopPlan(NO_DESKTOP, probe()), {resources: [], setenv: [], files: [], bus: undefined, missing: []});
});

display('--wayland: the compositor\'s socket read-only at its path, WAYLAND_DISPLAY and XDG_RUNTIME_DIR', () => {
  const plan = desktopPlan(want({wayland: true}), probe());
  assert.equal(sockets(plan), [[`${RUN}/wayland-1`, `${RUN}/wayland-1`, true, '--wayland']]);
  assert.equal(plan.setenv, [['WAYLAND_DISPLAY', 'wayland-1'], ['XDG_RUNTIME_DIR', RUN]]);
  assert.equal(plan.missing, []);
  const absolute = desktopPlan(want({wayland: true}), probe(['/srv/w-0'], {WAYLAND_DISPLAY: '/srv/w-0'}));
  assert.equal(sockets(absolute), [['/srv/w-0', '/srv/w-0', true, '--wayland']]);
  assert.equal(absolute.setenv, [['WAYLAND_DISPLAY', '/srv/w-0'], ['XDG_RUNTIME_DIR', '/run/user/1000']]);
  const unnamed = desktopPlan(want({wayland: true}), probe([`${RUN}/wayland-0`], {XDG_RUNTIME_DIR: RUN}));
  assert.equal(sockets(unnamed), [[`${RUN}/wayland-0`, `${RUN}/wayland-0`, true, '--wayland']], 'wayland-0 when WAYLAND_DISPLAY is not set');
});

display('a server socket a variable names must be a socket: a directory or file there is refused, naming the variable', () => {
  const refused = (wanted: Partial<DesktopIntegration>, present: string[], env: Record<string, string>, message: RegExp): void => {
    try {
      desktopPlan(want(wanted), probe(present, env));
      assert.unreachable('should be refused');
    } catch (error) {
      assert.is((error as {exitCode?: number}).exitCode, 125);
      assert.match((error as Error).message, message);
    }
  };
  refused({wayland: true}, ['/nix'], {WAYLAND_DISPLAY: '/nix'}, /^--wayland: WAYLAND_DISPLAY names \/nix, which is not a socket: refused$/);
  refused({wayland: true}, ['/nix/dir'], {XDG_RUNTIME_DIR: '/nix', WAYLAND_DISPLAY: 'dir'}, /^--wayland: XDG_RUNTIME_DIR names \/nix\/dir, which is not a socket/);
  refused({audio: true}, ['/nix/store'], {PULSE_SERVER: 'unix:/nix/store'}, /^--audio: PULSE_SERVER names \/nix\/store, which is not a socket/);
  refused({audio: true}, ['/nix/pipewire-0'], {XDG_RUNTIME_DIR: '/nix'}, /^--audio: XDG_RUNTIME_DIR names \/nix\/pipewire-0, which is not a socket/);
  refused({x11: true}, ['/tmp/.X11-unix/X9'], {DISPLAY: ':9'}, /^--x11: DISPLAY names \/tmp\/\.X11-unix\/X9, which is not a socket/);
  refused({talk: ['org.a.b']}, ['/nix/bus'], {DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nix/bus'}, /^--talk-name: DBUS_SESSION_BUS_ADDRESS names \/nix\/bus, which is not a socket/);
  refused({systemTalk: ['org.a.b']}, ['/nix/sys'], {DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nix/sys'}, /^--system-talk-name: DBUS_SYSTEM_BUS_ADDRESS names \/nix\/sys, which is not a socket/);
  // The variable is recorded on what is bound, for the store rule's refusal (resources.ts).
  assert.equal(desktopPlan(want({wayland: true, audio: true}), probe()).resources.map(resource => resource.variable), ['XDG_RUNTIME_DIR', 'XDG_RUNTIME_DIR', 'XDG_RUNTIME_DIR']);
  assert.equal(desktopPlan(want({audio: true}), probe(['/srv/pulse'], {PULSE_SERVER: 'unix:/srv/pulse'})).resources.map(resource => resource.variable), ['PULSE_SERVER']);
});

display('--wayland: a compositor that is not there is one line, and nothing is bound', () => {
  const gone = desktopPlan(want({wayland: true}), probe([], SESSION));
  assert.equal(gone.missing, [`--wayland: no Wayland compositor at ${RUN}/wayland-1`]);
  assert.equal([gone.resources, gone.setenv], [[], []]);
  assert.equal(desktopPlan(want({wayland: true}), probe(SOCKETS, {WAYLAND_DISPLAY: 'wayland-1'})).missing, ['--wayland: no Wayland compositor (XDG_RUNTIME_DIR is not set)']);
});

display('--x11: that display\'s socket alone, DISPLAY, and an Xauthority with that display\'s cookie alone', () => {
  const plan = desktopPlan(want({x11: true}), probe(SOCKETS, {...SESSION, DISPLAY: ':1.0'}));
  assert.equal(sockets(plan), [['/tmp/.X11-unix/X1', '/tmp/.X11-unix/X1', true, '--x11']]);
  assert.equal(plan.setenv, [['DISPLAY', ':1.0'], ['XAUTHORITY', '/tmp/.Xauthority']], 'no XDG_RUNTIME_DIR for X alone');
  assert.equal(plan.files.length, 1);
  assert.is(plan.files[0]!.dest, '/tmp/.Xauthority');
  assert.equal(parseXauthority(plan.files[0]!.data).map(record => [record.display, record.data.toString()]), [['1', 'cookie-of-1']]);
});

display('--x11: without HOME or XAUTHORITY no cookie file is looked for', () => {
  const plan = desktopPlan(want({x11: true}), probe(SOCKETS, {DISPLAY: ':0'}, {'/.Xauthority': COOKIES}));
  assert.equal([plan.files, plan.setenv, plan.missing], [[], [['DISPLAY', ':0']], []]);
});

display('--x11: XAUTHORITY names the cookie file; none, or no cookie for the display, gives no file', () => {
  const named = desktopPlan(want({x11: true}), probe(SOCKETS, {...SESSION, XAUTHORITY: '/run/user/1000/xauth_x'}, {'/run/user/1000/xauth_x': COOKIES}));
  assert.equal(parseXauthority(named.files[0]!.data).map(record => record.data.toString()), ['cookie-of-0']);
  for (const files of [{}, {'/home/u/.Xauthority': Buffer.from('garbage')}] as Array<Record<string, Buffer>>) {
    const none = desktopPlan(want({x11: true}), probe(SOCKETS, SESSION, files));
    assert.equal([none.files, none.setenv, none.missing], [[], [['DISPLAY', ':0']], []]);
  }
});

display('--x11: no DISPLAY, a remote one, or no server: one line each', () => {
  const {DISPLAY: _, ...noDisplay} = SESSION;
  assert.equal(desktopPlan(want({x11: true}), probe(SOCKETS, noDisplay)).missing, ['--x11: no X display (DISPLAY is not set)']);
  assert.equal(desktopPlan(want({x11: true}), probe(SOCKETS, {...SESSION, DISPLAY: ''})).missing, ['--x11: no X display (DISPLAY is not set)']);
  assert.equal(desktopPlan(want({x11: true}), probe(SOCKETS, {...SESSION, DISPLAY: 'far:0'})).missing, ['--x11: DISPLAY=far:0 is not a local display']);
  const gone = desktopPlan(want({x11: true}), probe(SOCKETS, {...SESSION, DISPLAY: ':5'}));
  assert.equal([gone.missing, gone.resources, gone.files], [['--x11: no X server at /tmp/.X11-unix/X5'], [], []]);
});

display.run();

// ---

const audio = suite('--audio');

audio('should bring the PulseAudio and PipeWire sockets there are, PULSE_SERVER and XDG_RUNTIME_DIR', () => {
  const both = desktopPlan(want({audio: true}), probe());
  assert.equal(sockets(both), [[`${RUN}/pulse/native`, `${RUN}/pulse/native`, true, '--audio'], [`${RUN}/pipewire-0`, `${RUN}/pipewire-0`, true, '--audio']]);
  assert.equal(both.setenv, [['PULSE_SERVER', `unix:${RUN}/pulse/native`], ['XDG_RUNTIME_DIR', RUN]]);
  assert.equal(both.missing, []);
  const otherServer = desktopPlan(want({audio: true}), probe([`${RUN}/pulse/native`, '/srv/pulse'], {...SESSION, PULSE_SERVER: 'tcp:x/srv/pulse'}));
  assert.equal(sockets(otherServer).map(([source]) => source), [`${RUN}/pulse/native`], 'a server that is not a unix: path is not a socket to bind');
  const pipewire = desktopPlan(want({audio: true}), probe([`${RUN}/pipewire-0`]));
  assert.equal(sockets(pipewire).map(([source]) => source), [`${RUN}/pipewire-0`]);
  assert.equal(pipewire.setenv, [['XDG_RUNTIME_DIR', RUN]]);
  const named = desktopPlan(want({audio: true}), probe(['/srv/pulse'], {...SESSION, PULSE_SERVER: 'unix:/srv/pulse'}));
  assert.equal(sockets(named).map(([source]) => source), ['/srv/pulse']);
});

audio('should say, in one line, that no sound server runs', () => {
  assert.equal(desktopPlan(want({audio: true}), probe([])).missing, [`--audio: no sound server at ${RUN}/pulse/native or ${RUN}/pipewire-0`]);
  const nowhere = desktopPlan(want({audio: true}), probe([], {}));
  assert.equal([nowhere.missing, nowhere.setenv], [['--audio: no sound server (XDG_RUNTIME_DIR is not set)'], []]);
  const relative = desktopPlan(want({audio: true}), probe([], {XDG_RUNTIME_DIR: 'run/user/1000'}));
  assert.equal(relative.missing, ['--audio: no sound server (XDG_RUNTIME_DIR is not set)'], 'a relative XDG_RUNTIME_DIR is no runtime directory');
});

audio.run();

// ---

const bus = suite('D-Bus names');

bus('no name, no bus', () => {
  const plan = desktopPlan(want({wayland: true, x11: true, audio: true}), probe());
  assert.is(plan.bus, undefined);
  assert.not.ok(plan.setenv.some(([name]) => name.startsWith('DBUS_')));
});

bus('the session bus through the proxy with exactly the rules asked for, at $XDG_RUNTIME_DIR/bus', () => {
  const plan = desktopPlan(want({talk: ['org.a.A'], own: ['org.b.B'], see: ['org.c.*']}), probe());
  assert.equal(plan.bus, {proxy: '/usr/bin/xdg-dbus-proxy', ends: [{address: `unix:path=${RUN}/bus`, rules: ['--talk=org.a.A', '--own=org.b.B', '--see=org.c.*'], socketName: 'bus', jailSocket: `${RUN}/bus`, variable: 'DBUS_SESSION_BUS_ADDRESS'}]});
  assert.equal(plan.setenv, [['DBUS_SESSION_BUS_ADDRESS', `unix:path=${RUN}/bus`], ['XDG_RUNTIME_DIR', RUN]]);
  assert.equal(plan.resources, [], 'the real bus is never bound');
  assert.equal(proxyArgs(plan.bus!, '/tmp/d', 3), ['--fd=3', `unix:path=${RUN}/bus`, '/tmp/d/bus', '--filter', '--talk=org.a.A', '--own=org.b.B', '--see=org.c.*']);
  assert.equal(proxyBinds(plan.bus!, '/tmp/d'), [{source: '/tmp/d/bus', dest: `${RUN}/bus`, readOnly: true}]);
});

bus('the system bus, alone or beside the session bus, each with its own filter', () => {
  const both = desktopPlan(want({talk: ['org.a.A'], systemTalk: ['org.freedesktop.NetworkManager']}), probe());
  assert.equal(proxyArgs(both.bus!, '/d', 4), ['--fd=4', `unix:path=${RUN}/bus`, '/d/bus', '--filter', '--talk=org.a.A', 'unix:path=/run/dbus/system_bus_socket', '/d/system_bus_socket', '--filter', '--talk=org.freedesktop.NetworkManager']);
  assert.equal(proxyBinds(both.bus!, '/d').map(bind => bind.dest), [`${RUN}/bus`, '/run/dbus/system_bus_socket']);
  assert.equal(both.setenv, [['DBUS_SESSION_BUS_ADDRESS', `unix:path=${RUN}/bus`], ['DBUS_SYSTEM_BUS_ADDRESS', 'unix:path=/run/dbus/system_bus_socket'], ['XDG_RUNTIME_DIR', RUN]]);
  const named = desktopPlan(want({systemTalk: ['org.x.Y']}), probe([], {DBUS_SYSTEM_BUS_ADDRESS: 'unix:abstract=/tmp/sys'}));
  assert.equal(named.bus?.ends.map(end => end.address), ['unix:abstract=/tmp/sys'], 'the system bus the variable names, abstract as given');
  const system = desktopPlan(want({systemTalk: ['org.x.Y']}), probe());
  assert.equal(system.setenv, [['DBUS_SYSTEM_BUS_ADDRESS', 'unix:path=/run/dbus/system_bus_socket']], 'no XDG_RUNTIME_DIR for the system bus alone');
});

bus('the session bus from $XDG_RUNTIME_DIR/bus when no variable names it; an abstract address as given', () => {
  const {DBUS_SESSION_BUS_ADDRESS: _, ...unnamed} = SESSION;
  assert.is(desktopPlan(want({talk: ['org.a.A']}), probe(SOCKETS, unnamed)).bus?.ends[0]?.address, `unix:path=${RUN}/bus`);
  const abstract = desktopPlan(want({talk: ['org.a.A']}), probe([], {...SESSION, DBUS_SESSION_BUS_ADDRESS: 'unix:abstract=/tmp/dbus-x,guid=1'}));
  assert.is(abstract.bus?.ends[0]?.address, 'unix:abstract=/tmp/dbus-x,guid=1');
  // Without a runtime directory the jail has the bus at the usual one for the uid.
  const noRuntime = desktopPlan(want({talk: ['org.a.A']}), probe([`${RUN}/bus`], {DBUS_SESSION_BUS_ADDRESS: `unix:path=${RUN}/bus`}));
  assert.equal(noRuntime.bus?.ends.map(end => end.jailSocket), ['/run/user/1000/bus']);
  assert.equal(noRuntime.setenv.at(-1), ['XDG_RUNTIME_DIR', '/run/user/1000']);
  const dotted = desktopPlan(want({talk: ['org.a.A']}), probe([`${RUN}/bus`], {...SESSION, XDG_RUNTIME_DIR: '/tmp/rt/./'}));
  assert.equal(dotted.bus?.ends.map(end => end.jailSocket), ['/tmp/rt/bus']);
  assert.equal(dotted.setenv.at(-1), ['XDG_RUNTIME_DIR', '/tmp/rt'], 'the runtime directory as a clean path');
});

bus('a bus that is not there, or no proxy: one line, and no bus', () => {
  const {DBUS_SESSION_BUS_ADDRESS: _, ...unnamed} = SESSION;
  const cases: Array<[Partial<DesktopIntegration>, HostProbe, string]> = [
    [{talk: ['org.a.A']}, probe([], unnamed), `--talk-name: no session bus (DBUS_SESSION_BUS_ADDRESS is not set, no ${RUN}/bus)`],
    [{own: ['org.a.A']}, probe([], {}), '--own-name: no session bus (DBUS_SESSION_BUS_ADDRESS is not set)'],
    [{see: ['org.a.A']}, probe([]), `--see-name: no session bus at ${RUN}/bus`],
    [{talk: ['org.a.A']}, probe(SOCKETS, {...SESSION, DBUS_SESSION_BUS_ADDRESS: '--help'}), '--talk-name: DBUS_SESSION_BUS_ADDRESS is not a D-Bus address'],
    [{talk: ['org.a.A']}, probe(SOCKETS, {...SESSION, DBUS_SESSION_BUS_ADDRESS: '--x:path=/y'}), '--talk-name: DBUS_SESSION_BUS_ADDRESS is not a D-Bus address'],
    [{systemTalk: ['org.a.A']}, probe(SOCKETS, {DBUS_SYSTEM_BUS_ADDRESS: '--x:y'}), '--system-talk-name: DBUS_SYSTEM_BUS_ADDRESS is not a D-Bus address'],
    [{talk: ['org.a.A'], systemTalk: ['org.b.B']}, probe(SOCKETS, SESSION, {}, []), '--talk-name: xdg-dbus-proxy is not installed (package xdg-dbus-proxy); the jail gets no bus'],
    [{systemTalk: ['org.a.A']}, probe([]), '--system-talk-name: no system bus at /run/dbus/system_bus_socket'],
    [{talk: ['org.a.A']}, probe(SOCKETS, SESSION, {}, []), '--talk-name: xdg-dbus-proxy is not installed (package xdg-dbus-proxy); the jail gets no bus'],
    [{systemTalk: ['org.a.A']}, probe(SOCKETS, SESSION, {}, []), '--system-talk-name: xdg-dbus-proxy is not installed (package xdg-dbus-proxy); the jail gets no bus'],
  ];
  for (const [wanted, host, line] of cases) {
    const plan = desktopPlan(want(wanted), host);
    assert.equal(plan.missing, [line]);
    assert.is(plan.bus, undefined, line);
    assert.equal(plan.setenv, [], line);
  }
});

bus('bus names as D-Bus and the proxy take them', () => {
  for (const name of ['org.a', 'org.freedesktop.portal.*', 'com.example.App_2', 'a-b.c-d', '_x.y']) assert.ok(isBusName(name), name);
  for (const name of ['', 'org', '.org.a', 'org..a', 'org.a.', '1org.a', 'org.1a', 'org.a.*.b', '*', 'org.*', '--filter', 'org.a b', 'org.a=x', `a.${'b'.repeat(254)}`]) {
    assert.not.ok(isBusName(name), name);
  }
  assert.ok(!isBusName('org.*'), 'a wildcard needs two elements before it');
  assert.ok(isBusName(`a.${'b'.repeat(253)}`), '255 characters is the longest name');
});

bus('addresses: a path as D-Bus escapes it, and back', () => {
  assert.is(busAddressValue('/run/user/1000/bus'), '/run/user/1000/bus');
  assert.is(busAddressValue('/tmp/a b,c;d=é'), '/tmp/a%20b%2cc%3bd%3d%c3%a9');
  assert.is(busAddressValue('/tmp/a\tb'), '/tmp/a%09b');
  assert.is(unixBusPath(`unix:path=${busAddressValue('/tmp/a b,c;d=é')}`), '/tmp/a b,c;d=é');
  assert.is(unixBusPath('unix:path=/run/user/1000/bus;unix:path=/other'), '/run/user/1000/bus');
  assert.is(unixBusPath('unix:guid=1,path=/x'), '/x');
  assert.is(unixBusPath('unix:abstract=/tmp/x'), undefined);
  assert.is(unixBusPath('tcp:host=localhost,port=1'), undefined);
  assert.is(unixBusPath('unix:path=%zz'), undefined);
  assert.is(unixBusPath('unix:path=/a%2'), undefined);
  assert.is(unixBusPath('unix:path=/caf%c3%a9/b%2C'), '/café/b,');
  assert.is(unixBusPath('xunix:path=/x'), undefined);
  assert.is(unixBusPath('tcp:host=h;unix:path=/x'), undefined, 'the first address only');
});

bus.run();

// ---

const desktop = suite('--desktop');

desktop('should stand for Wayland, sound, the GPU, fonts, the locale and the portals', () => {
  const expanded = withDesktop({...NO_INTEGRATION, desktop: true}, probe());
  assert.equal(expanded, {...NO_INTEGRATION, desktop: true, wayland: true, x11: false, audio: true, gpu: true, fonts: true, locale: true, talk: ['org.freedesktop.portal.*']});
  const plan = integrationPlan({...NO_INTEGRATION, desktop: true}, probe());
  assert.equal(plan.resources.filter(resource => ['--wayland', '--x11', '--audio'].includes(resource.by)).map(resource => resource.source), [`${RUN}/wayland-1`, `${RUN}/pulse/native`, `${RUN}/pipewire-0`]);
  assert.equal(plan.bus?.ends[0]?.rules, ['--talk=org.freedesktop.portal.*']);
});

desktop('should take X11 when there is no Wayland, and keep what was asked besides', () => {
  const expanded = withDesktop({...NO_INTEGRATION, desktop: true, talk: ['org.a.A', 'org.freedesktop.portal.*']}, probe(SOCKETS.filter(file => !file.includes('wayland'))));
  assert.equal([expanded.wayland, expanded.x11, expanded.talk], [false, true, ['org.a.A', 'org.freedesktop.portal.*']]);
  assert.equal(withDesktop({...NO_INTEGRATION, x11: true}, probe()), {...NO_INTEGRATION, x11: true}, 'nothing without --desktop');
});

desktop.run();
