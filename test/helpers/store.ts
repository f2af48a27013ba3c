/** Synthetic stores: directories shaped like /nix/store, for tests that need many entries. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const ALPHABET = '0123456789abcdfghijklmnpqrsvwxyz';

export const storeName = (seed: string, index: number): string => {
  const digest = crypto.createHash('sha256').update(`${seed}:${index}`).digest();
  let hash = '';
  for (let i = 0; i < 32; i++) hash += ALPHABET[digest[i]! % 32];
  return `${hash}-pkg-${index}`;
};

export interface SyntheticStore {
  dir: string;
  names: string[];
}

/**
 * A store of `count` entries: directories for the first few (so closures can be real trees),
 * empty files for the rest (fast to make), plus `.links` and a lock file as Nix keeps them.
 * Its mtime is set in the past, as a store that has not changed for a while.
 */
export const makeStore = (dir: string, count: number, seed = 'store'): SyntheticStore => {
  fs.mkdirSync(dir, {recursive: true});
  const names: string[] = [];
  for (let index = 0; index < count; index++) {
    const name = storeName(seed, index);
    names.push(name);
    if (index < 16) {
      fs.mkdirSync(path.join(dir, name, 'bin'), {recursive: true});
      fs.writeFileSync(path.join(dir, name, 'bin', 'tool'), `tool ${index}\n`);
    } else {
      fs.closeSync(fs.openSync(path.join(dir, name), 'w'));
    }
  }
  fs.mkdirSync(path.join(dir, '.links'));
  fs.writeFileSync(path.join(dir, `${storeName(seed, -1)}-x.drv.lock`), '');
  settle(dir);
  return {dir, names};
};

/** Set a store's mtime a minute back, as if nothing had changed for a while. */
export const settle = (dir: string): void => {
  const past = new Date(Date.now() - 60_000);
  fs.utimesSync(dir, past, past);
};

export const addEntries = (store: SyntheticStore, count: number, seed = 'added'): string[] => {
  const added = Array.from({length: count}, (_, index) => storeName(seed, index));
  for (const name of added) fs.closeSync(fs.openSync(path.join(store.dir, name), 'w'));
  return added;
};

export const closureFile = (dir: string, names: readonly string[]): string => {
  const file = path.join(dir, 'closure.txt');
  fs.writeFileSync(file, names.map(name => `/nix/store/${name}\n`).join(''));
  return file;
};

/** The store entry `addBusybox` makes. */
export const BUSYBOX_ENTRY = `${'b'.repeat(32)}-busybox`;

/**
 * Put the static busybox into a synthetic store as one entry (`…-busybox/bin/busybox`), so a
 * jail on that store has a program to run; returns the program's path inside the jail.
 */
export const addBusybox = (storeDir: string): string => {
  const bin = path.join(storeDir, BUSYBOX_ENTRY, 'bin');
  if (!fs.existsSync(path.join(bin, 'busybox'))) {
    fs.mkdirSync(bin, {recursive: true});
    fs.copyFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', path.join(bin, 'busybox'));
    fs.chmodSync(path.join(bin, 'busybox'), 0o755);
  }
  return `/nix/store/${BUSYBOX_ENTRY}/bin/busybox`;
};
