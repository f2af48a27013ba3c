import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {JailError} from '../src/errors.js';
import {checkedEntryOfListedPath, entryOfListedPath, entryOfPath, isValidEntryName, pathBelowEntry, storePrefixes} from '../src/store.js';
import {throwsJail} from './helpers/errors.js';

const entryOf = suite('entryOfPath');

entryOf('should reduce a path inside a store entry to the entry', () => {
  assert.is(entryOfPath('/nix/store/abc-hello/bin/hello', ['/nix/store']), 'abc-hello');
  assert.is(entryOfPath('/nix/store/abc-hello', ['/nix/store']), 'abc-hello');
  assert.is(entryOfPath('/nix//store/./abc-hello/', ['/nix/store']), 'abc-hello');
});

entryOf('should not take the store itself or a path beside it for an entry', () => {
  assert.is(entryOfPath('/nix/store', ['/nix/store']), undefined);
  assert.is(entryOfPath('/nix/store2/abc', ['/nix/store']), undefined);
  assert.is(entryOfPath('/nix', ['/nix/store']), undefined);
  assert.is(entryOfPath('nix/store/abc', ['/nix/store']), undefined);
});

entryOf('should refuse .. rather than resolve it', () => {
  assert.is(entryOfPath('/nix/store/../etc/passwd', ['/nix/store']), undefined);
  assert.is(entryOfPath('/nix/store/abc/../../etc', ['/nix/store']), undefined);
});

entryOf('should match under either prefix when the store lives elsewhere', () => {
  const prefixes = storePrefixes('/srv/store');
  assert.equal(prefixes, ['/nix/store', '/srv/store']);
  assert.is(entryOfPath('/srv/store/abc-x/bin', prefixes), 'abc-x');
  assert.is(entryOfPath('/nix/store/abc-x/bin', prefixes), 'abc-x');
  assert.is(pathBelowEntry('/srv/store/abc-x/bin/y', prefixes), 'bin/y');
  assert.is(pathBelowEntry('/nix/store/./abc-x/./bin//y', ['/nix/store']), 'bin/y');
  assert.is(pathBelowEntry('/nix/store/abc-x', ['/nix/store']), '');
  assert.is(pathBelowEntry('/nix/store', ['/nix/store']), '');
  assert.is(pathBelowEntry('/nix/storex/abc-x/bin', ['/nix/store']), '');
  assert.is(pathBelowEntry('/other/abc-x/bin', ['/nix/store']), '');
  assert.equal(storePrefixes('/nix/store'), ['/nix/store']);
});

entryOf.run();

// ---

const names = suite('isValidEntryName');

names('should accept every character a store or a plain directory may hold', () => {
  for (const name of ['abc-hello+1=2?._-', '.links', 'a b,c:d', 'x.lock']) assert.ok(isValidEntryName(name), name);
});

names('should refuse what no directory entry or closure line can be', () => {
  for (const name of ['', '.', '..', 'a/b', 'a\nb', 'a\0b', 'a\rb']) assert.not.ok(isValidEntryName(name), JSON.stringify(name));
});

names.run();

// ---

const listed = suite('entryOfListedPath');

listed('should name the source and line of a bad path', () => {
  try {
    entryOfListedPath('relative/path', ['/nix/store'], 'file.txt:3');
    assert.unreachable('should have thrown');
  } catch (error) {
    assert.instance(error, JailError);
    assert.match((error as Error).message, /^file\.txt:3: not an absolute store path/);
  }
});

listed('should accept a bare hashed name, as newer nix path-info writes references', () => {
  assert.is(entryOfListedPath('1b9p07z77phvv2hf6gm9f28syp39f1ag-hello', ['/nix/store'], 'g'), '1b9p07z77phvv2hf6gm9f28syp39f1ag-hello');
});

listed('should refuse paths outside the store and paths with ..', () => {
  assert.throws(() => entryOfListedPath('/usr/lib/x', ['/nix/store'], 'f'), /not in the store/);
  assert.throws(() => entryOfListedPath('/nix/store/../etc', ['/nix/store'], 'f'), /'\.\.' is not allowed/);
});

listed.run();

// ---

const bare = suite('checkedEntryOfListedPath');

bare('should take a bare entry name only as newer nix path-info spells references: hash, dash, name', () => {
  const hash = '0'.repeat(32);
  assert.is(checkedEntryOfListedPath(`${hash}-hello`, ['/nix/store'], 'g'), `${hash}-hello`);
  for (const bad of ['hello', `${hash}-x/y`, `x-${hash}-hello`, `${'0'.repeat(31)}-short`, `${hash}-two\nlines`, `${hash}-nul\0`]) {
    throwsJail(() => checkedEntryOfListedPath(bad, ['/nix/store'], 'g'), 'bad-closure', `g: not an absolute store path: ${JSON.stringify(bad)}`);
  }
});

bare.run();
