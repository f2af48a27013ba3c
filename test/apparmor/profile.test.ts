import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {apparmorPath, apparmorProfile, apparmorUnavailable, assertProfileName, closureRules} from '../../src/apparmor/profile.js';
import {JailError} from '../../src/errors.js';

const refused = (run: () => unknown, message: RegExp): void => {
  assert.throws(run, (error: unknown) => error instanceof JailError && error.kind === 'usage' && message.test(error.message));
};

test('closureRules: each store path and all in it, read, mapped and run, sorted', () => {
  assert.equal(closureRules(['/nix/store/b-lib', '/nix/store/a-hello', '/nix/store/c-data.txt']), [
    '  "/nix/store/a-hello{,/**}" mrix,',
    '  "/nix/store/b-lib{,/**}" mrix,',
    '  "/nix/store/c-data.txt{,/**}" mrix,',
  ]);
  assert.equal(closureRules([]), []);
});

test('apparmorPath: glob characters escaped, spaces kept; what the syntax cannot spell refused', () => {
  assert.is(apparmorPath('/nix/store/x-odd + = ? . _ - , :'), '/nix/store/x-odd + = \\? . _ - , :');
  assert.is(apparmorPath('/data/a*b[c]{d}'), '/data/a\\*b\\[c\\]\\{d\\}');
  assert.is(apparmorPath('/home/u/my data'), '/home/u/my data');
  for (const bad of ['/a"b', '/a\\b', '/a\nb', '/a\tb', '/a\x7fb', '/a/@{HOME}', 'relative/path', '']) {
    refused(() => apparmorPath(bad), /^an AppArmor profile cannot name .* exactly: refused$/);
  }
});

test('assertProfileName: letters, digits, . _ -', () => {
  assert.is(assertProfileName('nix-overlay-jail-hello_2.12'), 'nix-overlay-jail-hello_2.12');
  for (const bad of ['', '-x', 'a b', 'a/b', 'a"b', 'a{b}', '.x']) refused(() => assertProfileName(bad), /^--name .*: a profile name is letters, digits/);
});

test('apparmorProfile: attached to the program, the closure, the jail\'s files, the binds as bound, the store\'s listing denied', () => {
  const text = apparmorProfile({
    name: 'hello', program: '/nix/store/a-hello/bin/hello', closure: ['/nix/store/b-glibc', '/nix/store/a-hello'],
    binds: [{dest: '/data', readOnly: true}, {dest: '/work dir', readOnly: false}], home: '/home/u',
  });
  const lines = text.split('\n');
  assert.ok(lines.includes('profile hello "/nix/store/a-hello/bin/hello" flags=(attach_disconnected) {'));
  assert.ok(lines.includes('abi <abi/3.0>,'));
  assert.ok(lines.includes('  include <abstractions/base>'));
  const rules = lines.filter(line => line.startsWith('  "'));
  assert.equal(rules, [
    '  "/nix/store/a-hello{,/**}" mrix,',
    '  "/nix/store/b-glibc{,/**}" mrix,',
    '  "/home/u{,/**}" rwlk,',
    '  "/data{,/**}" r,',
    '  "/work dir{,/**}" rwlk,',
  ]);
  for (const rule of ['  /etc/passwd r,', '  /etc/group r,', '  /etc/hosts r,', '  /tmp/{,**} rwlk,', '  deny /nix/store/ r,', '  deny /nix/var/** rwlkmx,']) assert.ok(lines.includes(rule), rule);
  assert.is(lines.filter(line => /\bx\b|ix,|ux|px|cx/.test(line) && !line.includes('mrix') && !line.startsWith('#') && !line.includes('deny')).length, 0, 'nothing else runs');
  const bare = apparmorProfile({name: 'n', program: '/nix/store/a/bin/a', closure: [], binds: []});
  assert.not.match(bare, /"\/home|What the options bind/);
  assert.ok(bare.includes('  /tmp/{,**} rwlk,\n  /dev/tty rw,\n'), 'no home, no line');
  assert.ok(bare.includes('  @{PROC}/@{pid}/** r,\n\n  # Never the store'), 'no binds, no section');
  refused(() => apparmorProfile({name: 'n', program: '/nix/store/a/bin/a', closure: [], binds: [{dest: '/say "hi"', readOnly: true}]}), /cannot name/);
});

test('apparmorUnavailable: an enforcing kernel, and the profile loaded in enforce mode', () => {
  const loaded = 'nix-overlay-jail-hello (enforce)\nother (complain)\n/usr/bin/man (enforce)\n';
  assert.is(apparmorUnavailable('nix-overlay-jail-hello', 'Y\n', loaded), undefined);
  assert.is(apparmorUnavailable('hello', undefined, loaded), '--apparmor hello: this kernel does not enforce AppArmor');
  assert.is(apparmorUnavailable('hello', 'N\n', loaded), '--apparmor hello: this kernel does not enforce AppArmor');
  assert.is(apparmorUnavailable('hello', 'Y', loaded), '--apparmor hello: no profile hello is loaded (nix-overlay-jail apparmor --name hello -- COMMAND | apparmor_parser -r)');
  assert.is(apparmorUnavailable('hello', 'Y', undefined), '--apparmor hello: no profile hello is loaded (nix-overlay-jail apparmor --name hello -- COMMAND | apparmor_parser -r)');
  assert.is(apparmorUnavailable('other', 'Y', loaded), '--apparmor other: the profile is loaded in complain mode, not enforce');
  // A line that is not `NAME (MODE)` names no profile.
  assert.match(apparmorUnavailable('odd', 'Y', 'odd (enforce) and more\n')!, /no profile odd is loaded/);
});

test.run();
