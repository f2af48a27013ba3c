/**
 * Properties of the pure core, for any input fast-check can think of: parsers take back what
 * was written, the planner hides exactly the complement of the closure, escaping round-trips.
 */
import fc from 'fast-check';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {splitArgv} from '../src/argv.js';
import {closureOfGraph, parseGraph} from '../src/closure/graph.js';
import {parseClosureFile} from '../src/closure/file.js';
import {shellQuote} from '../src/launch/shell.js';
import {planEntry} from '../src/mask/plan.js';
import {escapeLayer} from '../src/mount/options.js';
import {checkedEntryOfListedPath, isValidEntryName} from '../src/store.js';
import {propertyRuns, tally} from './helpers/tally.js';

const hashChar = fc.constantFrom(...'0123456789abcdfghijklmnpqrsvwxyz');
const entryName = fc.tuple(fc.string({unit: hashChar, minLength: 32, maxLength: 32}), fc.stringMatching(/^[A-Za-z0-9+\-._?=]{1,20}$/))
  .map(([hash, name]) => `${hash}-${name}`);
const anyName = fc.string({minLength: 1, maxLength: 30}).filter(isValidEntryName);

const properties = suite('properties of the pure core');

/** fc.assert, counting the cases it generated for the security figures. */
const check = <T>(property: fc.IProperty<T>, runs = 100): void => {
  const numRuns = propertyRuns(runs);
  fc.assert(property, {numRuns});
  tally('property', numRuns);
};

properties('the plan hides exactly the complement of the closure, and each entry once, for any listing', () => {
  check(fc.property(fc.uniqueArray(anyName, {maxLength: 60}), fc.func(fc.boolean()), fc.func(fc.boolean()), (listing, inClosure, hiddenBefore) => {
    const closure = new Set(listing.filter(name => inClosure(name)));
    const hidden = new Set(listing.filter(name => !closure.has(name) && hiddenBefore(name)));
    for (const name of listing) {
      assert.is(planEntry(name, closure, new Set()), closure.has(name) ? 'show' : 'hide');
      assert.is(planEntry(name, closure, hidden), closure.has(name) ? 'show' : hidden.has(name) ? 'hidden' : 'hide');
    }
  }));
});

properties('a closure file reads back the entries it was written from, whatever the line ends', () => {
  check(fc.property(fc.uniqueArray(entryName, {maxLength: 40}), fc.constantFrom('\n', '\r\n'), fc.boolean(), (names, end, duplicate) => {
    const lines = names.map(name => `/nix/store/${name}`);
    const text = [...lines, ...(duplicate ? lines : []), ''].join(end);
    assert.equal([...parseClosureFile(text, ['/nix/store'], 'f')].sort(), [...names].sort());
  }));
});

properties('a graph\'s closure holds every root and is closed under references, cycles or not', () => {
  check(fc.property(fc.uniqueArray(entryName, {minLength: 1, maxLength: 25}), fc.array(fc.tuple(fc.nat(), fc.nat()), {maxLength: 60}), fc.nat(),
    (names, edges, rootIndex) => {
      const references = new Map(names.map(name => [name, [] as string[]]));
      for (const [from, to] of edges) references.get(names[from % names.length]!)!.push(`/nix/store/${names[to % names.length]}`);
      const json = JSON.stringify(names.map(name => ({path: `/nix/store/${name}`, references: references.get(name)})));
      const graph = parseGraph(json, ['/nix/store'], 'g');
      const root = names[rootIndex % names.length]!;
      const closure = closureOfGraph(graph, [root], 'g');
      assert.ok(closure.has(root));
      for (const name of closure) for (const reference of graph.get(name)!) assert.ok(closure.has(reference));
    }));
});

properties('escaped layer paths split back into the same directories', () => {
  const unescapeLayers = (text: string): string[] => {
    const layers: string[] = [''];
    for (let index = 0; index < text.length; index++) {
      const char = text[index]!;
      if (char === '\\') layers[layers.length - 1] += text[++index] ?? '';
      else if (char === ':') layers.push('');
      else layers[layers.length - 1] += char;
    }
    return layers;
  };
  check(fc.property(fc.array(fc.string({minLength: 1}).filter(dir => !/["\n\0]/.test(dir)), {minLength: 2, maxLength: 4}), dirs => {
    const joined = dirs.map(escapeLayer).join(':');
    assert.not.match(joined.replace(/\\./g, ''), /,/, 'no bare comma survives');
    assert.equal(unescapeLayers(joined), dirs);
  }));
});

properties('a shell-quoted word is read back by sh unchanged', () => {
  // Quoting is pure; reading it back needs a shell, so check the quoting rule itself.
  check(fc.property(fc.string({unit: 'binary'}).filter(word => !word.includes('\0')), word => {
    const quoted = shellQuote(word);
    assert.ok(quoted.startsWith("'") && quoted.endsWith("'"));
    assert.is(quoted.slice(1, -1).split(`'\\''`).join("'"), word);
  }));
});

properties('the argument splitter never takes an operand for an option after --', () => {
  check(fc.property(fc.array(fc.string(), {maxLength: 8}), rest => {
    assert.equal(splitArgv(['--', ...rest], [{name: 'json', takesValue: false}], true), {options: [], operands: rest});
  }));
});

properties('a closure file line reads the same through the fast path as through the checked one', () => {
  const prefixes = ['/nix/store', '/srv/a store'];
  const outcome = (read: () => string[]): string => {
    try {
      return JSON.stringify(read());
    } catch (error) {
      return `error: ${(error as Error).message}`;
    }
  };
  const line = fc.oneof(
    fc.string(),
    entryName.map(name => `/nix/store/${name}`),
    fc.tuple(fc.constantFrom(...prefixes, '/nix/store/', '/nix/storex', '/nix'), fc.string({unit: fc.constantFrom('a', '.', '/', '\r', '\0', ' ', '-')})).map(([prefix, rest]) => `${prefix}/${rest}`),
  ).filter(text => !text.includes('\n'));
  check(fc.property(line, text => {
    const checked = (): string[] => {
      const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
      return trimmed.trim() === '' ? [] : [checkedEntryOfListedPath(trimmed, prefixes, 'f', 1)];
    };
    assert.is(outcome(() => [...parseClosureFile(text, prefixes, 'f')]), outcome(checked), JSON.stringify(text));
  }), 2000);
});

properties.run();
