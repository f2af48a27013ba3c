/**
 * The shell this project generates, read by ShellCheck (Debian's shellcheck) as sh, dash and
 * bash: wrap launchers with and without a plan, with words that need quoting, the one `wrap`
 * writes for real, the front (the installed nix-overlay-jail), and GO, the script the warm path starts inside the jail's namespaces. Every
 * warning left is switched off where it stands, with the reason beside it.
 */
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {FRONT, run, tempDir} from '../helpers/cli.js';
import {IN_CI, missing, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {GO, launcherScript, type LauncherInput} from '../../src/launch/launcher.js';
import {frontScript} from '../../src/launch/front.js';
import {FUSE_SCRIPT} from '../../src/mount/strategy.js';

const lint = suite('ShellCheck');
const hasShellCheck = spawnSync('shellcheck', ['--version'], {stdio: 'ignore'}).status === 0;
const test = when(lint, hasShellCheck ? undefined : `needs shellcheck${IN_CI ? '' : ' (Debian\'s shellcheck)'}`);

const DIALECTS = ['sh', 'dash', 'bash'];

/** ShellCheck's findings on a script, in each dialect, as `dialect: line:column: message`. */
const findings = (script: string): string[] => {
  const file = path.join(tempDir('shellcheck'), 'script');
  fs.writeFileSync(file, script);
  return DIALECTS.flatMap(dialect => {
    const result = spawnSync('shellcheck', ['--shell', dialect, '--severity', 'style', '--format', 'gcc', file], {encoding: 'utf8'});
    assert.ok(result.status === 0 || result.status === 1, `shellcheck ran: ${result.stderr}`);
    return result.stdout.trim().split('\n').filter(line => line !== '').map(line => `${dialect}: ${line.slice(file.length + 1)}`);
  });
};

const plan = (dir: string): NonNullable<LauncherInput['plan']> => ({
  dir, owned: ['/var/cache/noj', `/var/cache/noj/plans`], ancestors: ['/', '/var', '/var/cache'],
  tools: {stat: '/usr/bin/stat', env: '/usr/bin/env', setsid: '/usr/bin/setsid', rm: '/usr/bin/rm', bash: '/usr/bin/bash'},
});

test('should find nothing to say of a launcher, with a plan and without, whatever its words', () => {
  const odd = ["it's", '$(id)', '`id`', 'a b', '*', '-', '"', '\\', 'line\nbreak', ''];
  const inputs: LauncherInput[] = [
    {node: '/usr/bin/node', cli: '/opt/noj/cli.cjs', execOptions: [], command: ['/nix/store/x-hello/bin/hello']},
    {node: '/usr/bin/node', cli: '/opt/noj/cli.cjs', execOptions: ['--net', '--setenv=A=b c'], command: ['/nix/store/x-hello/bin/hello', ...odd], plan: plan('/var/cache/noj/plans/abc')},
    {node: "/opt/it's/node", cli: '/opt/a b/cli.cjs', execOptions: odd.map(word => `--setenv=X=${word}`), command: ['/nix/store/x-hello/bin/hello'], plan: {...plan("/var/cache/it's/plans/k"), tools: {...plan('/').tools, bash: ''}}},
  ];
  for (const input of inputs) assert.equal(findings(launcherScript(input)), [], JSON.stringify(input));
});

test('should find nothing to say of GO, the script the warm path starts in the jail\'s namespaces', () => {
  assert.equal(findings(`#!/bin/sh\n${GO}`), []);
});

test('should find nothing to say of the fuse way\'s launch script', () => {
  assert.equal(findings(`#!/bin/sh\n${FUSE_SCRIPT}\n`), []);
});

test('should find nothing to say of the front, the installed nix-overlay-jail, as the build writes it and with odd words', () => {
  const built = fs.readFileSync(FRONT, 'utf8');
  assert.is(built, frontScript({node: 'node', cli: ''}));
  assert.equal(findings(built), []);
  assert.equal(findings(frontScript({node: "/opt/it's/node", cli: '/opt/a b/$(id)/cli.cjs'})), []);
});

when(lint, hasShellCheck ? missing('root', 'nix') : 'needs shellcheck')('should find nothing to say of the launcher wrap writes', () => {
  const {app} = buildFixture();
  const out = path.join(tempDir('shellcheck-wrap'), 'launcher');
  const wrote = run(['wrap', '--out', out, '--cache-dir', tempDir('shellcheck-cache'), `${app}/bin/sh`, '-c', 'echo "$@"', 'sh']);
  assert.is(wrote.status, 0, wrote.stderr);
  assert.match(fs.readFileSync(out, 'utf8'), /^noj_dir=/m);
  assert.equal(findings(fs.readFileSync(out, 'utf8')), []);
});

lint.run();
