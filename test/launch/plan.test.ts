import {spawnSync} from 'node:child_process';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {envMark, planText, PLAN_MAGIC, shellWords, statPattern, statTime, TERMINAL_MARK, WAY_FILE, WORDS_FILE, wordsText} from '../../src/launch/plan.js';
import {throwsJail} from '../helpers/errors.js';

const stamps = suite('stat patterns');

stamps('should print times as stat\'s %.9Y does', () => {
  assert.is(statTime('1700000000000000001'), '1700000000.000000001');
  assert.is(statTime(1_700_000_000_123_456_789n), '1700000000.123456789');
  assert.is(statTime('999'), '0.000000999');
  assert.is(statTime('5000000000'), '5.000000000');
});

stamps('should fix the fields given and leave the others open', () => {
  assert.is(statPattern({}), '* * * * * * * *');
  assert.is(statPattern({dev: 2049, ino: 12n, mtimeNs: '1000000000', ctimeNs: 3_000_000_007n}), '* * 2049 12 1.000000000 3.000000007 * *');
  assert.is(statPattern({ino: 0}), '* * * 0 * * * *', 'a zero is a value, not an absence');
});

stamps.run();

// ---

const words = suite('shell words of a template command line');

/** What sh makes of the words, with the environment and terminal given. */
const expand = (text: string, env: Record<string, string>, tty = ''): string[] => {
  const result = spawnSync('sh', ['-c', `noj_tty=${tty}; eval "set -- $1"; printf '%s\\n' "$@"`, 'sh', text], {env: {PATH: process.env['PATH'] ?? '', ...env}, encoding: 'utf8'});
  assert.is(result.status, 0, result.stderr);
  return result.stdout === '' ? [] : result.stdout.replace(/\n$/, '').split('\n');
};

words('should give back literal words byte for byte', () => {
  const literal = ['bwrap', "it's", '$HOME', '`x`', 'a b', '', '\\', '*', '"q"'];
  assert.equal(expand(shellWords(literal), {}), literal);
});

words('should bind the caller\'s terminal at /dev/tty only when there is one', () => {
  const template = ['--tmpfs', '/tmp', '--dev-bind', TERMINAL_MARK, '/dev/tty', '--clearenv'];
  assert.equal(expand(shellWords(template), {}, ''), ['--tmpfs', '/tmp', '--clearenv']);
  assert.equal(expand(shellWords(template), {}, '/dev/pts/7'), ['--tmpfs', '/tmp', '--dev-bind', '/dev/pts/7', '/dev/tty', '--clearenv']);
});

words('should keep a variable only when the caller has it, empty included, as exec does', () => {
  const template = ['--setenv', 'TERM', envMark('TERM'), '--setenv', 'PATH', '/nix/store/x/bin'];
  assert.equal(expand(shellWords(template), {}), ['--setenv', 'PATH', '/nix/store/x/bin']);
  assert.equal(expand(shellWords(template), {TERM: ''}), ['--setenv', 'TERM', '', '--setenv', 'PATH', '/nix/store/x/bin']);
  assert.equal(expand(shellWords(template), {TERM: 'xterm 256'}), ['--setenv', 'TERM', 'xterm 256', '--setenv', 'PATH', '/nix/store/x/bin']);
});

words('should leave other device binds, and --setenv words of the program, as they are', () => {
  assert.equal(expand(shellWords(['--dev-bind', '/dev/dri', '/dev/dri']), {}), ['--dev-bind', '/dev/dri', '/dev/dri']);
  assert.equal(expand(shellWords(['--', 'prog', '--setenv']), {}), ['--', 'prog', '--setenv']);
  assert.equal(expand(shellWords(['--', 'prog', '--setenv', 'A', 'b']), {A: 'x'}), ['--', 'prog', '--setenv', 'A', 'b']);
  throwsJail(() => shellWords(['--dir', 'TERM', envMark('TERM')]), 'usage', 'cannot hold the word');
});

words('should refuse what a launcher cannot carry: a stray stand-in, a NUL or newline, a variable the shell cannot name', () => {
  throwsJail(() => shellWords(['--tmpfs', TERMINAL_MARK]), 'usage', 'cannot hold the word');
  throwsJail(() => shellWords(['a\nb']), 'usage', 'cannot hold the word');
  throwsJail(() => shellWords(['--setenv', 'A-B', envMark('A-B')]), 'usage', 'cannot keep the variable "A-B"');
  throwsJail(() => shellWords(['--setenv', 'OTHER', envMark('TERM')]), 'usage', 'cannot keep the variable "TERM"');
});

words.run();

// ---

const text = suite('plan text');

const PLAN = {
  mask: '/c/masks/k',
  way: 'root' as const,
  hostname: 'host',
  checks: [{path: '/nix/store', pattern: '* * 1 2 3.000000000 * * *'}, {path: '/c/masks/k/layer', pattern: '* * * 4 * 5.000000000 * *'}],
  env: [['HOME', '/home/u'], ['XDG_CACHE_HOME', undefined], ['EMPTY', '']] as Array<[string, string | undefined]>,
  words: "'bwrap' '--'",
};

text('should list the mask, the host name, the paths and then their patterns, the variables, and end', () => {
  assert.is(planText(PLAN), [
    PLAN_MAGIC, '/c/masks/k', 'host', '2', '/nix/store', '/c/masks/k/layer', '* * 1 2 3.000000000 * * *', '* * * 4 * 5.000000000 * *',
    '3', '+HOME=/home/u', '-XDG_CACHE_HOME', '+EMPTY=', 'end', '',
  ].join('\n'));
  assert.is(wordsText("'bwrap' '--'"), `set -- 'bwrap' '--' "$@"\n`);
  // Launchers already written compare the first line (plans of version 1 have no host name,
  // and no hosts file: they send such launchers to exec) and source the words by these names.
  assert.is(PLAN_MAGIC, 'nix-overlay-jail launch plan 2');
  assert.is(WORDS_FILE, 'words');
  assert.is(WAY_FILE, 'way');
});

text('should refuse a path, a value or a name that would break its lines', () => {
  throwsJail(() => planText({...PLAN, mask: '/c/m\nx'}), 'usage', 'newline or a NUL');
  throwsJail(() => planText({...PLAN, hostname: 'a\nb'}), 'usage', 'newline or a NUL');
  throwsJail(() => planText({...PLAN, checks: [{path: '/a\0b', pattern: '*'}]}), 'usage', 'newline or a NUL');
  throwsJail(() => planText({...PLAN, env: [['HOME', 'a\nb']]}), 'usage', 'newline or a NUL');
  throwsJail(() => planText({...PLAN, env: [['BAD NAME', 'x']]}), 'usage', 'cannot check the variable');
});

text.run();
