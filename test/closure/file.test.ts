import fs from 'node:fs';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {parseClosureFile} from '../../src/closure/file.js';
import {fixture, GLIBC, HELLO} from '../helpers/fixtures.js';

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
  const lines = Array.from({length: 1_000_000}, (_, index) => `/nix/store/${String(index).padStart(32, '0')}-p${index}`);
  assert.is(parseClosureFile(lines.join('\n'), ['/nix/store'], 'big').size, 1_000_000);
});

parse.run();
