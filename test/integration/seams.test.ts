/**
 * Where the parts meet, for real: paths the caller's variables name are held to the rule that
 * nothing is bound onto or shows the store; scripts whose interpreter is /usr/bin/env or
 * /bin/sh run through the links the jail makes; a caller without a passwd entry, or running
 * with another group, gets its own ids; a loop inside a bound directory does not stop a start;
 * `localhost` resolves without --net; wrap --dry-run writes nothing.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, collect, startCollecting, tempDir, userCli, type Collected} from '../helpers/cli.js';
import {mountingWays} from '../helpers/callers.js';
import {missing, TEST_USER, when} from '../helpers/env.js';
import {buildFixture, debianPrograms, nixEnv, scriptsFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {closeInheritedDescriptors} from '../../src/jail/descriptors.js';

// Launchers below must start as from a clean parent (a descriptor above 9 sends dash to exec).
closeInheritedDescriptors([]);

const asRoot = (args: readonly string[], env: NodeJS.ProcessEnv = nixEnv()): Collected => collect(process.execPath, [CLI, ...args], env);

/** A unix socket listening at `file` until the tests end. */
const listening = async (file: string): Promise<void> => {
  const server = net.createServer(socket => socket.end());
  await new Promise<void>(resolve => server.listen(file, resolve));
  server.unref();
};

// ---

const variables = suite('paths taken from variables');
const variableTest = when(variables, missing('root', 'nix', 'bwrap'));

variableTest('should refuse, per variable, a path that would bind onto the store, show it whole, show .links or Nix\'s state, or a server socket that is no socket', async () => {
  const {app, outsider} = buildFixture();
  const cache = tempDir('cache');
  const dir = tempDir('variables');
  const socket = path.join(dir, 'bus');
  await listening(socket);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const cases: Array<[string, Record<string, string>, string[], RegExp]> = [
    ['TZDIR', {TZDIR: '/nix'}, ['--locale'], /--locale: TZDIR names \/nix, which would be bound onto \/nix, covering the jail's \/nix\/store: refused/],
    ['TZDIR into .links', {TZDIR: '/nix/store/.links'}, ['--locale'], /TZDIR names \/nix\/store\/\.links, which leads to \/nix\/store\/\.links: binding it would show the jail the store's \.links/],
    ['LOCALE_ARCHIVE', {LOCALE_ARCHIVE: '/nix/var/nix/db/db.sqlite'}, ['--locale'], /LOCALE_ARCHIVE names \/nix\/var\/nix\/db\/db\.sqlite, which leads to .*Nix's database and daemon/],
    ['SSL_CERT_FILE', {SSL_CERT_FILE: '/nix', NIX_SSL_CERT_FILE: ''}, ['--net'], /--net: SSL_CERT_FILE names \/nix, which leads to \/nix: binding it would show the jail the whole store/],
    ['NIX_SSL_CERT_FILE', {NIX_SSL_CERT_FILE: '/nix/store'}, ['--net'], /NIX_SSL_CERT_FILE names \/nix\/store, which leads to \/nix\/store: .*the whole store/],
    ['WAYLAND_DISPLAY', {WAYLAND_DISPLAY: '/nix'}, ['--wayland'], /--wayland: WAYLAND_DISPLAY names \/nix, which is not a socket: refused/],
    ['PULSE_SERVER', {PULSE_SERVER: 'unix:/nix/store'}, ['--audio'], /--audio: PULSE_SERVER names \/nix\/store, which is not a socket/],
    ['XDG_RUNTIME_DIR (the bus socket there)', {XDG_RUNTIME_DIR: '/nix/store', DBUS_SESSION_BUS_ADDRESS: `unix:path=${socket}`}, ['--talk-name', 'org.example.A'], /the jail's bus socket would be at \/nix\/store\/bus \(from XDG_RUNTIME_DIR\), covering the jail's \/nix\/store: refused/],
    ['DBUS_SESSION_BUS_ADDRESS', {DBUS_SESSION_BUS_ADDRESS: 'unix:path=/nix/store'}, ['--talk-name', 'org.example.A'], /--talk-name: DBUS_SESSION_BUS_ADDRESS names \/nix\/store, which is not a socket/],
    ['DBUS_SYSTEM_BUS_ADDRESS', {DBUS_SYSTEM_BUS_ADDRESS: 'unix:path=/nix'}, ['--system-talk-name', 'org.example.A'], /--system-talk-name: DBUS_SYSTEM_BUS_ADDRESS names \/nix, which is not a socket/],
  ];
  for (const [name, env, options, message] of cases) {
    const result = asRoot(['exec', '--cache-dir', cache, ...options, '--', `${app}/bin/sh`, '-c', `echo RAN; cat ${outsider}/secret.txt; ls /nix/store | wc -l`], {...nixEnv(), ...env});
    assert.is(result.status, 125, `${name}: ${result.stderr}`);
    assert.is(result.stdout, '', name);
    assert.match(result.stderr, message, name);
    assert.is(result.stderr.trimEnd().split('\n').length, 1, `${name}: one line: ${result.stderr}`);
  }
  // XAUTHORITY naming a FIFO is not opened to block: the plan comes back, with no cookie.
  const x = '/tmp/.X11-unix/X97';
  fs.mkdirSync('/tmp/.X11-unix', {recursive: true, mode: 0o1777});
  await listening(x);
  try {
    const dry = asRoot(['exec', '--dry-run', '--cache-dir', cache, '--x11', '--', `${app}/bin/sh`], {...nixEnv(), DISPLAY: ':97', XAUTHORITY: fifo});
    assert.is(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /X97/);
    assert.not.match(dry.stdout, /\.Xauthority/);
  } finally {
    fs.rmSync(x, {force: true});
  }
  tally('escape', cases.length);
  tally('input', 1);
});

variables.run();

// ---

for (const caller of mountingWays) {
  const scripts = suite(`scripts run by /usr/bin/env and /bin/sh, as ${caller.name}`);
  when(scripts, caller.needs ?? missing('nix'))('should run them through the jail\'s links, from exec and from a launcher, and refuse them with --no-system-links', () => {
    const {scripts: store} = scriptsFixture();
    const cache = caller.cache();
    const exec = (options: string[], program: string): Collected => {
      const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...options, '--', `${store}/bin/${program}`, 'a b']);
      return collect(command, argv, caller.env());
    };
    for (const [program, said] of [['by-env', 'env script ran with a b'], ['by-sh', 'sh script ran with a b']] as const) {
      const ran = exec([], program);
      assert.is(ran.status, 0, `${program}: ${ran.stderr}`);
      assert.is(ran.stdout, `${said}\n`);
      const refused = exec(['--no-system-links'], program);
      assert.is(refused.status, 126, refused.stderr);
      assert.match(refused.stderr, new RegExp(`its interpreter ${program === 'by-env' ? '/usr/bin/env' : '/bin/sh'} is outside /nix/store and not bound in`));
      const dir = tempDir('launcher', caller.user ? TEST_USER : undefined);
      const launcher = path.join(dir, program);
      const [command, argv] = caller.command(['wrap', '--out', launcher, '--cache-dir', cache, `${store}/bin/${program}`]);
      const wrapped = collect(command, argv, caller.env());
      assert.is(wrapped.status, 0, wrapped.stderr);
      for (const env of [{}, {NIX_OVERLAY_JAIL_NO_PLAN: '1'}]) {
        const [how, args] = caller.user ? ['setpriv', [`--reuid=${TEST_USER}`, `--regid=${TEST_USER}`, '--init-groups', '--', launcher, 'a b']] : [launcher, ['a b']];
        const launched = collect(how, args, {...caller.env(), ...env});
        assert.is(launched.status, 0, launched.stderr);
        assert.is(launched.stdout, `${said}\n`);
      }
    }
  });
  scripts.run();
}

// ---

const identity = suite('who the caller is');
const identityTest = when(identity, missing('root', 'nix', 'bwrap', 'test-user'));

identityTest('should run a caller the host has no passwd entry for, and give a caller the group it runs with', () => {
  const {app, closure} = buildFixture();
  const dir = tempDir('nameless');
  fs.chmodSync(dir, 0o755);
  const closureFile = path.join(dir, 'closure');
  fs.writeFileSync(closureFile, `${closure.join('\n')}\n`, {mode: 0o644});
  const cache = path.join(dir, 'cache');
  fs.mkdirSync(cache, {mode: 0o700});
  fs.chownSync(cache, 4242, 4242);
  const id = ['-c', 'id -u; id -g; id -un; id -gn; echo "$HOME"'];
  const cli = userCli();
  const nameless = collect('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', '--', process.execPath, cli, 'exec', '--mount-with', 'userns', '--cache-dir', cache, '--closure-file', closureFile, '--', `${app}/bin/sh`, ...id], {PATH: process.env['PATH']});
  assert.is(nameless.status, 0, nameless.stderr);
  // No HOME in the caller's environment: none in the jail's either (its passwd says /).
  assert.is(nameless.stdout, '4242\n4242\nuser\nuser\n\n');
  // Without HOME and a passwd entry there is no default cache: one line, not a stack trace.
  const noCache = collect('setpriv', ['--reuid=4242', '--regid=4242', '--clear-groups', '--', process.execPath, cli, 'exec', '--closure-file', closureFile, '--', `${app}/bin/sh`, '-c', 'echo RAN'], {PATH: process.env['PATH']});
  assert.is(noCache.status, 125, noCache.stderr);
  assert.is(noCache.stdout, '');
  assert.match(noCache.stderr, /^nix-overlay-jail: no cache directory: HOME is not set and uid 4242 has no passwd entry; pass --cache-dir or set XDG_CACHE_HOME\n$/);
  // The test user, running with the group `nogroup` instead of its own.
  const userCache = tempDir('cache', TEST_USER);
  const other = collect('setpriv', [`--reuid=${TEST_USER}`, '--regid=65534', '--clear-groups', '--', process.execPath, cli, 'exec', '--mount-with', 'userns', '--cache-dir', userCache, '--closure-file', closureFile, '--', `${app}/bin/sh`, ...id], {PATH: process.env['PATH'], HOME: '/home/elsewhere'});
  assert.is(other.status, 0, other.stderr);
  const [uid, gid, user, group] = other.stdout.split('\n');
  assert.is(uid, execFileSync('id', ['-u', TEST_USER], {encoding: 'utf8'}).trim());
  assert.is(gid, '65534');
  assert.is(user, TEST_USER);
  assert.is(group, 'nogroup');
  tally('input', 3);
});

identity.run();

// ---

const hosts = suite('the jail\'s own files');
const hostsTest = when(hosts, missing('root', 'nix', 'bwrap'));

hostsTest('should start with a symlink loop inside a read-only bound directory, which stays as broken as on the host', () => {
  const {app} = buildFixture();
  const dir = tempDir('loop');
  fs.writeFileSync(path.join(dir, 'file'), 'bound\n');
  fs.mkdirSync(path.join(dir, 'sub'));
  fs.symlinkSync('loop', path.join(dir, 'sub', 'loop'));
  fs.symlinkSync('b', path.join(dir, 'a'));
  fs.symlinkSync('a', path.join(dir, 'b'));
  const result = asRoot(['exec', '--cache-dir', tempDir('cache'), '--ro-bind', `${dir}:/data`, '--', `${app}/bin/sh`, '-c', 'cat /data/file; cat /data/a 2>/dev/null || echo loop']);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stdout, 'bound\nloop\n');
  tally('input', 1);
});

hostsTest('localhost and the host\'s name resolve in a jail without --net (its own /etc/hosts), from exec and a warm launcher; --net keeps the host\'s', async () => {
  const {programs} = debianPrograms(['curl', 'date']);
  const server = http.createServer((_, response) => response.end('hello from localhost\n'));
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const {port} = server.address() as net.AddressInfo;
  const cache = tempDir('cache');
  try {
    const curl = [`${programs}/bin/curl`, '-sS', '--max-time', '10', `http://localhost:${port}/`];
    const shared = await startCollecting(process.execPath, [CLI, 'exec', '--cache-dir', cache, '--share-net', '--', ...curl], nixEnv());
    assert.is(shared.code, 0, shared.stderr);
    assert.is(shared.stdout, 'hello from localhost\n');
    const launcher = path.join(tempDir('launcher'), 'curl');
    const wrapped = asRoot(['wrap', '--out', launcher, '--cache-dir', cache, '--share-net', ...curl]);
    assert.is(wrapped.status, 0, wrapped.stderr);
    const warm = await startCollecting(launcher, [], {...nixEnv(), NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'});
    assert.is(warm.code, 0, warm.stderr);
    assert.is(warm.stdout, 'hello from localhost\n');
  } finally {
    server.close();
  }
  const {app} = buildFixture();
  const own = asRoot(['exec', '--cache-dir', cache, '--', `${app}/bin/sh`, '-c', 'cat /etc/hosts']);
  assert.is(own.status, 0, own.stderr);
  assert.is(own.stdout, `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${os.hostname()}\n`);
  const hosts = asRoot(['exec', '--cache-dir', cache, '--net', '--', `${app}/bin/sh`, '-c', 'cat /etc/hosts']);
  assert.is(hosts.status, 0, hosts.stderr);
  assert.is(hosts.stdout, fs.readFileSync('/etc/hosts', 'utf8'));
});

hostsTest('wrap --dry-run is refused, writing no launcher', () => {
  const {app} = buildFixture();
  const out = path.join(tempDir('wrap'), 'jailed');
  const result = asRoot(['wrap', '--dry-run', '--out', out, '--cache-dir', tempDir('cache'), `${app}/bin/sh`]);
  assert.is(result.status, 125, result.stderr);
  assert.match(result.stderr, /^nix-overlay-jail: wrap --dry-run would write a launcher that only dry-runs/);
  assert.not.ok(fs.existsSync(out));
  tally('input', 1);
});

hosts.run();
