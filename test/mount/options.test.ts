import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {assertPlainLayerPath, escapeLayer, overlayOptions} from '../../src/mount/options.js';

const options = suite('overlay options');

options('should stack the mask above the store, read-only', () => {
  assert.is(overlayOptions(['/c/layer', '/nix/store']), 'ro,lowerdir=/c/layer:/nix/store');
});

options('should escape commas, colons and backslashes, and keep spaces', () => {
  assert.is(escapeLayer('/a b,c:d\\e'), '/a b\\,c\\:d\\\\e');
  assert.is(overlayOptions(['/x:y', '/s,t']), 'ro,lowerdir=/x\\:y:/s\\,t');
});

options('should refuse what the option syntax cannot carry', () => {
  assert.throws(() => escapeLayer('/a"b'), /cannot carry a double quote/);
  assert.throws(() => escapeLayer('/a\nb'), /cannot carry/);
});

options('should refuse special characters for bwrap --overlay-src', () => {
  assert.not.throws(() => assertPlainLayerPath('/plain path/with spaces'));
  for (const bad of ['/a,b', '/a:b', '/a\\b']) assert.throws(() => assertPlainLayerPath(bad), /cannot pass/);
});

options.run();
