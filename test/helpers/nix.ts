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
