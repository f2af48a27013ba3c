import fs from 'node:fs';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {entriesToHide, missingFromListing, planEntry} from '../../src/mask/plan.js';
import {fixture, GLIBC, GLIBC_LINK, HELLO} from '../helpers/fixtures.js';

const plan = suite('mask plan');
const listing = fs.readdirSync(fixture('stores', 'small')).sort();

plan('should hide exactly the entries outside the closure, dot entries and locks included', () => {
  const hidden = [...entriesToHide(listing, new Set([HELLO, GLIBC]))].sort();
  assert.equal(hidden, listing.filter(name => name !== HELLO && name !== GLIBC));
  assert.ok(hidden.includes('.links'));
  assert.ok(hidden.some(name => name.endsWith('.lock')));
});

plan('should decide each entry once: show, hide, or already hidden', () => {
  const closure = new Set([HELLO]);
  const hidden = new Set([GLIBC]);
  assert.is(planEntry(HELLO, closure, hidden), 'show');
  assert.is(planEntry(GLIBC, closure, hidden), 'hidden');
  assert.is(planEntry(GLIBC_LINK, closure, hidden), 'hide');
});

plan('should show the closure and hide the complement for random listings', () => {
  for (let round = 0; round < 200; round++) {
    const names = Array.from({length: 1 + Math.floor(Math.random() * 50)}, (_, index) => `n${index}-${Math.random().toString(36).slice(2, 6)}`);
    const closure = new Set(names.filter(() => Math.random() < 0.3));
    const hidden = new Set(entriesToHide(names, closure));
    for (const name of names) assert.is(hidden.has(name), !closure.has(name), name);
  }
});

plan('should report closure entries missing from the listing', () => {
  assert.equal(missingFromListing(listing, new Set([HELLO, 'zzz-gone'])), ['zzz-gone']);
  assert.equal(missingFromListing(listing, new Set([HELLO])), []);
});

plan.run();
