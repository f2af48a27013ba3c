import fs from 'node:fs';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {planEntry} from '../../src/mask/plan.js';
import {fixture, GLIBC, GLIBC_LINK, HELLO} from '../helpers/fixtures.js';

const plan = suite('mask plan');
const listing = fs.readdirSync(fixture('stores', 'small')).sort();

plan('should hide exactly the entries outside the closure, dot entries and locks included', () => {
  // What the build does: one decision per listed entry (planEntry).
  const closure = new Set([HELLO, GLIBC]);
  const hidden = listing.filter(name => planEntry(name, closure, new Set()) === 'hide');
  assert.equal(hidden, listing.filter(name => name !== HELLO && name !== GLIBC));
  assert.ok(hidden.includes('.links'));
  assert.ok(hidden.some(name => name.endsWith('.lock')));
  assert.equal(listing.filter(name => planEntry(name, closure, new Set()) === 'show'), [GLIBC, HELLO].sort());
});

plan('should decide each entry once: show, hide, or already hidden', () => {
  const closure = new Set([HELLO]);
  const hidden = new Set([GLIBC]);
  assert.is(planEntry(HELLO, closure, hidden), 'show');
  assert.is(planEntry(GLIBC, closure, hidden), 'hidden');
  assert.is(planEntry(GLIBC_LINK, closure, hidden), 'hide');
  assert.is(planEntry(HELLO, closure, new Set([HELLO])), 'show', 'the closure wins over a stale journal entry');
});

plan.run();
