/**
 * The per-mask lock between processes, for real: many processes taking over a dead holder's
 * lock at once hold it one at a time, and a live holder, however long it holds, keeps it.
 */
import {spawn, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {tempDir} from '../helpers/cli.js';
import {ROOT} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const LOCK_MODULE = path.join(ROOT, 'dist/src/mask/lock.js');

/** A process that takes the lock, logs entering, holds it for `holdMs`, logs leaving, lets go. */
const worker = (file: string, log: string, holdMs: number): Promise<number | null> =>
  new Promise(resolve => {
    const script = `
      const fs = await import('node:fs');
      const {acquireLock} = await import(${JSON.stringify(LOCK_MODULE)});
      const lock = await acquireLock(${JSON.stringify(file)});
      fs.appendFileSync(${JSON.stringify(log)}, 'enter ' + process.pid + '\\n');
      await new Promise(done => setTimeout(done, ${holdMs}));
      fs.appendFileSync(${JSON.stringify(log)}, 'leave ' + process.pid + '\\n');
      lock.release();`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {stdio: ['ignore', 'ignore', 'inherit']});
    child.on('close', resolve);
  });

/** The log must read enter P, leave P, enter Q, leave Q, ...: never two holders at once. */
const assertOneAtATime = (log: string, count: number): void => {
  const lines = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.is(lines.length, count * 2, 'every worker held the lock once');
  for (let index = 0; index < lines.length; index += 2) {
    const [enter, leave] = [lines[index]!, lines[index + 1]!];
    assert.match(enter, /^enter \d+$/, `line ${index + 1}: ${lines.join(', ')}`);
    assert.is(leave, enter.replace('enter', 'leave'), `two holders at once: ${lines.join(', ')}`);
  }
};

/** A `pid starttime` record of a process that is gone. */
const deadHolder = (): string => {
  const gone = spawnSync('sh', ['-c', 'echo $$']).stdout.toString().trim();
  return `${gone} 1\n`;
};

const lock = suite('the mask lock');

lock('should let many processes take over a dead holder\'s lock one at a time', async () => {
  const dir = tempDir('lock');
  for (const [round, stale] of [deadHolder(), '', 'garbage'].entries()) {
    const file = path.join(dir, 'mask.lock');
    const log = path.join(dir, `log-${round}`);
    fs.writeFileSync(file, stale);
    const workers = 24;
    const codes = await Promise.all(Array.from({length: workers}, () => worker(file, log, 20)));
    assert.equal(codes, Array.from({length: workers}, () => 0));
    assertOneAtATime(log, workers);
    assert.not.ok(fs.existsSync(file), 'the last holder let go');
    assert.equal(fs.readdirSync(dir).filter(name => name.endsWith('.new')), [], 'no private file left');
    tally('concurrent', workers);
  }
});

lock('should never take the lock from a live holder, however long it holds it', async () => {
  const dir = tempDir('lock-live');
  const file = path.join(dir, 'mask.lock');
  const log = path.join(dir, 'log');
  const holder = worker(file, log, 3000);
  while (!fs.existsSync(log)) await new Promise(resolve => setTimeout(resolve, 10));
  const others = Array.from({length: 8}, () => worker(file, log, 10));
  assert.equal(await Promise.all([holder, ...others]), Array.from({length: 9}, () => 0));
  assertOneAtATime(log, 9);
  tally('concurrent', 9);
});

lock('should not remove a lock made while its taker waited, and take it over once that holder is gone', async () => {
  const dir = tempDir('lock-order');
  const file = path.join(dir, 'mask.lock');
  const log = path.join(dir, 'log');
  fs.writeFileSync(file, deadHolder());
  // Hold the takeover's kernel lock, so the taker stops just before it looks again.
  const gate = spawn('flock', ['--exclusive', `${file}.takeover`, 'cat'], {stdio: ['pipe', 'pipe', 'ignore']});
  await new Promise(resolve => {
    gate.stdout.once('data', resolve);
    gate.stdin.write('\n');
  });
  const taker = worker(file, log, 10);
  await new Promise(resolve => setTimeout(resolve, 1500));
  // Meanwhile the stale lock went and a live process took the lock.
  const holder = spawn('sleep', ['60'], {stdio: 'ignore'});
  const stat = fs.readFileSync(`/proc/${holder.pid}/stat`, 'utf8');
  const live = `${holder.pid} ${stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]}\n`;
  fs.writeFileSync(`${file}.tmp`, live);
  fs.renameSync(`${file}.tmp`, file);
  gate.stdin.end();
  await new Promise(resolve => setTimeout(resolve, 700));
  assert.is(fs.readFileSync(file, 'utf8'), live, 'the taker removed a live holder\'s lock');
  assert.not.ok(fs.existsSync(log), 'the taker entered while a live process held the lock');
  holder.kill('SIGKILL');
  assert.is(await taker, 0);
  assert.is(fs.readFileSync(log, 'utf8').split('\n')[0], fs.readFileSync(log, 'utf8').split('\n')[1]!.replace('leave', 'enter'));
  tally('concurrent', 1);
});

lock.run();
