/**
 * The shell a launcher starts the chain with (GO), run by this machine's sh on a plan directory
 * of its own: it does nothing of the plan's until the check's word, runs the words only under
 * the prefix they begin with, and mounts as the launch script would.
 */
import {spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {GO} from '../../src/launch/launcher.js';
import {MOUNT_SCRIPT} from '../../src/mount/strategy.js';
import {shellQuote} from '../../src/launch/shell.js';

const go = suite('the chain\'s waiting shell');

/** A plan directory whose words are `words`, and GO started on it as a launcher starts it. */
const start = (words: readonly string[], prefix: readonly string[], input: string) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-go-'));
  try {
    const marker = path.join(dir, 'sourced');
    fs.writeFileSync(path.join(dir, 'words'), `: >${shellQuote(marker)}\nset -- ${words.map(shellQuote).join(' ')} "$@"\n`);
    for (const name of ['seccomp', 'passwd', 'group']) fs.writeFileSync(path.join(dir, name), '');
    const status = path.join(dir, 'run.1.1');
    const result = spawnSync('sh', ['-c', `exec 9</dev/null; exec sh -c "$0" sh "$@"`, GO, dir, status, '', '/usr/bin/env', String(prefix.length), ...prefix, 'last'],
      {input, encoding: 'utf8'});
    return {status: result.status, stdout: result.stdout, stderr: result.stderr, sourced: fs.existsSync(marker)};
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
};

go('should read nothing of the plan without the check\'s word', () => {
  for (const input of ['', 'no\n', 'go now\n']) {
    const ran = start(['echo', 'ran'], [], input);
    assert.is(ran.status, 125);
    assert.is(ran.stdout, '');
    assert.not.ok(ran.sourced, JSON.stringify(input));
  }
});

go('should run the words, then the launcher\'s own arguments, once told to go', () => {
  const ran = start(['echo', 'ran'], [], 'go\n');
  assert.is(ran.status, 0, ran.stderr);
  assert.is(ran.stdout, 'ran last\n');
});

go('should run the words only under the prefix they begin with', () => {
  const same = start(['env', 'A=1', 'echo', 'ran'], ['env', 'A=1'], 'go\n');
  assert.is(same.stdout, 'ran last\n', same.stderr);
  // As long, but not the same: the chain it runs in is not the plan's.
  const other = start(['env', 'A=2', 'echo', 'ran'], ['env', 'A=1'], 'go\n');
  assert.is(other.status, 125);
  assert.is(other.stdout, '');
});

go('should end as a jail that did not start (125) when the plan\'s files cannot be read', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-go-'));
  try {
    fs.writeFileSync(path.join(dir, 'words'), 'set -- echo ran "$@"\n');
    // No seccomp, passwd or group: their redirections fail.
    const noFiles = spawnSync('sh', ['-c', 'exec 9</dev/null; exec sh -c "$0" sh "$@"', GO, dir, path.join(dir, 'run.1.1'), '', '/usr/bin/env', '0'], {input: 'go\n', encoding: 'utf8'});
    assert.is(noFiles.status, 125, noFiles.stderr);
    assert.is(noFiles.stdout, '');
    // No words.
    const noWords = spawnSync('sh', ['-c', 'exec 9</dev/null; exec sh -c "$0" sh "$@"', GO, path.join(dir, 'gone'), path.join(dir, 'run.1.1'), '', '/usr/bin/env', '0'], {input: 'go\n', encoding: 'utf8'});
    assert.is(noWords.status, 125, noWords.stderr);
  } finally {
    fs.rmSync(dir, {recursive: true, force: true});
  }
});

go('should leave words that are not the mount script to run as they are', () => {
  // The mount script's words with another script: not mounted here, run as given.
  const ran = start(['sh', '-c', 'echo "$1 $2"', 'sh', 'opts', 'point', 'echo', 'after'], [], 'go\n');
  assert.is(ran.stdout, 'opts point\n', ran.stderr);
  assert.ok(MOUNT_SCRIPT.startsWith('mount -t overlay'));
});

go.run();
