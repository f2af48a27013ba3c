/**
 * The front (the installed nix-overlay-jail, a shell script): an exec it has run before starts
 * from the plan exec recorded for it, without Node, and gives the jail exec gives (view,
 * environment, descriptors, exit statuses, signals), for every mounting way, as root and as an
 * ordinary user, under sh, bash and bash as sh. Anything that changes what exec would do sends
 * the next start to Node, which records the plan again; what is not an exec, or not one the
 * front can key, always goes to Node. Many identical execs at once beside plan rewrites and gc.
 *
 * NIX_OVERLAY_JAIL_REQUIRE_PLAN=1 makes the front fail (125, with the reason) instead of going
 * to Node, so a test knows which path ran; NIX_OVERLAY_JAIL_NO_PLAN=1 forces Node.
 */
import {execFileSync, spawn} from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {CLI, collect, FRONT, settledStore, startCollecting, tempDir, userCli, type Collected, type Exit} from '../helpers/cli.js';
import {launcherCommand, mountingWays, SHELLS, type Caller} from '../helpers/callers.js';
import {TEST_USER, when} from '../helpers/env.js';
import {addStorePath, buildFixture} from '../helpers/nix.js';
import {tally} from '../helpers/tally.js';
import {interruptAtTerminal} from '../helpers/terminal.js';
import {closeInheritedDescriptors} from '../../src/jail/descriptors.js';
import {frontKey} from '../../src/launch/record.js';
import {frontCacheDir} from '../../src/launch/front.js';
import {MaskCache} from '../../src/mask/cache.js';

// The fronts below must start as from a clean parent (launch.test.ts).
closeInheritedDescriptors([]);

const FAST = {NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'};
const SLOW = {NIX_OVERLAY_JAIL_NO_PLAN: '1'};


interface Front {
  /** The caller's cache, where exec-plans/ is. */
  cache: string;
  /** A working directory of this test's own (the plans' keys hold it). */
  cwd: string;
  /** The exec arguments for this caller's mounting way, then `rest`. */
  exec: (...rest: string[]) => string[];
  run: (args: readonly string[], options?: {env?: NodeJS.ProcessEnv; fds?: number[]; shell?: string | undefined; cwd?: string}) => Collected;
  /** The command line that starts the front with `args`. */
  command: (args: readonly string[], shell?: string) => [string, string[]];
  env: () => NodeJS.ProcessEnv;
  /** The plan directory of an invocation, as exec names it. */
  planDir: (args: readonly string[], cwd?: string) => string;
}

/**
 * The front as the caller runs it. The test user gets a home of its own, so its cache
 * (HOME/.cache/nix-overlay-jail, where the front looks) is this test's; root's is
 * /var/cache/nix-overlay-jail, and a working directory of the test's own keeps its plans apart.
 */
const frontFor = (caller: Caller): Front => {
  const owner = caller.user ? TEST_USER : undefined;
  const home = caller.user ? tempDir('front-home', TEST_USER) : undefined;
  const front = caller.user ? path.join(path.dirname(userCli()), 'nix-overlay-jail') : FRONT;
  const cache = home === undefined ? '/var/cache/nix-overlay-jail' : path.join(home, '.cache/nix-overlay-jail');
  const cwd = tempDir('front-cwd', owner);
  fs.chmodSync(cwd, 0o755);
  const env = (): NodeJS.ProcessEnv => ({...caller.env(), ...(home === undefined ? {} : {HOME: home})});
  const command = (args: readonly string[], shell?: string): [string, string[]] => launcherCommand(caller, front, args, shell);
  return {
    cache,
    cwd,
    exec: (...rest) => ['exec', '--mount-with', caller.mountWith, ...rest],
    run: (args, options = {}) => {
      const [program, argv] = command(args, options.shell);
      return collect(program, argv, {...env(), ...options.env}, options.fds ?? [], options.cwd ?? cwd);
    },
    command,
    env,
    planDir: (args, at = cwd) => path.join(cache, 'exec-plans', frontKey(fs.realpathSync(at), args)!),
  };
};

const listingOf = (closure: readonly string[]): string[] => ['.', '..', ...closure.map(entry => path.basename(entry))].sort();

for (const caller of mountingWays) {
  const same = suite(`the front, as ${caller.name}`);
  const sameTest = when(same, caller.needs);

  sameTest('the second exec starts from its plan without Node and gives the jail Node gives: view, environment, descriptors 5, 10 and 200, exit status', async () => {
    const {app, closure} = buildFixture();
    const front = frontFor(caller);
    await settledStore();
    const script = 'ls -a /nix/store; echo ==; env | sort; echo ==; ls /proc/self/fd; exit 3';
    const args = front.exec('--', `${app}/bin/sh`, '-c', script);
    const first = front.run(args, {env: FAST});
    assert.is(first.status, 125, 'no plan before the first exec');
    assert.match(first.stderr, /the launch plan was not used: no plan/);
    assert.not.ok(fs.existsSync(front.planDir(args)), 'nothing is recorded without Node');
    const recorded = front.run(args);
    assert.is(recorded.status, 3, recorded.stderr);
    assert.ok(fs.existsSync(path.join(front.planDir(args), 'seal')), 'Node recorded the plan where the front looks (the keys agree)');
    const slow = front.run(args, {env: SLOW, fds: [5, 10, 200]});
    assert.is(slow.status, 3, slow.stderr);
    assert.equal(slow.stdout.split('==\n')[0]!.trim().split('\n').sort(), listingOf(closure));
    assert.equal(slow.stdout.split('==\n')[2]!.trim().split('\n'), ['0', '1', '2', '3'], 'descriptors 0-2 and ls\'s own');
    for (const [name, shell] of SHELLS) {
      const fast = front.run(args, {env: FAST, fds: [5, 10, 200], shell: shell()});
      assert.is(fast.status, 3, `${name}: ${fast.stderr}`);
      assert.is(fast.stdout, slow.stdout, name);
      assert.is(fast.stderr, '', name);
    }
    tally('escape', 1);
  });

  sameTest('exit statuses and signals come through as with Node: 0, 1, 127 for a missing program, 143 for SIGTERM, SIGINT to the program\'s handler', async () => {
    const {app} = buildFixture();
    const front = frontFor(caller);
    await settledStore();
    for (const [script, status] of [['exit 0', 0], ['exit 1', 1], ['kill -TERM $$', 143], ['exec /nonexistent', 127]] as const) {
      const args = front.exec('--', `${app}/bin/sh`, '-c', script);
      const slow = front.run(args);
      assert.is(slow.status, status, `${script} through Node: ${slow.stderr}`);
      const fast = front.run(args, {env: FAST});
      assert.is(fast.status, status, `${script} from the plan: ${fast.stderr}`);
    }
    const args = front.exec('--', `${app}/bin/sh`, '-c', 'trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.05; done');
    // The first start goes to Node, which records the plan; then Node alone, then the plan alone.
    for (const [way, extra] of [['Node, recording', {}], ['Node', SLOW], ['the plan', FAST]] as const) {
      for (const [signal, expected, output] of [['SIGINT', 5, 'got INT\n'], ['SIGTERM', 143, '']] as const) {
        const [command, argv] = front.command(args);
        const child = spawn(command, argv, {env: {...front.env(), ...extra}, cwd: front.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true});
        let stdout = '';
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const ready = new Promise<void>(resolve => child.stdout.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          if (stdout.includes('ready\n')) resolve();
        }));
        const ended = new Promise<number | null>(resolve => child.on('close', code => resolve(code)));
        const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), 20_000);
        await ready;
        // SIGINT as a terminal sends it, to the whole group; SIGTERM to the front alone.
        process.kill(signal === 'SIGINT' ? -child.pid! : child.pid!, signal);
        const code = await ended;
        clearTimeout(timer);
        assert.is(code, expected, `${signal} through ${way} (${stderr})`);
        assert.is(stdout, `ready\n${output}`, `${signal} through ${way}`);
      }
    }
  });

  sameTest('Ctrl-C at a real terminal reaches the program\'s handler, through Node and from the plan under each shell', async () => {
    const {app} = buildFixture();
    const front = frontFor(caller);
    await settledStore();
    const args = front.exec('--', `${app}/bin/sh`, '-c', 'trap "echo got INT; exit 5" INT; echo ready; while :; do sleep 0.05; done');
    const paths: Array<[string, NodeJS.ProcessEnv, string | undefined]> = [['Node, recording', {}, undefined], ['Node', SLOW, undefined], ...SHELLS.map(([name, shell]): [string, NodeJS.ProcessEnv, string | undefined] => [`the plan under ${name}`, FAST, shell()])];
    for (const [way, extra, shell] of paths) {
      const [command, argv] = front.command(args, shell);
      const {code, output} = await interruptAtTerminal(command, argv, {...front.env(), ...extra}, front.cwd);
      assert.is(code, 5, `${way}: ${output}`);
      assert.match(output, /got INT/, way);
    }
    tally('escape', 1);
  });

  sameTest('what changes what exec would do sends the next start to Node, and a new plan: argument, directory, variable, store, bound file, gc, another user\'s plan', async () => {
    const {app, closure} = buildFixture();
    const front = frontFor(caller);
    const owner = caller.user ? TEST_USER : undefined;
    const data = tempDir('front-data', owner);
    fs.chmodSync(data, 0o755);
    const bound = path.join(data, 'bound.txt');
    fs.writeFileSync(bound, 'first\n', {mode: 0o644});
    if (owner !== undefined) execFileSync('chown', [owner, bound]);
    await settledStore();
    const args = front.exec('--mode', 'whiteout', '--ro-bind', `${bound}:/data/bound.txt`, '--', `${app}/bin/sh`, '-c', 'ls /nix/store | wc -l; cat /data/bound.txt');
    const expected = (text: string): string => `${closure.length}\n${text}`;
    const holds = (text = 'first\n', env: NodeJS.ProcessEnv = {}): void => {
      const fast = front.run(args, {env: {...FAST, ...env}});
      assert.is(fast.status, 0, fast.stderr);
      assert.is(fast.stdout.replace(/^ +/, ''), expected(text));
    };
    const fallsBack = async (why: RegExp, text = 'first\n', env: NodeJS.ProcessEnv = {}, runArgs = args, cwd?: string): Promise<void> => {
      const refused = front.run(runArgs, {env: {...FAST, ...env}, cwd});
      assert.is(refused.status, 125, refused.stdout);
      assert.match(refused.stderr, why);
      await settledStore();
      const again = front.run(runArgs, {env, cwd});
      assert.is(again.status, 0, again.stderr);
      const fast = front.run(runArgs, {env: {...FAST, ...env}, cwd});
      assert.is(fast.status, 0, `recorded again: ${fast.stderr}`);
      assert.is(fast.stdout.replace(/^ +/, ''), again.stdout.replace(/^ +/, ''));
      if (runArgs === args) assert.is(fast.stdout.replace(/^ +/, ''), expected(text));
    };
    await fallsBack(/no plan/);
    holds();

    // Another argument, another directory: another invocation, with no plan yet.
    await fallsBack(/no plan/, 'first\n', {}, [...args.slice(0, -1), `${args.at(-1)!} `]);
    const elsewhere = tempDir('front-elsewhere', owner);
    fs.chmodSync(elsewhere, 0o755);
    await fallsBack(/no plan/, 'first\n', {}, args, elsewhere);
    holds();

    // A variable planning read.
    await fallsBack(/XDG_RUNTIME_DIR is not what it was/, 'first\n', {XDG_RUNTIME_DIR: '/nonexistent/runtime'});
    await fallsBack(/XDG_RUNTIME_DIR is not what it was/);

    // A store entry added under the whiteout mask.
    addStorePath(`noj-front-${Date.now()}`);
    await fallsBack(/the store, the mask or a bound path changed/);

    // The bound file replaced.
    fs.writeFileSync(`${bound}.new`, 'second\n', {mode: 0o644});
    if (owner !== undefined) execFileSync('chown', [owner, `${bound}.new`]);
    fs.renameSync(`${bound}.new`, bound);
    await fallsBack(/the store, the mask or a bound path changed/, 'second\n');

    // The mask removed by gc (with the plans: nothing of this one is in use).
    const [gcCommand, gcArgv] = front.command(['gc', '--max-age', '0']);
    const gc = collect(gcCommand, gcArgv, front.env());
    assert.is(gc.status, 0, gc.stderr);
    assert.match(gc.stdout, /removed [1-9]\d* exec plan\(s\)/);
    await fallsBack(/no plan|the mask is gone|a path the plan depends on is gone/, 'second\n');

    // Another user's plan, planted where this invocation's is.
    const planDir = front.planDir(args);
    const planted = `${planDir}.planted`;
    // The plan's files (a start's status file, run.PID, may be going away as this copies).
    fs.mkdirSync(planted, {mode: 0o700});
    for (const name of fs.readdirSync(planDir).filter(name => !name.startsWith('run.'))) fs.copyFileSync(path.join(planDir, name), path.join(planted, name));
    // Readable by the caller, so the front gets as far as its owner.
    execFileSync('chown', ['-R', caller.user ? 'root' : TEST_USER, planted]);
    execFileSync('chmod', ['-R', 'go+rX', planted]);
    fs.rmSync(planDir, {recursive: true});
    fs.renameSync(planted, planDir);
    const refused = front.run(args, {env: FAST});
    assert.is(refused.status, 125);
    assert.match(refused.stderr, /the plan directory is not the caller's alone/);
    // Node cannot write there either, and says nothing of it: the jail runs, from Node each time.
    const fromNode = front.run(args);
    assert.is(fromNode.status, 0, fromNode.stderr);
    assert.is(fromNode.stdout.replace(/^ +/, ''), expected('second\n'));
    fs.rmSync(planDir, {recursive: true});
    await fallsBack(/no plan/, 'second\n');
    tally('mask', 4);
  });

  same.run();
}

const [root, user] = [mountingWays[0]!, mountingWays[1]!];
const leftToNode = suite('what the front leaves to Node');
const leftTest = when(leftToNode, root.needs ?? user.needs);

leftTest('other commands, --help, --dry-run, a word with a newline, --timeout and NIX_OVERLAY_JAIL_NO_PLAN go to Node, and Node records no plan for them', async () => {
  const {app} = buildFixture();
  for (const caller of [root, user]) {
    const front = frontFor(caller);
    await settledStore();
    const version = front.run(['--version'], {env: FAST});
    assert.is(version.status, 0, `${caller.name}: REQUIRE_PLAN is for exec alone: ${version.stderr}`);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const help = front.run(['exec', '--help']);
    assert.match(help.stdout, /--launch-plan/);
    const cases: Array<[string[], RegExp, number]> = [
      [front.exec('--dry-run', '--', `${app}/bin/sh`, '-c', 'true'), /no plan/, 0],
      [front.exec('--', `${app}/bin/sh`, '-c', 'echo "line\nbreak"'), /an argument holds a newline/, 0],
      [front.exec('--timeout', '30s', '--', `${app}/bin/sh`, '-c', 'true'), /not sealed|no plan/, 0],
    ];
    for (const [args, why, status] of cases) {
      for (let round = 0; round < 2; round++) {
        const slow = front.run(args);
        assert.is(slow.status, status, `${caller.name}, ${args.join(' ')}: ${slow.stderr}`);
        const fast = front.run(args, {env: FAST});
        assert.is(fast.status, 125, `${caller.name}, ${args.join(' ')}: never from a plan`);
        assert.match(fast.stderr, why);
      }
    }
    const plain = front.exec('--', `${app}/bin/sh`, '-c', 'true');
    assert.is(front.run(plain, {env: SLOW}).status, 0);
    const off = front.run(plain, {env: {...FAST, ...SLOW}});
    assert.is(off.status, 125);
    assert.match(off.stderr, /NIX_OVERLAY_JAIL_NO_PLAN is set/);
    assert.not.ok(fs.existsSync(front.planDir(plain)), 'with NIX_OVERLAY_JAIL_NO_PLAN, nothing is recorded');
    if (caller.user) {
      // Where the cache is not named by the environment alone, the front cannot find it.
      const relative = front.run(plain, {env: {...FAST, HOME: 'relative/home'}});
      assert.is(relative.status, 125);
      assert.match(relative.stderr, /HOME is not an absolute path/);
    }
  }
});

leftTest('the jail never sees the front\'s request to record (NIX_OVERLAY_JAIL_FRONT), from Node or from the plan', async () => {
  const {app} = buildFixture();
  const front = frontFor(root);
  await settledStore();
  const args = front.exec('--keep-env', 'NIX_OVERLAY_JAIL_FRONT', '--', `${app}/bin/sh`, '-c', 'echo "${NIX_OVERLAY_JAIL_FRONT-unset}"');
  for (const env of [{}, FAST, {NIX_OVERLAY_JAIL_FRONT: '1'}]) {
    const seen = front.run(args, {env});
    assert.is(seen.status, 0, seen.stderr);
    assert.is(seen.stdout, 'unset\n');
  }
});

const keys = suite('the front\'s key');

keys('is the one exec computes, for words shells and hashes could take apart: quotes, backslashes, $, spaces, EOF, empty, non-ASCII', () => {
  const home = tempDir('front-key');
  // Where the front looks: HOME/.cache/nix-overlay-jail, or root's cache (made as exec makes it).
  const cache = frontCacheDir({HOME: home}, process.getuid!())!;
  MaskCache.open(cache);
  const odd = ["it's", '"', '\\', '\\n', '$(id)', '`id`', '${HOME}', 'a  b', ' ', '', '-e', '-n', 'EOF', '*', 'grüße', '\t'];
  for (const [name, shell] of SHELLS) {
    for (const words of [['exec', ...odd], ['exec', '--', 'x'], ['exec', ...odd.map(word => `--setenv=X=${word}`)]]) {
      // A plan directory at the key exec names, with a way the front does not know: the front
      // says so only when it looked there.
      const dir = path.join(cache, 'exec-plans', frontKey(fs.realpathSync(home), words)!);
      fs.mkdirSync(dir, {recursive: true, mode: 0o700});
      fs.writeFileSync(path.join(dir, 'way'), 'nowhere\n');
      const argv = [...(shell() === undefined ? [] : [shell()!]), FRONT, ...words];
      const probe = collect(argv[0]!, argv.slice(1), {PATH: process.env['PATH'], HOME: home, ...FAST}, [], home);
      assert.is(probe.status, 125, name);
      assert.match(probe.stderr, /the plan mounts in a way this launcher does not know/, `${name}: ${JSON.stringify(words)}`);
      fs.rmSync(dir, {recursive: true});
    }
  }
});

const crowd = suite('the front under load');
const crowdTest = when(crowd, root.needs ?? user.needs);

crowdTest('many identical execs at once, beside Node rewriting the plan and gc, all give the jail\'s output and status', async () => {
  const {app, closure} = buildFixture();
  for (const caller of [root, user]) {
    const front = frontFor(caller);
    await settledStore();
    const args = front.exec('--', `${app}/bin/sh`, '-c', 'ls /nix/store | wc -l; exit 7');
    assert.is(front.run(args).status, 7);
    const [command, argv] = front.command(args);
    // Node asked to record, as the front asks it: the plan rewritten under the others.
    const [nodeCommand, nodeArgv] = launcherCommand(caller, process.execPath, [caller.user ? userCli() : CLI, ...args]);
    const [gcCommand, gcArgv] = front.command(['gc', '--max-age', '0']);
    const jails: Array<Promise<Exit>> = [];
    const gcs: Array<Promise<Exit>> = [];
    for (let i = 0; i < 24; i++) {
      jails.push(startCollecting(command, argv, front.env(), front.cwd));
      if (i % 6 === 0) jails.push(startCollecting(nodeCommand, nodeArgv, {...front.env(), NIX_OVERLAY_JAIL_FRONT: '1'}, front.cwd));
      if (i % 8 === 0) gcs.push(startCollecting(gcCommand, gcArgv, front.env(), '/'));
    }
    for (const exit of await Promise.all(jails)) {
      assert.is(exit.code, 7, `${caller.name}: ${exit.stderr}`);
      assert.is(exit.stdout.trim(), String(closure.length), caller.name);
    }
    for (const exit of await Promise.all(gcs)) assert.is(exit.code, 0, exit.stderr);
    // Still a plan the front can start from, or none (gc came last): never a broken one.
    await settledStore();
    assert.is(front.run(args).status, 7);
    const fast = front.run(args, {env: FAST});
    assert.is(fast.status, 7, `${caller.name}: ${fast.stderr}`);
  }
});

crowdTest('gc removes exec plans not used for --max-age, never one a start is using, and leaves launchers\' plans', async () => {
  const {app} = buildFixture();
  const front = frontFor(user);
  await settledStore();
  const old = front.exec('--', `${app}/bin/sh`, '-c', 'exit 0');
  const busy = front.exec('--', `${app}/bin/sh`, '-c', 'exit 0', 'busy');
  for (const args of [old, busy]) assert.is(front.run(args).status, 0);
  const launcher = path.join(front.cwd, 'launcher');
  assert.is(front.run(['wrap', '--out', launcher, `${app}/bin/sh`, '-c', 'exit 0']).status, 0);
  const [launcherPlan] = fs.readdirSync(path.join(front.cache, 'plans')).map(name => path.join(front.cache, 'plans', name));
  // A start from `busy` that runs: its status file, of a live process.
  const sleeper = spawn('sleep', ['30'], {stdio: 'ignore'});
  fs.writeFileSync(path.join(front.planDir(busy), `run.${sleeper.pid}.1`), '');
  const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
  for (const dir of [front.planDir(old), front.planDir(busy), launcherPlan!]) fs.utimesSync(dir, twoDaysAgo, twoDaysAgo);
  try {
    const gc = front.run(['gc', '--max-age', '1d', '--json']);
    assert.is(gc.status, 0, gc.stderr);
    const {execPlans} = JSON.parse(gc.stdout) as {execPlans: {removed: number; kept: number; inUse: number; freedBytes: number}};
    assert.equal([execPlans.removed, execPlans.kept, execPlans.inUse], [1, 1, 1]);
    assert.ok(execPlans.freedBytes > 0);
    assert.not.ok(fs.existsSync(front.planDir(old)));
    assert.ok(fs.existsSync(path.join(front.planDir(busy), 'seal')));
    assert.ok(fs.existsSync(path.join(launcherPlan!, 'seal')), 'a launcher\'s plan lives as long as its launcher');
  } finally {
    sleeper.kill();
  }
  const byAge = front.run(old, {env: FAST});
  assert.is(byAge.status, 125);
  assert.match(byAge.stderr, /no plan/);
  // By size, with the masks: the least recently used first, never one in use.
  assert.is(front.run(old).status, 0);
  const stillBusy = spawn('sleep', ['30'], {stdio: 'ignore'});
  fs.writeFileSync(path.join(front.planDir(busy), `run.${stillBusy.pid}.1`), '');
  try {
    const bySize = front.run(['gc', '--max-size', '1', '--json']);
    assert.is(bySize.status, 0, bySize.stderr);
    const {execPlans} = JSON.parse(bySize.stdout) as {execPlans: {removed: number; kept: number; inUse: number}};
    assert.equal([execPlans.removed, execPlans.kept, execPlans.inUse], [1, 1, 0]);
    assert.not.ok(fs.existsSync(front.planDir(old)));
    assert.ok(fs.existsSync(path.join(front.planDir(busy), 'seal')));
  } finally {
    stillBusy.kill();
  }
});

for (const run of [leftToNode, keys, crowd]) run.run();
