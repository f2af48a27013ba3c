import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {bwrapMountsOverlays} from '../../src/mount/capabilities.js';
import {when} from '../helpers/env.js';

const probe = suite('bwrapMountsOverlays');
let dir = '';

probe.before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-bwrap-probe-'));
});
probe.after(() => fs.rmSync(dir, {recursive: true, force: true}));

const file = (name: string, data: string | Buffer, mode = 0o755): string => {
  const target = path.join(dir, name);
  fs.writeFileSync(target, data, {mode});
  fs.chmodSync(target, mode);
  return target;
};

probe('should say yes for a bubblewrap that knows --overlay-src', () => {
  // As in the binary: the option's name among other strings, NUL-terminated.
  assert.is(bwrapMountsOverlays(file('new', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0]), Buffer.from('--bind\0--overlay-src\0--ro-overlay\0')]))), true);
});

probe('should say no for one that does not, or that cannot be read as a file', () => {
  assert.is(bwrapMountsOverlays(file('old', '\x7fELF\0--bind\0--ro-bind\0--overlay\0')), false);
  assert.is(bwrapMountsOverlays(file('wrapper', '#!/bin/sh\nexec /somewhere/bwrap "$@"\n')), false);
  assert.is(bwrapMountsOverlays(undefined), false);
  assert.is(bwrapMountsOverlays(path.join(dir, 'missing')), false);
  assert.is(bwrapMountsOverlays(dir), false);
});

probe('should not read a file larger than 8 MiB, far more than any bubblewrap', () => {
  const huge = file('huge', '');
  // Sparse, the option's name at its end: 8 MiB exactly is read, a byte more is not.
  fs.truncateSync(huge, 8 * 1024 * 1024 - '--overlay-src'.length);
  fs.appendFileSync(huge, '--overlay-src');
  assert.is(bwrapMountsOverlays(huge), true);
  fs.appendFileSync(huge, '\n');
  assert.is(bwrapMountsOverlays(huge), false);
});

/** Nix builds refuse set-user-ID bits (its seccomp filter): there this test cannot make its file. */
const setuidRefused = (): string | undefined => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-setuid-'));
  try {
    fs.writeFileSync(path.join(scratch, 'f'), '');
    fs.chmodSync(path.join(scratch, 'f'), 0o4755);
    return undefined;
  } catch (error) {
    return `cannot set a set-user-ID bit here (${(error as NodeJS.ErrnoException).code}), as in a Nix build`;
  } finally {
    fs.rmSync(scratch, {recursive: true, force: true});
  }
};

when(probe, setuidRefused())('should say no for a set-user-ID bubblewrap, which refuses overlays', () => {
  // The owner may set the bit on a file of their own.
  const setuid = file('setuid', '--overlay-src', 0o4755);
  assert.is(fs.statSync(setuid).mode & 0o4000, 0o4000);
  assert.is(bwrapMountsOverlays(setuid), false);
  fs.chmodSync(setuid, 0o755);
  assert.is(bwrapMountsOverlays(setuid), true);
});

probe.run();
