import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseFlags, splitArgv, type OptionSpec} from '../src/argv.js';

const specs: OptionSpec[] = [
  {name: 'cache-dir', takesValue: true},
  {name: 'also', takesValue: true},
  {name: 'json', takesValue: false},
  {name: 'exec-only', takesValue: false},
  {name: 'bwrap-arg', takesValue: true, passThrough: true},
];

const split = suite('splitArgv');

split('should stop at the first operand for a command to run', () => {
  assert.equal(splitArgv(['--json', 'ls', '-la', '--json'], specs, true), {options: ['--json'], operands: ['ls', '-la', '--json']});
});

split('should stop at -- and keep everything after it', () => {
  assert.equal(splitArgv(['--', '--json'], specs, true), {options: [], operands: ['--json']});
});

split('should collect operands anywhere when not running a command', () => {
  assert.equal(splitArgv(['a', '--json', 'b'], specs, false), {options: ['--json'], operands: ['a', 'b']});
});

split('should take --no- only before a switch, never before an option with a value', () => {
  assert.equal(splitArgv(['--no-json', '--no-exec-only'], specs, false).options, ['--no-json', '--no-exec-only']);
  for (const argv of [['--no-cache-dir', '/c'], ['--no-also=/x'], ['--no-bwrap-arg', '--foo']]) {
    assert.throws(() => splitArgv(argv, specs, false), new RegExp(`^unknown option ${argv[0]} \\(see --help\\)$`), argv.join(' '));
  }
});

split('should normalise values given apart or with =', () => {
  assert.equal(splitArgv(['--cache-dir', '/c', '--also=/x'], specs, false).options, ['--cache-dir=/c', '--also=/x']);
});

split('should refuse unknown options and missing values', () => {
  assert.throws(() => splitArgv(['--nope'], specs, false), /unknown option --nope/);
  assert.throws(() => splitArgv(['--cache-dir'], specs, false), /option --cache-dir needs a value/);
  assert.throws(() => splitArgv(['--json=1'], specs, false), /takes no value/);
});

split('should refuse a value that looks like an option, unless written with =', () => {
  assert.throws(() => splitArgv(['--cache-dir', '--json'], specs, false), /needs a value, got "--json"/);
  assert.equal(splitArgv(['--cache-dir=--json'], specs, false).options, ['--cache-dir=--json']);
  assert.equal(splitArgv(['--bwrap-arg', '--new-session'], specs, false).options, ['--bwrap-arg=--new-session']);
});

split.run();

// ---

const flags = suite('parseFlags');

flags('should type flags, repeat multiples and apply defaults', () => {
  const parsed = parseFlags(['--cache-dir=/c', '--also=/a', '--also=/b', '--json'], {
    cacheDir: {type: 'string'},
    also: {type: 'string', isMultiple: true},
    json: {type: 'boolean', default: false},
    execOnly: {type: 'boolean', default: false},
    store: {type: 'string', default: '/nix/store'},
  });
  assert.equal(parsed, {cacheDir: '/c', also: ['/a', '/b'], json: true, execOnly: false, store: '/nix/store'});
});

flags('should refuse a value outside the choices', () => {
  assert.throws(() => parseFlags(['--mount-with=magic'], {mountWith: {type: 'string', choices: ['auto', 'root']}}), /--mount-with must be one of auto, root/);
});

flags.run();
