import {test} from 'uvu';
import * as assert from 'uvu/assert';
import {JailError} from '../../src/errors.js';
import {aboveHardLimit, hardLimits, parseLimit, parseLimits, prlimitWords} from '../../src/jail/limits.js';

const PROC_LIMITS = `Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max file size             unlimited            unlimited            bytes     
Max core file size        0                    unlimited            bytes     
Max processes             95704                95704                processes 
Max open files            1024                 524288               files     
Max address space         unlimited            unlimited            bytes     
`;

test('parseLimit: names, sizes in powers of 1024, counts and seconds', () => {
  assert.equal(parseLimit('nofile=16'), {name: 'nofile', value: 16});
  assert.equal(parseLimit('as=512M'), {name: 'as', value: 512 * 1024 ** 2});
  assert.equal(parseLimit('fsize=2G'), {name: 'fsize', value: 2 * 1024 ** 3});
  assert.equal(parseLimit('fsize=3K'), {name: 'fsize', value: 3072});
  assert.equal(parseLimit('core=0'), {name: 'core', value: 0});
  assert.equal(parseLimit('cpu=30'), {name: 'cpu', value: 30});
  assert.equal(parseLimit('nproc=1'), {name: 'nproc', value: 1});
});

test('parseLimit: anything else is one line', () => {
  const refused: Array<[string, RegExp]> = [
    ['nofile', /--limit needs NAME=VALUE with NAME one of as, nofile, nproc, cpu, fsize, core, got "nofile"/],
    ['stack=1M', /NAME one of/],
    ['=1', /NAME one of/],
    ['nofile=0', /--limit nofile must be a number, at least 1, got "0"/],
    ['nproc=0', /at least 1/],
    ['cpu=0', /--limit cpu must be a number of seconds, at least 1/],
    ['nofile=16K', /--limit nofile must be a number/],
    ['as=1T', /--limit as must be a size such as 512M or 2G, at least 1, got "1T"/],
    ['core=', /--limit core must be a size such as 512M or 2G, got ""/],
    ['fsize=-1', /must be a size/],
    ['nofile=1.5', /must be a number/],
    ['as=99999999999G', /must be a size/],
  ];
  for (const [text, message] of refused) {
    assert.throws(() => parseLimit(text), (error: unknown) => error instanceof JailError && error.kind === 'usage' && message.test(error.message), text);
  }
});

test('parseLimits: the last of each name wins, in a fixed order', () => {
  assert.equal(parseLimits(['core=1', 'nofile=8', 'as=1K', 'nofile=16']), [{name: 'as', value: 1024}, {name: 'nofile', value: 16}, {name: 'core', value: 1}]);
  assert.equal(parseLimits([]), []);
});

test('hardLimits and aboveHardLimit: against /proc/self/limits', () => {
  const hard = hardLimits(PROC_LIMITS);
  assert.is(hard.get('Max open files'), 524288);
  assert.is(hard.get('Max core file size'), undefined);
  assert.is(hard.get('Max processes'), 95704);
  assert.not.ok(hard.has('Limit'));
  assert.is(aboveHardLimit([{name: 'nofile', value: 524288}, {name: 'core', value: 2 ** 40}], PROC_LIMITS), undefined);
  assert.is(aboveHardLimit([{name: 'cpu', value: 5}, {name: 'nofile', value: 524289}], PROC_LIMITS),
    '--limit nofile=524289 is above your hard limit of 524288 (open files): it cannot be raised');
  assert.match(aboveHardLimit([{name: 'nproc', value: 95705}], PROC_LIMITS)!, /hard limit of 95704 \(processes of the user\)/);
});

test('prlimitWords: soft and hard alike, before bubblewrap; nothing for no limits', () => {
  assert.equal(prlimitWords([]), []);
  assert.equal(prlimitWords([{name: 'as', value: 1024}, {name: 'nofile', value: 16}]), ['prlimit', '--as=1024:1024', '--nofile=16:16', '--']);
});

test('every limit: its prlimit option, its row of /proc/self/limits and its words', () => {
  // Every row at 100, as the kernel writes them (units after the hard limit).
  const rows = {
    as: ['Max address space', 'bytes', 'address space'],
    nofile: ['Max open files', 'files', 'open files'],
    nproc: ['Max processes', 'processes', 'processes of the user'],
    cpu: ['Max cpu time', 'seconds', 'CPU seconds'],
    fsize: ['Max file size', 'bytes', 'file size'],
    core: ['Max core file size', 'bytes', 'core file size'],
  } as const;
  const text = Object.values(rows).map(([row, unit]) => `${row.padEnd(26)}${'100'.padEnd(21)}${'100'.padEnd(21)}${unit}`).join('\n');
  for (const [name, [, , what]] of Object.entries(rows)) {
    assert.equal(prlimitWords([{name, value: 7}]), ['prlimit', `--${name}=7:7`, '--'], name);
    assert.is(aboveHardLimit([{name, value: 100}], text), undefined, name);
    assert.is(aboveHardLimit([{name, value: 101}], text), `--limit ${name}=101 is above your hard limit of 100 (${what}): it cannot be raised`, name);
  }
});

test('parseLimit: sizes for as, fsize and core only; counts and seconds are plain numbers', () => {
  for (const name of ['as', 'fsize', 'core']) assert.equal(parseLimit(`${name}=1K`), {name, value: 1024});
  for (const name of ['nofile', 'nproc']) {
    assert.throws(() => parseLimit(`${name}=1K`), (error: unknown) => error instanceof JailError && error.message === `--limit ${name} must be a number, at least 1, got "1K"`, name);
  }
  assert.throws(() => parseLimit('cpu=1K'), (error: unknown) => error instanceof JailError && error.message === '--limit cpu must be a number of seconds, at least 1, got "1K"');
  assert.throws(() => parseLimit('fsize=x'), (error: unknown) => error instanceof JailError && error.message === '--limit fsize must be a size such as 512M or 2G, got "x"');
  assert.throws(() => parseLimit('nofile=16=2'), /must be a number/);
  assert.throws(() => parseLimit('x=1=nofile'), /NAME one of/);
  // No '=' at all: the whole word is no NAME=VALUE, even where it begins with a name.
  assert.throws(() => parseLimit('nofilex'), (error: unknown) => error instanceof JailError && /^--limit needs NAME=VALUE/.test(error.message));
  for (const text of ['nofile= 16', 'nofile=16 ', 'cpu= 5']) assert.throws(() => parseLimit(text), /must be a number/, text);
});

test.run();
