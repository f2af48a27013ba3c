/**
 * `apparmor`: every profile it prints is compiled by the real parser (Debian's apparmor_parser,
 * asked to parse and compile without loading: this kernel has no AppArmor, so nothing here is
 * enforced): a real Nix closure; a synthetic store of 1,400 paths whose names hold + = ? . _ - , :
 * spaces and glob characters; binds with spaces and brackets. A bind the syntax cannot spell
 * (a quote) is refused in one line, and nothing is printed. 5,000 paths are past what AppArmor
 * 3.0's parser can compile (its automaton's states are 16-bit): it says so, and so does apparmor.
 */
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {run, tempDir} from '../helpers/cli.js';
import {IN_CI, missing, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {addBusybox, closureFile, makeStore} from '../helpers/store.js';
import {tally} from '../helpers/tally.js';

const profiles = suite('AppArmor profiles');
const parser = spawnSync('sh', ['-c', 'command -v apparmor_parser || for p in /usr/sbin/apparmor_parser /sbin/apparmor_parser; do [ -x $p ] && echo $p && break; done'], {encoding: 'utf8'}).stdout.trim();
const test = when(profiles, missing('root', 'nix') ?? (parser === '' ? `needs apparmor_parser${IN_CI ? '' : ' (Debian\'s apparmor)'}` : undefined));

/** Compile without loading (-Q), without the cache (-K), to stdout (-S): the parser's verdict. */
const compile = (profile: string): {status: number | null; stderr: string} => {
  const file = path.join(tempDir('apparmor'), 'profile');
  fs.writeFileSync(file, profile);
  const result = spawnSync(parser, ['-Q', '-K', '-S', file], {encoding: 'utf8', maxBuffer: 256 << 20});
  // This kernel has no AppArmor: the parser says so about its cache, and compiles all the same.
  return {status: result.status, stderr: result.stderr.split('\n').filter(line => line !== '' && !line.startsWith('Cache read/write disabled')).join('\n')};
};

test('should print a profile for a real closure that the parser compiles, naming every store path of it', () => {
  const fixture = buildFixture();
  const result = run(['apparmor', '--name', 'noj-test', '--', `${fixture.app}/bin/sh`]);
  assert.is(result.status, 0, result.stderr);
  const rules = result.stdout.split('\n').filter(line => line.endsWith('" mrix,')).map(line => line.slice(3, -'{,/**}" mrix,'.length));
  assert.equal(rules, [...fixture.closure].sort());
  assert.match(result.stdout, new RegExp(`^profile noj-test "${fixture.app}/bin/sh" flags=\\(attach_disconnected\\) \\{$`, 'm'));
  const compiled = compile(result.stdout);
  assert.is(compiled.status, 0, compiled.stderr);
  assert.is(compiled.stderr, '');
});

test('should compile for 1,400 paths with odd names and binds with spaces and brackets, and refuse a quote', () => {
  const dir = tempDir('apparmor-odd');
  const store = makeStore(path.join(dir, 'store'), 1400);
  const odd = [`${'c'.repeat(32)}-odd + = ? . _ - , : and spaces`, `${'d'.repeat(32)}-glob*[x]{y}`];
  for (const name of odd) fs.mkdirSync(path.join(store.dir, name));
  const program = addBusybox(store.dir);
  const closure = closureFile(dir, [...store.names, ...odd, path.basename(path.dirname(path.dirname(program)))]);
  const data = path.join(dir, 'my data [1]');
  fs.mkdirSync(data);
  const result = run(['apparmor', '--store', store.dir, '--closure-file', closure, '--ro-bind', `${data}:/data dir [ro]`, '--bind', `${data}:/work {rw}`, '--', program]);
  assert.is(result.status, 0, result.stderr);
  const rules = result.stdout.split('\n').filter(line => line.endsWith('" mrix,'));
  assert.is(rules.length, 1403);
  assert.is(result.stderr, '');
  assert.ok(rules.includes(`  "/nix/store/${'c'.repeat(32)}-odd + = \\? . _ - , : and spaces{,/**}" mrix,`));
  assert.ok(rules.includes(`  "/nix/store/${'d'.repeat(32)}-glob\\*\\[x\\]\\{y\\}{,/**}" mrix,`));
  assert.ok(result.stdout.includes('  "/data dir \\[ro\\]{,/**}" r,\n'));
  assert.ok(result.stdout.includes('  "/work \\{rw\\}{,/**}" rwlk,\n'));
  const compiled = compile(result.stdout);
  assert.is(compiled.status, 0, compiled.stderr);
  const quoted = run(['apparmor', '--store', store.dir, '--closure-file', closure, '--ro-bind', `${data}:/say "hi"`, '--', program]);
  assert.is(quoted.status, 125);
  assert.is(quoted.stdout, '');
  assert.is(quoted.stderr, 'nix-overlay-jail: an AppArmor profile cannot name "/say \\"hi\\"" exactly: refused\n');
  tally('input', 3);
});

test('should say when a closure is past what AppArmor 3.0 compiles, and the parser agrees', () => {
  const dir = tempDir('apparmor-large');
  const store = makeStore(path.join(dir, 'store'), 5000);
  const program = addBusybox(store.dir);
  const closure = closureFile(dir, [...store.names, path.basename(path.dirname(path.dirname(program)))]);
  const result = run(['apparmor', '--store', store.dir, '--closure-file', closure, '--', program]);
  assert.is(result.status, 0, result.stderr);
  assert.is(result.stderr, 'nix-overlay-jail: 5001 store paths: AppArmor 3.0\'s parser compiles profiles of up to about 1,500 (AppArmor 4\'s 32-bit automaton states take more)\n');
  const compiled = compile(result.stdout);
  // A parser that compiles it has lifted the limit: then this warning is out of date.
  assert.is(compiled.status, 1, 'the parser now compiles 5,000 paths: update the warning');
  assert.match(compiled.stderr, /Too many states \(\d+\) for type state_t/);
});

const running = suite('exec --apparmor');
when(running, missing('root', 'nix'))('should start only under a loaded, enforced profile: refused in one line where there is none', () => {
  const enforced = fs.existsSync('/sys/module/apparmor/parameters/enabled') && fs.readFileSync('/sys/module/apparmor/parameters/enabled', 'utf8').trim() === 'Y';
  const result = run(['exec', '--apparmor', 'nix-overlay-jail-test-absent', '--', `${buildFixture().app}/bin/sh`, '-c', 'echo ran']);
  assert.is(result.status, 125);
  assert.is(result.stdout, '');
  assert.is(result.stderr, enforced
    ? 'nix-overlay-jail: --apparmor nix-overlay-jail-test-absent: no profile nix-overlay-jail-test-absent is loaded (nix-overlay-jail apparmor --name nix-overlay-jail-test-absent -- COMMAND | apparmor_parser -r)\n'
    : 'nix-overlay-jail: --apparmor nix-overlay-jail-test-absent: this kernel does not enforce AppArmor\n');
  const badName = run(['exec', '--apparmor', 'a b', '--', `${buildFixture().app}/bin/sh`, '-c', 'echo ran']);
  assert.is(badName.status, 125);
  assert.match(badName.stderr, /^nix-overlay-jail: --apparmor "a b": a profile name is/);
  tally('input', 2);
});

profiles.run();
running.run();
