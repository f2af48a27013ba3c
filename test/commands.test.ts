import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseGcLimits} from '../src/commands/gc.js';
import {absoluteOptions, desktopEntry, desktopExecWord} from '../src/commands/wrap.js';
import {launcherScript} from '../src/launch/launcher.js';
import {shellQuote} from '../src/launch/shell.js';
import {throwsJail} from './helpers/errors.js';

const wrap = suite('launcher script');

wrap('should quote every word so sh passes it through unchanged', () => {
  assert.is(shellQuote("it's $(here)"), `'it'\\''s $(here)'`);
  const script = launcherScript({node: '/usr/bin/node', cli: '/opt/noj/cli.js', execOptions: ['--exec-only', '--setenv=A=b c'], command: ['/nix/store/x-hello/bin/hello', '--greeting', "it's"]});
  assert.match(script, /^#!\/bin\/sh\n/);
  assert.match(script, /exec '\/usr\/bin\/node' \\\n {4}'\/opt\/noj\/cli\.js' \\\n {4}'exec' \\\n {4}'--exec-only' \\\n {4}'--setenv=A=b c' \\\n {4}'--' \\\n/);
  assert.match(script, /'it'\\''s' \\\n {4}"\$@"\n\}\nnoj_full "\$@"\n$/);
  const planned = launcherScript({node: '/n', cli: '/c', execOptions: [], command: ['/nix/store/x-hello/bin/hello', 'hi'], plan: {dir: "/c/plans/k'k", owned: ['/c', '/c/plans'], ancestors: ['/'], tools: {stat: '/bin/stat', env: '/bin/env', setsid: '/bin/setsid', rm: '/bin/rm', bash: '/bin/ba sh'}}});
  assert.match(planned, /exec '\/n' \\\n {4}'\/c' \\\n {4}'exec' \\\n {4}'--launch-plan=\/c\/plans\/k'\\''k' \\\n {4}'--launch-words=2' \\\n/);
  assert.match(planned, /^noj_dir='\/c\/plans\/k'\\''k'$/m);
  assert.match(planned, /^ {2}exec '\/bin\/stat' -c '%u %f %d %i %\.9Y %\.9Z %t %T' -- "\$noj_dir" "\$noj_dir\/plan" '\/c' '\/c\/plans' '\/' \$\{noj_tty:\+"\$noj_tty"\} "\$@"$/m);
  assert.match(planned, /^noj_setsid='\/bin\/setsid'$/m);
  assert.match(planned, /^noj_bash='\/bin\/ba sh'$/m);
});

wrap('should refuse a NUL byte', () => {
  assert.throws(() => launcherScript({node: '/n', cli: '/c', execOptions: [], command: ['a\0b']}), /NUL/);
});

wrap('should make every host path in the options absolute, and refuse standard input', () => {
  assert.equal(absoluteOptions([
    '--cache-dir=cache', '--store=../store', '--closure-file=c.txt', '--graph=/abs/g.json', '--also=./x',
    '--bind=data:/data', '--ro-bind=ro', '--ro-bind=/already:/there', '--chdir=rel', '--setenv=A=b', '--exec-only', '--home=state', '--profile=p.json', '--net',
  ], '/home/u/work'), [
    '--cache-dir=/home/u/work/cache', '--store=/home/u/store', '--closure-file=/home/u/work/c.txt', '--graph=/abs/g.json', '--also=/home/u/work/x',
    '--bind=/home/u/work/data:/data', '--ro-bind=/home/u/work/ro:/ro', '--ro-bind=/already:/there', '--chdir=rel', '--setenv=A=b', '--exec-only', '--home=/home/u/work/state', '--profile=/home/u/work/p.json', '--net',
  ]);
  assert.throws(() => absoluteOptions(['--closure-file=-'], '/'), /--closure-file - reads standard input/);
  assert.throws(() => absoluteOptions(['--graph=-'], '/'), /--graph - reads standard input/);
  // A shipped profile is a name the binary resolves, wherever it is installed; ./ci is a file.
  assert.equal(absoluteOptions(['--profile=ci', '--profile=agent', '--profile=./ci', '--profile=cia'], '/w'), ['--profile=ci', '--profile=agent', '--profile=/w/ci', '--profile=/w/cia']);
});

wrap.run();

// ---

const limits = suite('gc limits');

limits('should read ages and sizes with units', () => {
  assert.equal(parseGcLimits('30d', undefined), {maxAgeMs: 30 * 86_400_000, maxSizeBytes: undefined});
  assert.equal(parseGcLimits('0', '500M'), {maxAgeMs: 0, maxSizeBytes: 500 * 1024 ** 2});
  assert.equal(parseGcLimits('12h', '2G').maxSizeBytes, 2 * 1024 ** 3);
  assert.equal(parseGcLimits('90s', '1024').maxAgeMs, 90_000);
});

limits('should refuse what is not an age or a size', () => {
  assert.throws(() => parseGcLimits('soon', undefined), /--max-age must be a duration/);
  assert.throws(() => parseGcLimits('1d', 'big'), /--max-size must be a size/);
});

limits.run();

// ---

const entries = suite('desktop entries');

entries('should run the launcher, quoted as the Desktop Entry Specification asks', () => {
  assert.is(desktopExecWord('/home/u/bin/firefox'), '/home/u/bin/firefox');
  assert.is(desktopExecWord('/home/u/my apps/fire fox'), '"/home/u/my apps/fire fox"');
  assert.is(desktopExecWord('/a/$HOME`x`"q"'), '"/a/\\\\$HOME\\\\`x\\\\`\\\\"q\\\\""');
  assert.is(desktopExecWord('/a\\b'), '"/a\\\\\\\\b"');
  assert.is(desktopExecWord('/a/100%'), '/a/100%%');
  assert.is(desktopExecWord(''), '""');
  throwsJail(() => desktopExecWord('/a\nb'), 'usage', 'control character');
});

entries('should name the program and say it is jailed', () => {
  assert.is(desktopEntry('Fire fox', '/home/u/bin/ff'), [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Fire fox',
    'Comment=Fire fox, jailed by nix-overlay-jail: its /nix/store holds only its closure',
    'Exec=/home/u/bin/ff',
    'TryExec=/home/u/bin/ff',
    'Terminal=false',
    '',
  ].join('\n'));
  for (const name of ['', ' ', 'a\nb']) throwsJail(() => desktopEntry(name, '/x'), 'usage', 'desktop entry');
  const slashed = desktopEntry('A\\B', '/x\\y').split('\n');
  assert.equal([slashed[2], slashed[5]], ['Name=A\\\\B', 'TryExec=/x\\\\y'], 'a backslash is written as two in a string value');
});

entries.run();
