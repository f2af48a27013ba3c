import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseFlags, splitArgv, type OptionSpec} from '../src/argv.js';
import {throwsJail} from './helpers/errors.js';

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

// ---

const each = suite('splitArgv and parseFlags, each branch');

const withShort: OptionSpec[] = [...specs, {name: 'help', takesValue: false, short: 'h'}];

each('should know short options by their letter, and only those that have one', () => {
  assert.equal(splitArgv(['-h', 'x'], withShort, false), {options: ['-h'], operands: ['x']});
  throwsJail(() => splitArgv(['-j'], withShort, false), 'usage', 'unknown option -j (see --help)');
  throwsJail(() => splitArgv(['-x'], specs, false), 'usage', 'unknown option -x (see --help)');
});

each('should take - as an operand (standard input), and as a value', () => {
  assert.equal(splitArgv(['-', '--json'], specs, false), {options: ['--json'], operands: ['-']});
  assert.equal(splitArgv(['-', '--json'], specs, true), {options: [], operands: ['-', '--json']});
  assert.equal(splitArgv(['--also', '-'], specs, false).options, ['--also=-']);
});

each('should say which option is wrong, and how', () => {
  throwsJail(() => splitArgv(['--json=yes'], specs, false), 'usage', 'option --json takes no value');
  throwsJail(() => splitArgv(['--also'], specs, false), 'usage', 'option --also needs a value');
  throwsJail(() => splitArgv(['--also', '-x'], specs, false), 'usage', 'option --also needs a value, got "-x" (write --also=-x if you mean it)');
  throwsJail(() => splitArgv(['--no-json=1'], specs, false), 'usage', 'option --json takes no value');
  throwsJail(() => splitArgv(['--xy-json'], specs, false), 'usage', 'unknown option --xy-json (see --help)');
});

each('should negate a switch with --no-, keep a real --no- name, and check choices', () => {
  const spec = {json: {type: 'boolean', default: true}, noCache: {type: 'boolean', default: false}, mode: {type: 'string', default: 'auto', choices: ['auto', 'whiteout']}} as const;
  assert.equal(parseFlags(['--no-json'], spec), {json: false, noCache: false, mode: 'auto'});
  assert.equal(parseFlags(['--no-cache'], spec), {json: true, noCache: true, mode: 'auto'});
  assert.equal(parseFlags(['--json', '--mode=whiteout'], spec), {json: true, noCache: false, mode: 'whiteout'});
  assert.equal(parseFlags(['--help', '--version'], spec), {json: true, noCache: false, mode: 'auto'}, 'help and version are left to meow');
  assert.equal(parseFlags(['--xy-json', '--no-mode=whiteout'], spec), {json: true, noCache: false, mode: 'auto'}, 'only --no- negates, and only a switch');
  throwsJail(() => parseFlags(['--mode=fast'], spec), 'usage', '--mode must be one of auto, whiteout, got "fast"');
});

each.run();
