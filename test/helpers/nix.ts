/**
 * Real Nix closures for the integration tests, built locally from fixtures/nix/closure.nix
 * with the static busybox as every builder (no network needed). Building twice is free: Nix
 * finds the outputs already valid.
 */
import {execFileSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/** Nix as this process should reach it: the local store as root, the daemon otherwise. */
export const nixEnv = (): NodeJS.ProcessEnv => ({
  ...process.env,
  ...(process.getuid?.() === 0 && !process.env['NIX_REMOTE'] ? {NIX_REMOTE: 'local'} : {}),
});

/** Fixtures are built from busybox alone: ask no binary cache (there is no network to reach one). */
export const NO_SUBSTITUTES = ['--option', 'substituters', ''];

const nix = (command: string, args: string[]): string =>
  execFileSync(command, args, {env: nixEnv(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']}).trim();

/** The static busybox as a store path (`…-busybox/bin/busybox`). */
export const busyboxStorePath = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-bb-'));
  try {
    const tree = path.join(dir, 'busybox');
    fs.mkdirSync(path.join(tree, 'bin'), {recursive: true});
    fs.copyFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', path.join(tree, 'bin', 'busybox'));
    fs.chmodSync(path.join(tree, 'bin', 'busybox'), 0o555);
    return nix('nix-store', ['--add', tree]);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

export interface NixFixture {
  busybox: string;
  app: string;
  lib: string;
  link: string;
  outsider: string;
  /** `nix-store -qR app`, sorted. */
  closure: string[];
}

const built = new Map<string, NixFixture>();

export const buildFixture = (tag = 'fixture'): NixFixture => {
  const known = built.get(tag);
  if (known) return known;
  const busybox = busyboxStorePath();
  const attributes = ['app', 'lib', 'link', 'outsider'] as const;
  const outputs = nix('nix-build', [
    path.join(ROOT, 'fixtures/nix/closure.nix'), '--no-out-link', ...NO_SUBSTITUTES,
    ...attributes.flatMap(attribute => ['-A', attribute]),
    '--argstr', 'busybox', busybox, '--argstr', 'tag', tag,
  ]).split('\n');
  const [app, lib, link, outsider] = outputs as [string, string, string, string];
  const fixture: NixFixture = {busybox, app, lib, link, outsider, closure: []};
  fixture.closure = nix('nix-store', ['-qR', fixture.app]).split('\n').sort();
  built.set(tag, fixture);
  return fixture;
};

/** Two scripts as packages ship them (`#!/usr/bin/env sh`, `#!/bin/sh`) and the tools their closure gives them. */
export const scriptsFixture = (): {tools: string; scripts: string} => {
  const [tools, scripts] = nix('nix-build', [
    path.join(ROOT, 'fixtures/nix/scripts.nix'), '--no-out-link', ...NO_SUBSTITUTES, '-A', 'tools', '-A', 'scripts',
    '--argstr', 'busybox', busyboxStorePath(),
  ]).split('\n') as [string, string];
  return {tools, scripts};
};

/** Add a fresh directory to the store (a path that appears after a mask was made). */
export const addStorePath = (name: string, content = `${name}\n`): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-add-'));
  try {
    const tree = path.join(dir, name);
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'content'), content);
    return nix('nix-store', ['--add', tree]);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

export interface DebianPrograms {
  /** The store path holding bin/NAME for each program. */
  programs: string;
  /** The store path of their dynamic loader and libraries. */
  libraries: string;
  /** The dynamic loader the programs name (PT_INTERP). */
  loader: string;
}

const debianBuilt = new Map<string, DebianPrograms>();

/**
 * Real, dynamically linked programs in the store, made from Debian's binaries: their libraries
 * (found with ldd) go into one store path with RUNPATH $ORIGIN, the programs are patched with
 * patchelf to that path's loader and libraries, and a busybox derivation copies them into the
 * store, so Nix records the libraries as their reference. Inside a jail they find nothing of
 * the host's /lib: only what their closure holds.
 */
export const debianPrograms = (names: readonly string[]): DebianPrograms => {
  const key = names.join(' ');
  const known = debianBuilt.get(key);
  if (known) return known;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-debian-'));
  try {
    const binaries = names.map(name => execFileSync('sh', ['-c', `command -v ${name}`], {encoding: 'utf8'}).trim());
    const libs = new Set<string>();
    for (const binary of binaries) {
      for (const line of execFileSync('ldd', [binary], {encoding: 'utf8'}).split('\n')) {
        const found = /(\/\S+) \(0x/.exec(line)?.[1];
        if (found !== undefined) libs.add(found);
      }
    }
    const libDir = path.join(dir, 'noj-debian-libs');
    fs.mkdirSync(libDir);
    let loader = '';
    for (const lib of libs) {
      const target = path.join(libDir, path.basename(lib));
      fs.copyFileSync(fs.realpathSync(lib), target);
      fs.chmodSync(target, 0o755);
      if (/^ld-linux/.test(path.basename(lib))) loader = path.basename(lib);
      else execFileSync('patchelf', ['--set-rpath', '$ORIGIN', target]);
    }
    const libraries = nix('nix-store', ['--add', libDir]);
    const prepared = path.join(dir, 'noj-debian-prepared');
    fs.mkdirSync(path.join(prepared, 'bin'), {recursive: true});
    for (const [index, binary] of binaries.entries()) {
      const target = path.join(prepared, 'bin', names[index]!);
      fs.copyFileSync(binary, target);
      fs.chmodSync(target, 0o755);
      execFileSync('patchelf', ['--set-interpreter', path.join(libraries, loader), '--set-rpath', libraries, target]);
    }
    const programs = nix('nix-build', [path.join(ROOT, 'fixtures/nix/prepared.nix'), '--no-out-link', ...NO_SUBSTITUTES,
      '--argstr', 'busybox', busyboxStorePath(), '--argstr', 'prepared', nix('nix-store', ['--add', prepared]),
      '--argstr', 'uses', libraries, '--argstr', 'name', 'noj-debian-programs']);
    const built: DebianPrograms = {programs, libraries, loader: path.join(libraries, loader)};
    debianBuilt.set(key, built);
    return built;
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

export interface NixosEtc {
  etc: string;
  cacert: string;
  tzdata: string;
  fontsConf: string;
  fontFiles: string;
  drivers: string;
  unrelated: string;
}

/** The store side of a NixOS /etc (fixtures/nix/nixos-etc.nix) with `caPem` as its CA bundle. */
export const nixosEtc = (caPem: string, tag = 'nixos'): NixosEtc => {
  const names = ['etc', 'cacert', 'tzdata', 'fontsConf', 'fontFiles', 'drivers', 'unrelated'] as const;
  const outputs = nix('nix-build', [
    path.join(ROOT, 'fixtures/nix/nixos-etc.nix'), '--no-out-link', ...NO_SUBSTITUTES,
    ...names.flatMap(name => ['-A', name]),
    '--argstr', 'busybox', busyboxStorePath(), '--argstr', 'caPem', caPem, '--argstr', 'tag', tag,
    '--argstr', 'zoneFile', '/usr/share/zoneinfo/Europe/Berlin',
  ]).split('\n');
  return Object.fromEntries(names.map((name, index) => [name, outputs[index]!])) as unknown as NixosEtc;
};

/** `nix-store -qR` of some store paths, as entry names. */
export const closureOf = (...paths: string[]): string[] =>
  nix('nix-store', ['-qR', ...paths]).split('\n').map(line => path.basename(line));
