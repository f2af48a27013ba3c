/**
 * The shipped profiles for jobs (--profile ci, --profile agent) and --bind-cwd, for real, as
 * root and as an ordinary user: the project directory is read-write and the program starts
 * there; $HOME is empty and gone after the run; /tmp is the jail's own; there is no network
 * but the jail's loopback, unless another profile adds hosts; the time is limited.
 */
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, collect, tempDir, type Collected} from '../helpers/cli.js';
import {launcherCommand, mountingWays} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';

const SHIPPED = path.join(path.dirname(CLI), 'profiles');

for (const caller of mountingWays.slice(0, 2)) {
  const jobs = suite(`profiles for jobs, as ${caller.name}`);
  const jobsTest = when(jobs, caller.needs);

  /** exec as the caller, from `cwd`. */
  const exec = (cwd: string, options: string[], script: string): Collected => {
    const {app} = buildFixture();
    const [command, argv] = caller.command(['exec', '--cache-dir', cache, ...options, '--', `${app}/bin/sh`, '-c', script]);
    return collect(command, argv, caller.env(), [], cwd);
  };
  let cache = '';
  jobs.before(() => {
    if (caller.needs === undefined) cache = caller.cache();
  });

  jobsTest('ci and agent: the project read-write and the start there, an empty $HOME that does not outlive the run, a /tmp of its own, no network', () => {
    const owner = caller.user ? TEST_USER : undefined;
    const project = tempDir('job-project', owner);
    fs.writeFileSync(path.join(project, 'input.txt'), 'source\n', {mode: 0o644});
    const secret = path.join(tempDir('job-host-tmp'), 'secret');
    fs.writeFileSync(secret, 'host\n');
    for (const profile of ['ci', 'agent']) {
      const first = exec(project, ['--profile', profile], [
        'pwd', 'cat input.txt', `echo built by ${profile} > output-${profile}.txt`,
        'ls -A "$HOME" | wc -l', 'echo kept > "$HOME/state"',
        `cat ${secret} 2>/dev/null || echo "no ${secret}"`,
        // The jail's network namespace: its loopback alone.
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '",
      ].join('; '));
      assert.is(first.status, 0, `${profile}: ${first.stderr}`);
      assert.is(first.stdout, `${fs.realpathSync(project)}\nsource\n0\nno ${secret}\nlo\n`, profile);
      assert.is(fs.readFileSync(path.join(project, `output-${profile}.txt`), 'utf8'), `built by ${profile}\n`);
      const second = exec(project, ['--profile', profile], 'ls -A "$HOME" | wc -l');
      assert.is(second.stdout, '0\n', `${profile}: $HOME did not outlive the run`);
    }
    tally('escape', 4);
  });

  jobsTest('the time and limits they set hold, the command line wins, and another profile adds hosts', () => {
    const project = tempDir('job-limits', caller.user ? TEST_USER : undefined);
    for (const [profile, timeout, nofile] of [['ci', '1h', undefined], ['agent', '2h', '4096']] as const) {
      const shipped = JSON.parse(fs.readFileSync(path.join(SHIPPED, `${profile}.json`), 'utf8')) as Record<string, unknown>;
      assert.is(shipped['timeout'], timeout);
      assert.is(shipped['bind-cwd'], true);
      const limits = exec(project, ['--profile', profile], 'ulimit -c; ulimit -n');
      assert.is(limits.status, 0, limits.stderr);
      const [core, files] = limits.stdout.trim().split('\n');
      assert.is(core, '0', `${profile}: no core files`);
      if (nofile !== undefined) assert.is(files, nofile);
      const late = exec(project, ['--profile', profile, '--timeout', '1s'], 'sleep 10');
      assert.is(late.status, 124, `${profile}: ${late.stderr}`);
    }
    const hosts = path.join(tempDir('job-hosts'), 'hosts.json');
    fs.writeFileSync(hosts, JSON.stringify({'allow-host': ['example.org']}), {mode: 0o644});
    fs.chmodSync(path.dirname(hosts), 0o755);
    const reaching = exec(project, ['--profile', 'agent', '--profile', hosts], 'echo "$HTTPS_PROXY"');
    assert.is(reaching.status, 0, reaching.stderr);
    assert.match(reaching.stdout, /^http:\/\/127\.0\.0\.1:3128$/m);
  });

  jobsTest('a launcher with --bind-cwd binds the directory it is started from, through exec each time', () => {
    const owner = caller.user ? TEST_USER : undefined;
    const [first, second] = [tempDir('job-first', owner), tempDir('job-second', owner)];
    const launcher = path.join(tempDir('job-launcher', owner), 'jailed');
    const {app} = buildFixture();
    const [wrapCommand, wrapArgv] = caller.command(['wrap', '--out', launcher, '--cache-dir', cache, '--profile', 'ci', `${app}/bin/sh`, '-c', 'pwd']);
    const wrapped = collect(wrapCommand, wrapArgv, caller.env(), [], first);
    assert.is(wrapped.status, 0, wrapped.stderr);
    for (const dir of [first, second]) {
      const [command, argv] = launcherCommand(caller, launcher, []);
      const started = collect(command, argv, caller.env(), [], dir);
      assert.is(started.status, 0, started.stderr);
      assert.is(started.stdout, `${fs.realpathSync(dir)}\n`);
    }
  });

  jobsTest('--bind-cwd refuses / and the store, and ./ci names a file, not the shipped profile', () => {
    for (const cwd of ['/', '/nix/store']) {
      const refused = exec(cwd, ['--bind-cwd'], 'true');
      assert.is(refused.status, 125, cwd);
      assert.match(refused.stderr, /--bind-cwd: the working directory .* is \/ or in or above the store/);
    }
    const dir = tempDir('job-own-ci', caller.user ? TEST_USER : undefined);
    fs.writeFileSync(path.join(dir, 'ci'), JSON.stringify({setenv: ['MINE=yes']}), {mode: 0o644});
    const own = exec(dir, ['--profile', './ci'], 'echo "${MINE-shipped}"');
    assert.is(own.status, 0, own.stderr);
    assert.is(own.stdout, 'yes\n', 'the file named ci (setenv), not the shipped profile');
    const shipped = exec(dir, ['--profile', 'ci'], 'echo "${MINE-shipped}"; pwd');
    assert.is(shipped.stdout, `shipped\n${fs.realpathSync(dir)}\n`);
    tally('input', 3);
  });

  jobs.run();
}

