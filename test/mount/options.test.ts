import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {assertPlainLayerPath, escapeLayer, plainLayerPaths, overlayLowerLayers, overlayOptions} from '../../src/mount/options.js';
import {throwsJail} from '../helpers/errors.js';

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

options('should tell whether every directory can be given to bubblewrap as a layer', () => {
  assert.ok(plainLayerPaths(['/home/a b/.cache', '/nix/store']));
  assert.ok(plainLayerPaths([]));
  for (const bad of ['/a,b', '/a:b', '/a\\b', '/a"b', '/a\nb', '/a\0b']) {
    assert.not.ok(plainLayerPaths(['/nix/store', bad]), bad);
  }
});

options.run();

// ---

const lower = suite('overlayLowerLayers');

lower('should read back the layers of the options it wrote, as the kernel shows them', () => {
  // What Linux 6.18 printed in mountinfo for a layer '/tmp/odd dir, a:b\c/low'.
  assert.equal(overlayLowerLayers('ro,lowerdir=/tmp/odd\\040dir\\134\\054\\040a\\134:b\\134\\134c/low:/nix/store,redirect_dir=on'), ['/tmp/odd dir, a:b\\c/low', '/nix/store']);
  assert.equal(overlayLowerLayers('rw,lowerdir=/m/layer:/nix'), ['/m/layer', '/nix']);
  assert.is(overlayLowerLayers('rw,errors=remount-ro'), undefined);
});

lower('should invert overlayOptions for any layer the syntax can carry', () => {
  for (const layer of ['/a', '/with space', '/c,o:m\\ma', '/trailing\\', '/x=y']) {
    const mountinfo = overlayOptions([layer, '/nix/store']).replace(/[ \t\n\\]/g, char => `\\${char.charCodeAt(0).toString(8).padStart(3, '0')}`);
    assert.equal(overlayLowerLayers(mountinfo), [layer, '/nix/store'], layer);
  }
});

lower.run();

// ---

const refuse = suite('overlay options, each refusal');

refuse('should refuse what the option syntax cannot carry, and an overlay of one layer', () => {
  throwsJail(() => escapeLayer('/a"b'), 'usage', 'cannot use "/a\\"b" as an overlay layer: the mount option syntax cannot carry a double quote or a newline');
  assert.throws(() => overlayOptions(['/only']), /an overlay without an upper layer needs at least two lower layers/);
  throwsJail(() => assertPlainLayerPath('/a:b'), 'usage', 'cannot pass "/a:b" to bwrap --overlay-src: it holds a comma, colon, backslash, quote or newline (use --mount-with userns or root)');
});

refuse('should keep a backslash that ends the options as it is', () => {
  assert.equal(overlayLowerLayers('lowerdir=/a\\'), ['/a\\']);
  assert.equal(overlayLowerLayers('lowerdir=/a\\:/b'), ['/a:/b']);
});

refuse.run();
