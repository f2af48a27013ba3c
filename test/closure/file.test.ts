import fs from 'node:fs';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseClosureFile, readClosureFile} from '../../src/closure/file.js';
import {throwsJail} from '../helpers/errors.js';
import {fixture, GLIBC, HELLO} from '../helpers/fixtures.js';
import {scaled} from '../helpers/tally.js';

const parse = suite('parseClosureFile');
const read = (name: string): string => fs.readFileSync(fixture('closures', name), 'utf8');

parse('should read one store path per line into entry names', () => {
  assert.equal([...parseClosureFile(read('hello.txt'), ['/nix/store'], 'hello.txt')].sort(), [HELLO, GLIBC]);
});

parse('should tolerate CRLF line ends, blank lines and duplicates', () => {
  assert.equal([...parseClosureFile(read('hello-crlf.txt'), ['/nix/store'], 'f')].sort(), [HELLO, GLIBC]);
});

parse('should accept entries named under the host store directory', () => {
  const text = `/srv/store/${HELLO}\n/nix/store/${GLIBC}\n`;
  assert.equal([...parseClosureFile(text, ['/nix/store', '/srv/store'], 'f')].sort(), [HELLO, GLIBC]);
});

parse('should refuse a relative path, naming the line', () => {
  assert.throws(() => parseClosureFile(read('relative.txt'), ['/nix/store'], 'relative.txt'), /^relative\.txt:2: not an absolute store path/);
});

parse('should refuse .. and paths outside the store', () => {
  assert.throws(() => parseClosureFile(read('dotdot.txt'), ['/nix/store'], 'dotdot.txt'), /dotdot\.txt:2: '\.\.' is not allowed/);
  assert.throws(() => parseClosureFile(read('outside.txt'), ['/nix/store'], 'outside.txt'), /outside\.txt:2: not in the store/);
});

parse('should read an empty file as an empty closure', () => {
  assert.is(parseClosureFile('', ['/nix/store'], 'f').size, 0);
});

parse('should handle a million lines', () => {
  const count = scaled(1_000_000, 100_000);
  const lines = Array.from({length: count}, (_, index) => `/nix/store/${String(index).padStart(32, '0')}-p${index}`);
  assert.is(parseClosureFile(lines.join('\n'), ['/nix/store'], 'big').size, count);
});

parse.run();

// ---

const more = suite('closure files, each refusal');

more('should skip lines of blanks only, and name the store prefixes of a path outside them', () => {
  assert.equal([...parseClosureFile(` \t \n/nix/store/${HELLO}\n  \r\n`, ['/nix/store'], 'f')], [HELLO]);
  throwsJail(() => parseClosureFile(`/nix/store/${HELLO}\n/srv/x/${GLIBC}\n`, ['/nix/store', '/srv/store'], 'list.txt'), 'bad-closure',
    `list.txt:2: not in the store (/nix/store or /srv/store): "/srv/x/${GLIBC}"`);
  throwsJail(() => parseClosureFile('/nix/store/../etc\n', ['/nix/store'], 'list.txt'), 'bad-closure', `list.txt:1: '..' is not allowed in a store path: "/nix/store/../etc"`);
  throwsJail(() => parseClosureFile('relative/x\n', ['/nix/store'], 'list.txt'), 'bad-closure', 'list.txt:1: not an absolute store path: "relative/x"');
});

more('should read a closure file, and name one it cannot read', () => {
  assert.is(typeof readClosureFile(fixture('closures', 'hello.txt')), 'string');
  assert.match(readClosureFile(fixture('closures', 'hello.txt')), HELLO);
  throwsJail(() => readClosureFile(fixture('closures', 'absent.txt')), 'bad-closure', /^cannot read closure file .*absent\.txt: no such file or directory \(ENOENT\)$/);
});

more.run();
