import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import {bwrapArgs, closureSearchPath, jailEnvironment, parseBind, parseSetenv, systemLinks, type JailSpec} from '../../src/jail/args.js';
import {hostsFile, identityFiles} from '../../src/jail/identity.js';
import {throwsJail} from '../helpers/errors.js';

const base: JailSpec = {
  store: {kind: 'bind', merged: '/m'},
  argv: ['/nix/store/x/bin/p', '$(id)', 'two\nlines'],
  env: {PATH: '/nix/store/x/bin', HOME: '/home/u'},
  shareNet: false,
  binds: [],
  extra: [],
  statusFd: 3,
};

const args = suite('bwrapArgs');

args('should unshare every namespace and the network by default', () => {
  const argv = bwrapArgs(base);
  for (const flag of ['--unshare-user', '--disable-userns', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-net', '--die-with-parent', '--new-session', '--clearenv']) {
    assert.ok(argv.includes(flag), flag);
  }
  assert.not.ok(bwrapArgs({...base, shareNet: true}).includes('--unshare-net'));
});

args('should drop every capability, before anything the user adds', () => {
  const argv = bwrapArgs({...base, extra: ['--cap-add', 'CAP_NET_RAW']});
  const at = argv.indexOf('--cap-drop');
  assert.equal(argv.slice(at, at + 2), ['--cap-drop', 'ALL']);
  assert.is(argv.filter(arg => arg === '--cap-drop').length, 1);
  assert.ok(at < argv.indexOf('--cap-add'), 'a --bwrap-arg refines the default, it is not overridden by it');
});

args('should pass the program and its arguments unchanged after --', () => {
  const argv = bwrapArgs(base);
  assert.equal(argv.slice(argv.indexOf('--')), ['--', '/nix/store/x/bin/p', '$(id)', 'two\nlines']);
});

args('should give a fresh /proc, a minimal /dev and a tmpfs /tmp', () => {
  const argv = bwrapArgs(base).join(' ');
  assert.match(argv, '--proc /proc --dev /dev --tmpfs /tmp');
});

args('should make /dev/tty the caller\'s terminal only when there is one, after the minimal /dev', () => {
  assert.not.ok(bwrapArgs(base).includes('/dev/tty'));
  const argv = bwrapArgs({...base, terminal: '/dev/pts/7'});
  const at = argv.indexOf('--dev-bind');
  assert.equal(argv.slice(at, at + 3), ['--dev-bind', '/dev/pts/7', '/dev/tty']);
  assert.ok(at > argv.indexOf('--dev'), 'after --dev /dev, which it would otherwise cover');
});

args('should set exactly the given environment after clearing it', () => {
  const argv = bwrapArgs(base);
  const after = argv.slice(argv.indexOf('--clearenv') + 1, argv.indexOf('--json-status-fd'));
  assert.equal(after, ['--setenv', 'PATH', '/nix/store/x/bin', '--setenv', 'HOME', '/home/u']);
});

args('should put user binds and extra arguments after the defaults', () => {
  const argv = bwrapArgs({...base, binds: [{source: '/data', dest: '/d', readOnly: true}], extra: ['--new-session'], chdir: '/d'});
  assert.ok(argv.indexOf('--ro-bind', argv.indexOf('/nix/store') + 1) > argv.indexOf('--tmpfs'));
  assert.ok(argv.indexOf('--new-session') < argv.indexOf('--'));
  assert.equal(argv.slice(argv.indexOf('--chdir'), argv.indexOf('--chdir') + 2), ['--chdir', '/d']);
});

args.run();

// ---

const parsing = suite('bind and setenv parsing');

parsing('should read SRC[:DEST] with the destination after the last colon', () => {
  assert.equal(parseBind('/data', true), {source: '/data', dest: '/data', readOnly: true});
  assert.equal(parseBind('/data:/d', false), {source: '/data', dest: '/d', readOnly: false});
  assert.equal(parseBind('/a:b:/c', false), {source: '/a:b', dest: '/c', readOnly: false});
  assert.equal(parseBind('/a:b', false), {source: '/a:b', dest: '/a:b', readOnly: false});
});

parsing('should refuse a bind over the jail store', () => {
  assert.throws(() => parseBind('/x:/nix/store', true), /would cover or replace/);
  assert.throws(() => parseBind('/x:/nix', true), /would cover or replace/);
  assert.throws(() => parseBind('/x:/nix/store/abc', true), /would cover or replace/);
  assert.throws(() => parseBind('/x:/', true), /would cover or replace/);
});

parsing('should read NAME=VALUE and refuse anything else', () => {
  assert.equal(parseSetenv('A=b=c'), ['A', 'b=c']);
  assert.equal(parseSetenv('EMPTY='), ['EMPTY', '']);
  assert.throws(() => parseSetenv('=x'), /NAME=VALUE/);
  assert.throws(() => parseSetenv('NOVALUE'), /NAME=VALUE/);
});

parsing.run();

// ---

const env = suite('jailEnvironment');

env('should keep only HOME, TERM and what is asked for', () => {
  const result = jailEnvironment({
    host: {HOME: '/h', TERM: 'xterm', SECRET: 's', LANG: 'C', PATH: '/usr/bin'},
    path: ['/nix/store/a/bin', '/nix/store/b/bin'],
    keep: ['LANG', 'MISSING'],
    set: [['X', '1']],
  });
  assert.equal(result, {PATH: '/nix/store/a/bin:/nix/store/b/bin', HOME: '/h', TERM: 'xterm', LANG: 'C', X: '1'});
});

env.run();

// ---

const more = suite('bwrapArgs, each option');

more('should map ids only when given, and bind a store view or stack its layers', () => {
  assert.equal(bwrapArgs(base).slice(0, 3), ['--unshare-user', '--disable-userns', '--unshare-pid'], 'nothing in place of --uid and --gid');
  const mapped = bwrapArgs({...base, uid: 1000, gid: 100});
  assert.equal(mapped.slice(mapped.indexOf('--uid'), mapped.indexOf('--uid') + 4), ['--uid', '1000', '--gid', '100']);
  assert.equal(bwrapArgs({...base, gid: 7}).slice(bwrapArgs({...base, gid: 7}).indexOf('--gid'), bwrapArgs({...base, gid: 7}).indexOf('--gid') + 2), ['--gid', '7']);
  assert.is(bwrapArgs({...base, uid: 5}).indexOf('--gid'), -1);
  const unsharedNet = bwrapArgs(base);
  assert.is(unsharedNet.indexOf('--unshare-net') + 1, unsharedNet.indexOf('--die-with-parent'), 'nothing in place of --unshare-net');
  const shared = bwrapArgs({...base, shareNet: true});
  assert.is(shared.indexOf('--unshare-cgroup-try') + 1, shared.indexOf('--die-with-parent'), 'nothing in place of --unshare-net');
});

more('should make the caller\'s home, unless it is / or relative', () => {
  const dir = (home: string | undefined): string[] => {
    const argv = bwrapArgs({...base, home});
    const at = argv.indexOf('--dir');
    return at === -1 ? [] : argv.slice(at, at + 2);
  };
  assert.equal(dir('/home/u'), ['--dir', '/home/u']);
  assert.equal(dir(undefined), []);
  assert.equal(dir('/'), []);
  assert.equal(dir('relative/home'), []);
});

more('should bind read-only or read-write as asked, change directory and read the seccomp filter only when given', () => {
  const argv = bwrapArgs({...base, binds: [{source: '/a', dest: '/x', readOnly: true}, {source: '/b', dest: '/y', readOnly: false}], chdir: '/x', seccompFd: 4});
  assert.equal(argv.slice(argv.indexOf('/a') - 1, argv.indexOf('/a') + 2), ['--ro-bind', '/a', '/x']);
  assert.equal(argv.slice(argv.indexOf('/b') - 1, argv.indexOf('/b') + 2), ['--bind', '/b', '/y']);
  assert.equal(argv.slice(argv.indexOf('--chdir'), argv.indexOf('--chdir') + 2), ['--chdir', '/x']);
  assert.equal(argv.slice(argv.indexOf('--seccomp'), argv.indexOf('--seccomp') + 2), ['--seccomp', '4']);
  assert.is(bwrapArgs(base).indexOf('--chdir'), -1);
  assert.is(bwrapArgs(base).indexOf('--seccomp'), -1);
  assert.equal(bwrapArgs({...base, seccompFd: 0}).slice(-6, -4), ['--seccomp', '0'], 'descriptor 0 is a descriptor');
});

more('should put the roots\' bin directories first on PATH, then the rest of the closure\'s, each once', () => {
  assert.equal(closureSearchPath(['b-app', 'x-nobin'], ['c-lib', 'b-app', 'a-tool']), ['/nix/store/b-app/bin', '/nix/store/a-tool/bin', '/nix/store/c-lib/bin']);
  assert.equal(closureSearchPath([], []), []);
});

more.run();

// ---

const refusals = suite('bind and setenv parsing, each refusal');

refusals('should split SRC:DEST only at a colon followed by an absolute path', () => {
  assert.equal(parseBind('/a:b:/c', false), {source: '/a:b', dest: '/c', readOnly: false});
  assert.equal(parseBind(':/c', true), {source: path.resolve(':/c'), dest: '/:/c', readOnly: true}, 'a colon first is part of the source');
  throwsJail(() => parseBind('', false), 'usage', 'bad bind ""');
  throwsJail(() => parseBind('/x:/nix/store/abc', false), 'usage', /refusing bind onto \/nix\/store\/abc: it would cover or replace the jail's \/nix\/store/);
});

refusals('should take NAME=VALUE with a name as the shell spells it', () => {
  assert.equal(parseSetenv('A_1=x=y'), ['A_1', 'x=y']);
  assert.equal(parseSetenv('_=v'), ['_', 'v']);
  for (const bad of ['=v', '1A=v', 'A-B=v', 'novalue', 'a b=v', 'Ab=', 'x\nA=v']) {
    if (bad === 'Ab=') {
      assert.equal(parseSetenv(bad), ['Ab', '']);
      continue;
    }
    throwsJail(() => parseSetenv(bad), 'usage', `--setenv needs NAME=VALUE, got ${JSON.stringify(bad)}`);
  }
});

refusals.run();

// ---

const identity = suite('the jail\'s /etc/passwd and /etc/group');

identity('should hold root, the caller with the jail\'s home, and nobody, once each', () => {
  assert.equal(identityFiles({user: 'alice', uid: 1000, group: 'users', gid: 100, home: '/home/alice'}), {
    passwd: 'root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n',
    group: 'root:x:0:\nusers:x:100:\nnogroup:x:65534:\n',
  });
  assert.equal(identityFiles({user: 'root', uid: 0, group: 'root', gid: 0, home: '/root'}), {
    passwd: 'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n',
    group: 'root:x:0:\nnogroup:x:65534:\n',
  });
});

identity('should give the jail an /etc/hosts with localhost on both loopback addresses and the host\'s name, never a line it could break', () => {
  assert.is(hostsFile('box'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tbox\n');
  assert.is(hostsFile('localhost'), '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n');
  for (const odd of ['', 'a b', 'x\n1.2.3.4 evil', '-dash', 'a\tb']) assert.not.match(hostsFile(odd), /127\.0\.1\.1/, JSON.stringify(odd));
});

identity('should not let a name or a home break the line format', () => {
  const files = identityFiles({user: 'a:b', uid: 1001, group: 'g\nroot:x:0:', gid: 1002, home: '/h:x'});
  assert.match(files.passwd, /^1001:x:1001:1002::\/:\/bin\/sh$/m);
  assert.match(files.group, /^1002:x:1002:$/m);
  assert.is(files.passwd.split('\n').length, 4);
  assert.is(files.group.split('\n').length, 4);
});

identity('should write no files and make no links unless asked', () => {
  for (const flag of ['--ro-bind-data', '--symlink', '--file', '--bind-data']) assert.not.ok(bwrapArgs(base).includes(flag), flag);
  assert.not.ok(bwrapArgs(base).includes('undefined'));
});

identity('should give bubblewrap the files by descriptor, read-only', () => {
  const argv = bwrapArgs({...base, files: [{fd: 5, dest: '/etc/passwd'}, {fd: 6, dest: '/etc/group'}]});
  const at = argv.indexOf('--ro-bind-data');
  assert.equal(argv.slice(at, at + 6), ['--ro-bind-data', '5', '/etc/passwd', '--ro-bind-data', '6', '/etc/group']);
});

identity.run();

// ---

const links = suite('/bin/sh and /usr/bin/env');

links('should link to the program\'s own bin/sh first, then the closure\'s in PATH order, and to nothing that is not there', () => {
  const files = new Map([['b-bash', ['bin/sh']], ['a-busybox', ['bin/sh', 'bin/env']], ['app', ['bin/sh']], ['c-coreutils', ['bin/env']]]);
  const has = (entry: string, file: string): boolean => files.get(entry)?.includes(file) ?? false;
  const first = (entries: string[]) => (file: string): string | undefined => [...entries].sort().find(entry => has(entry, file));
  assert.equal(systemLinks(['app'], has, first(['b-bash', 'a-busybox', 'c-coreutils', 'app'])), [
    {target: '/nix/store/app/bin/sh', dest: '/bin/sh'},
    {target: '/nix/store/a-busybox/bin/env', dest: '/usr/bin/env'},
  ]);
  assert.equal(systemLinks(['x'], has, first(['b-bash', 'a-busybox']))[0], {target: '/nix/store/a-busybox/bin/sh', dest: '/bin/sh'});
  assert.equal(systemLinks(['x'], has, first(['x'])), []);
  const argv = bwrapArgs({...base, links: [{target: '/nix/store/app/bin/sh', dest: '/bin/sh'}]});
  assert.equal(argv.slice(argv.indexOf('--symlink'), argv.indexOf('--symlink') + 3), ['--symlink', '/nix/store/app/bin/sh', '/bin/sh']);
});

links('should bind devices with device access at their own paths, after /dev is made, and links before binds', () => {
  const argv = bwrapArgs({...base, devices: ['/dev/dri', '/dev/nvidia0'], links: [{target: '/x', dest: '/etc/static'}], binds: [{source: '/etc/ssl', dest: '/etc/ssl', readOnly: true}]});
  const devBinds = argv.flatMap((arg, index) => (arg === '--dev-bind' ? [argv.slice(index, index + 3)] : []));
  assert.equal(devBinds, [['--dev-bind', '/dev/dri', '/dev/dri'], ['--dev-bind', '/dev/nvidia0', '/dev/nvidia0']]);
  assert.ok(argv.indexOf('--dev') < argv.indexOf('--dev-bind'), 'on the jail\'s own /dev');
  assert.ok(argv.indexOf('--symlink') < argv.indexOf('/etc/ssl'), 'a link is made before the binds, which could hide where it goes');
});

links.run();
