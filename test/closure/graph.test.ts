import fs from 'node:fs';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {closureOfGraph, parseGraph, readGraph} from '../../src/closure/graph.js';
import {BASH, fixture, GLIBC, HELLO} from '../helpers/fixtures.js';
import {throwsJail} from '../helpers/errors.js';
import {scaled} from '../helpers/tally.js';

const graphs = suite('closure graphs');
const load = (name: string) => parseGraph(fs.readFileSync(fixture('graphs', name), 'utf8'), ['/nix/store'], name);

graphs('should read the older array form and the newer object form alike', () => {
  assert.equal(load('hello-array.json'), load('hello-object.json'));
});

graphs('should compute the closure of a root from the references', () => {
  assert.equal([...closureOfGraph(load('hello-array.json'), [HELLO], 'g')].sort(), [HELLO, GLIBC].sort());
  assert.equal([...closureOfGraph(load('hello-object.json'), [BASH], 'g')].sort(), [BASH, GLIBC].sort());
});

graphs('should take the whole graph when no root is given', () => {
  assert.equal([...closureOfGraph(load('hello-array.json'), undefined, 'g')].sort(), [HELLO, GLIBC, BASH].sort());
});

graphs('should follow cycles without looping', () => {
  assert.equal([...closureOfGraph(load('cyclic.json'), [HELLO], 'g')].sort(), [HELLO, GLIBC].sort());
});

graphs('should follow a deep chain without recursion', () => {
  const depth = scaled(200_000, 20_000); // deeper than any call stack
  const name = (index: number) => `/nix/store/${String(index).padStart(32, '0')}-n`;
  const document = Object.fromEntries(Array.from({length: depth}, (_, index) => [name(index), {references: index + 1 < depth ? [name(index + 1)] : []}]));
  const graph = parseGraph(JSON.stringify(document), ['/nix/store'], 'deep');
  assert.is(closureOfGraph(graph, [`${String(0).padStart(32, '0')}-n`], 'deep').size, depth);
});

graphs('should refuse a reference the graph does not describe', () => {
  assert.throws(() => closureOfGraph(load('dangling.json'), [HELLO], 'dangling.json'), /is referenced but not described/);
});

graphs('should refuse malformed JSON, wrong shapes and paths outside the store', () => {
  assert.throws(() => load('malformed.json'), /malformed\.json: not valid JSON/);
  assert.throws(() => load('outside.json'), /not in the store/);
  assert.throws(() => parseGraph('42', ['/nix/store'], 'n'), /expected the JSON of 'nix path-info/);
  assert.throws(() => parseGraph('[{"references": []}]', ['/nix/store'], 'n'), /expected an object with a "path" string/);
  assert.throws(() => parseGraph(`{"/nix/store/${HELLO}": {"references": "x"}}`, ['/nix/store'], 'n'), /"references" must be a list/);
  assert.throws(() => parseGraph(`{"/nix/store/${HELLO}": null}`, ['/nix/store'], 'n'), /not a valid store path/);
});

graphs.run();

// ---

const refusals = suite('graph refusals, each named');

refusals('should say which entry is wrong, and why, in either form', () => {
  throwsJail(() => parseGraph('[{"references": []}]', ['/nix/store'], 'g.json'), 'bad-closure', 'g.json: entry 0: expected an object with a "path" string');
  throwsJail(() => parseGraph(`[{"path": "/nix/store/${HELLO}", "references": []}, 7]`, ['/nix/store'], 'g.json'), 'bad-closure', 'g.json: entry 1: expected an object with a "path" string');
  throwsJail(() => parseGraph('[null]', ['/nix/store'], 'g.json'), 'bad-closure', 'g.json: entry 0: expected an object with a "path" string');
  throwsJail(() => parseGraph(`{"/nix/store/${HELLO}": {"references": [1]}}`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: /nix/store/${HELLO}: "references" must be a list of store paths`);
  throwsJail(() => parseGraph(`[{"path": "/nix/store/${HELLO}", "valid": false}]`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: entry 0: /nix/store/${HELLO} is not a valid store path`);
  throwsJail(() => parseGraph(`{"/nix/store/${HELLO}": null}`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: /nix/store/${HELLO}: not a valid store path`);
  throwsJail(() => parseGraph(`{"/nix/store/${HELLO}": 3}`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: /nix/store/${HELLO}: expected an object`);
  throwsJail(() => parseGraph(`{"/nix/store/${HELLO}": ["x"]}`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: /nix/store/${HELLO}: expected an object`);
  throwsJail(() => parseGraph(`{"/nix/store/${HELLO}": {"references": "x"}}`, ['/nix/store'], 'g.json'), 'bad-closure', `g.json: /nix/store/${HELLO}: "references" must be a list of store paths`);
  throwsJail(() => parseGraph('{', ['/nix/store'], 'g.json'), 'bad-closure', /^g\.json: not valid JSON: /);
  throwsJail(() => parseGraph('"text"', ['/nix/store'], 'g.json'), 'bad-closure', "g.json: expected the JSON of 'nix path-info --json --recursive' (an array or an object)");
  throwsJail(() => closureOfGraph(parseGraph(`{"/nix/store/${HELLO}": {"references": ["/nix/store/${GLIBC}"]}}`, ['/nix/store'], 'g'), undefined, 'g.json'), 'bad-closure',
    `g.json: ${GLIBC} is referenced but not described (is it the output of 'nix path-info --json --recursive'?)`);
});

refusals('should take an entry without references as a leaf, and valid: true as valid', () => {
  const graph = parseGraph(`[{"path": "/nix/store/${HELLO}", "valid": true}]`, ['/nix/store'], 'g');
  assert.equal([...graph.get(HELLO)!], []);
  assert.equal([...closureOfGraph(graph, [HELLO], 'g')], [HELLO]);
});

refusals('should read a graph file, and name one it cannot read', () => {
  assert.is(typeof readGraph(fixture('graphs', 'hello-array.json')), 'string');
  assert.match(readGraph(fixture('graphs', 'hello-array.json')), HELLO);
  throwsJail(() => readGraph(fixture('graphs', 'absent.json')), 'bad-closure', /^cannot read graph .*absent\.json: no such file or directory \(ENOENT\)$/);
});

refusals.run();
