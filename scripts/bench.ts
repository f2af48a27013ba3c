/**
 * The benchmark: mask builds on synthetic stores, and jail start-up against bubblewrap binding
 * the whole store or every closure path. Run with `npm run bench` (as root); writes
 * bench/results.md (the tables, with the machine and versions) and bench/startup.svg (the
 * start-up chart), and prints the tables.
 *
 *   --sizes 10000,100000,1000000   synthetic store sizes for the mask build table
 *   --runs 31                      repetitions per start-up measurement (the median is shown)
 *   --work DIR                     where synthetic stores and caches go (default /var/tmp/noj-bench)
 *   --skip-real                    leave out the real Nix closure of ~1,000 paths
 *   --skip-build                   leave out the mask build table
 */
import {execFileSync, spawnSync} from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {closeInheritedDescriptors} from '../src/jail/descriptors.js';
import {frontKey} from '../src/launch/record.js';
import {buildFixture, debianPrograms} from '../test/helpers/nix.js';
import {addBusybox, addEntries, BUSYBOX_ENTRY, makeStore, settle, storeName} from '../test/helpers/store.js';
import {startupChart, type Series} from './bench/chart.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = path.join(ROOT, 'dist/bin/nix-overlay-jail.cjs');

const option = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at === -1 ? fallback : process.argv[at + 1] ?? fallback;
};
const SIZES = option('sizes', '10000,100000,1000000').split(',').map(Number);
const RUNS = Number(option('runs', '31'));
const WORK = option('work', '/var/tmp/noj-bench');
const SKIP_REAL = process.argv.includes('--skip-real');
const SKIP_BUILD = process.argv.includes('--skip-build');
const FLOOR = path.join(WORK, 'link-floor');

const ms = (ns: bigint): number => Number(ns) / 1e6;
const fmt = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

/** Wall time of one command, in ms; throws when it fails. `files` are opened on descriptors 3, 4, ... */
const timeOnce = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env, files: ReadonlyArray<[string, 'r' | 'w']> = []): number => {
  const fds = files.map(([file, flags]) => fs.openSync(file, flags));
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, {stdio: ['ignore', 'ignore', 'pipe', ...fds], env, maxBuffer: 64 << 20});
  for (const fd of fds) fs.closeSync(fd);
  const elapsed = ms(process.hrtime.bigint() - start);
  if (result.status !== 0) throw new Error(`${command} ${args.slice(0, 6).join(' ')}… exited ${result.status}: ${result.stderr}`);
  return elapsed;
};

const timeMedian = (command: string, args: string[], env?: NodeJS.ProcessEnv): number => {
  timeOnce(command, args, env); // warm the page cache and any mask
  return median(Array.from({length: RUNS}, () => timeOnce(command, args, env)));
};

interface Timed {
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  files?: ReadonlyArray<[string, 'r' | 'w']>;
}

/** Median wall times of several commands, measured in RUNS interleaved rounds. */
const timeInterleaved = (commands: readonly Timed[]): number[] => {
  for (const {command, args, env, files} of commands) timeOnce(command, args, env, files); // warm the page cache and any mask
  const samples = commands.map(() => [] as number[]);
  for (let round = 0; round < RUNS; round++) {
    commands.forEach(({command, args, env, files}, index) => samples[index]!.push(timeOnce(command, args, env, files)));
  }
  return samples.map(median);
};

/** Peak resident memory (MB) and wall time (ms) of one command, through GNU time. */
const measureWithTime = (args: string[]): {ms: number; peakMb: number; stdout: string} => {
  const report = path.join(WORK, 'time.out');
  const start = process.hrtime.bigint();
  const stdout = execFileSync('/usr/bin/time', ['-f', '%M', '-o', report, ...args], {encoding: 'utf8', maxBuffer: 64 << 20});
  const elapsed = ms(process.hrtime.bigint() - start);
  return {ms: elapsed, peakMb: Number(fs.readFileSync(report, 'utf8').trim().split('\n').pop()) / 1024, stdout};
};

/** Whether a command lists a directory (getdents64 on it), seen through strace. */
const readsDirectory = (args: string[], dir: string): boolean | undefined => {
  if (spawnSync('sh', ['-c', 'command -v strace'], {stdio: 'ignore'}).status !== 0) return undefined;
  const log = path.join(WORK, 'strace.out');
  execFileSync('strace', ['-f', '-qq', '-e', 'trace=openat,getdents64', '-o', log, ...args], {stdio: 'ignore'});
  const lines = fs.readFileSync(log, 'utf8').split('\n');
  const fds = new Set(lines.filter(line => line.includes(`openat(AT_FDCWD, "${dir}"`) && line.includes('O_DIRECTORY'))
    .map(line => /= (\d+)$/.exec(line)?.[1]).filter(Boolean));
  return lines.some(line => fds.has(/getdents64\((\d+),/.exec(line)?.[1] ?? '-'));
};

const lines: string[] = [];
const out = (line = ''): void => {
  lines.push(line);
  console.log(line);
};

const machine = (): void => {
  const version = (command: string, args: string[]): string => {
    try {
      return execFileSync(command, args, {encoding: 'utf8'}).trim().split('\n')[0]!;
    } catch {
      return 'not found';
    }
  };
  out(`Machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
    `Linux ${os.release()}; ${findmntType(WORK)} at ${WORK}; node ${process.version}; ${version('bwrap', ['--version'])}; ${version('nix-store', ['--version'])}; ` +
    `${new Date().toISOString().slice(0, 10)}; median of ${RUNS} runs for start-up times.`);
  out();
};

const findmntType = (dir: string): string => {
  try {
    // One line per mount stacked there: the last is the one in effect.
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '-T', dir], {encoding: 'utf8'}).trim().split('\n').pop()!;
  } catch {
    return 'unknown fs';
  }
};

/** A synthetic store of `size` entries, made once and kept for later runs. */
const syntheticStore = (size: number): {dir: string; names: string[]; name: (index: number) => string} => {
  const dir = path.join(WORK, `store-${size}`);
  const marker = path.join(WORK, `store-${size}.done`);
  if (!fs.existsSync(marker)) {
    fs.rmSync(dir, {recursive: true, force: true});
    console.error(`making a synthetic store of ${size} entries in ${dir}…`);
    makeStore(dir, size, `bench-${size}`);
    fs.writeFileSync(marker, '');
  }
  const name = (index: number): string => storeName(`bench-${size}`, index);
  // Only the first entries are ever named by a closure: no need to hold a million names.
  return {dir, names: Array.from({length: Math.min(size, 5000)}, (_, index) => name(index)), name};
};

const writeClosure = (file: string, names: readonly string[]): string => {
  fs.writeFileSync(file, names.map(name => `/nix/store/${name}\n`).join(''));
  return file;
};

const buildTable = (): void => {
  out('### Mask build (whiteout mode; builds, floors and refreshes: median of 3)');
  out();
  out('| store entries | link() floor (C) | cold build | cold / floor | warm lookup | reads store dir when warm | refresh after 1,000 new | refresh / cold | peak memory |');
  out('| ---: | ---: | ---: | ---: | ---: | :---: | ---: | ---: | ---: |');
  for (const size of SIZES) {
    const store = syntheticStore(size);
    settle(store.dir);
    const closure = store.names.slice(0, 10);
    const closureFile = writeClosure(path.join(WORK, `closure-${size}.txt`), closure);
    const closureSet = new Set(closure);

    // The floor: a C loop of link() over the same entries, into a fresh directory.
    const floorDir = path.join(WORK, 'floor');
    const namesFile = path.join(WORK, 'names.txt');
    const namesFd = fs.openSync(namesFile, 'w');
    const handle = fs.opendirSync(store.dir, {bufferSize: 4096});
    let batch: string[] = [];
    for (let entry = handle.readSync(); entry !== null; entry = handle.readSync()) {
      if (!closureSet.has(entry.name)) batch.push(entry.name);
      if (batch.length === 4096) {
        fs.writeSync(namesFd, `${batch.join('\n')}\n`);
        batch = [];
      }
    }
    if (batch.length > 0) fs.writeSync(namesFd, `${batch.join('\n')}\n`);
    handle.closeSync();
    fs.closeSync(namesFd);
    const floors = Array.from({length: 3}, () => {
      fs.rmSync(floorDir, {recursive: true, force: true});
      fs.mkdirSync(path.join(floorDir, 'layer'), {recursive: true});
      fs.mkdirSync(path.join(floorDir, 'templates'));
      const floorStart = process.hrtime.bigint();
      execFileSync('sh', ['-c', `"${FLOOR}" "$1" "$2" < "$3"`, 'sh', path.join(floorDir, 'layer'), path.join(floorDir, 'templates'), namesFile]);
      return ms(process.hrtime.bigint() - floorStart);
    });
    const floor = median(floors);
    fs.rmSync(floorDir, {recursive: true, force: true});

    // Cold builds and refreshes are single runs each; take the median of three of each.
    const repeats = 3;
    const cache = path.join(WORK, `cache-${size}`);
    const args = [process.execPath, CLI, 'build', '--json', '--mode', 'whiteout', '--store', store.dir, '--closure-file', closureFile, '--cache-dir', cache];
    const colds: Array<{ms: number; peakMb: number}> = [];
    const refreshes: number[] = [];
    let warm = 0;
    let reads: boolean | undefined;
    for (let round = 0; round < repeats; round++) {
      fs.rmSync(cache, {recursive: true, force: true});
      settle(store.dir);
      const cold = measureWithTime(args);
      if (JSON.parse(cold.stdout).status !== 'built') throw new Error('cold build did not build');
      colds.push(cold);
      if (round === 0) {
        warm = median(Array.from({length: RUNS}, () => timeOnce(args[0]!, args.slice(1))));
        reads = readsDirectory(args, store.dir);
      }
      const added = addEntries({dir: store.dir, names: store.names}, 1000, `bench-new-${Date.now()}-${round}`);
      const refresh = measureWithTime(args);
      // Keep the store at its size for the next round and the next run.
      for (const name of added) fs.rmSync(path.join(store.dir, name));
      const refreshed = JSON.parse(refresh.stdout) as {status: string; added: number};
      if (refreshed.status !== 'refreshed' || refreshed.added !== 1000) throw new Error(`refresh: ${refresh.stdout}`);
      refreshes.push(refresh.ms);
    }
    const cold = {ms: median(colds.map(run => run.ms)), peakMb: Math.max(...colds.map(run => run.peakMb))};
    const refresh = {ms: median(refreshes)};
    out(`| ${size.toLocaleString('en')} | ${fmt(floor)} ms | ${fmt(cold.ms)} ms | ${(cold.ms / floor).toFixed(2)}× | ${fmt(warm)} ms | ${reads === undefined ? 'n/a (no strace)' : reads ? 'yes' : 'no'} | ${fmt(refresh.ms)} ms | ${(100 * refresh.ms / cold.ms).toFixed(0)}% | ${cold.peakMb.toFixed(0)} MB |`);
    fs.rmSync(cache, {recursive: true, force: true});
  }
  out();
};

/** bubblewrap with the same sandbox as exec, binding the store in one of the two old ways. */
const bwrapBaseline = (binds: string[], program: string[]): string[] => [
  '--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--unshare-net',
  '--die-with-parent', '--cap-drop', 'ALL', ...binds, '--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp',
  '--clearenv', '--setenv', 'PATH', '/nix/store/x/bin', '--', ...program,
];

interface StartupResult {
  paths: number;
  ours: number;
  whole: number;
  perPath: number | undefined;
}

interface StartupRow {
  label: string;
  storeDir: string;
  closureNames: string[];
  program: string[];
  execArgs: string[];
}

/**
 * Start-up rows measured together: exec, bubblewrap binding the whole store, and `node -e 0`,
 * for every row, in interleaved rounds (a noisy moment of this shared machine then touches
 * every cell alike, and the ratios between rows hold). bubblewrap with one bind per path,
 * seconds a run at 1,000 paths and far above the noise, is timed on its own.
 */
const startupRows = (rows: readonly StartupRow[]): StartupResult[] => {
  const commands = [
    {command: process.execPath, args: ['-e', '0']},
    ...rows.flatMap(row => [
      {command: process.execPath, args: [CLI, 'exec', ...row.execArgs, '--', ...row.program]},
      {command: 'bwrap', args: bwrapBaseline(['--ro-bind', row.storeDir, '/nix/store'], row.program)},
    ]),
  ];
  const [node, ...times] = timeInterleaved(commands);
  return rows.map((row, index) => {
    const ours = times[2 * index]!;
    const whole = times[2 * index + 1]!;
    const perPathBinds = row.closureNames.flatMap(name => ['--ro-bind', path.join(row.storeDir, name), `/nix/store/${name}`]);
    let perPath: string;
    try {
      perPath = `${fmt(timeMedian('bwrap', bwrapBaseline(perPathBinds, row.program)))} ms`;
    } catch (error) {
      perPath = /argument/i.test(String(error)) || perPathBinds.length > 9000 ? 'refused (argument limit)' : `failed: ${String(error).slice(0, 60)}`;
    }
    const perPathMs = Number.parseFloat(perPath);
    out(`| ${row.label} | ${fmt(ours)} ms | ${fmt(whole)} ms | ${perPath} | ${Number.isNaN(perPathMs) ? '—' : `${(perPathMs / ours).toFixed(1)}×`} | ${fmt(node!)} ms | ${(ours / (node! + whole)).toFixed(2)}× |`);
    return {paths: row.closureNames.length, ours, whole, perPath: Number.isNaN(perPathMs) ? undefined : perPathMs};
  });
};

const startupTable = (): StartupResult[] => {
  const size = 100_000;
  const store = syntheticStore(size);
  // The program: the static busybox, installed as one entry of the synthetic store.
  const program = [addBusybox(store.dir), 'true'];
  settle(store.dir);
  out(`### Jail start-up, \`exec -- true\`, synthetic store of ${size.toLocaleString('en')} entries (warm mask)`);
  out();
  out('| closure paths | nix-overlay-jail exec | (a) bwrap, whole store | (b) bwrap, one --ro-bind per path | (b) / exec | node -e 0 | exec / (node + a) |');
  out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const results = startupRows([10, 100, 1000, 5000].map(count => {
    const closure = [BUSYBOX_ENTRY, ...store.names.slice(0, count - 1)];
    const file = writeClosure(path.join(WORK, `exec-closure-${count}.txt`), closure);
    const cache = path.join(WORK, 'cache-exec');
    return {label: String(count), storeDir: store.dir, closureNames: closure, program, execArgs: ['--store', store.dir, '--closure-file', file, '--cache-dir', cache]};
  }));
  out();
  const first = results[0]!;
  const last = results[results.length - 1]!;
  const thousand = results.find(result => result.paths === 1000);
  out(`Headline: at 1,000 paths exec starts in ${fmt(thousand?.ours ?? 0)} ms against ${thousand?.perPath === undefined ? 'n/a' : `${fmt(thousand.perPath)} ms`} for one bind per path ` +
    `(${thousand?.perPath === undefined ? '—' : `${(thousand.perPath / thousand.ours).toFixed(1)}×`}); 5,000 paths take ${(last.ours / first.ours).toFixed(2)}× the time of 10.`);
  out();
  return results;
};

const writeChart = (results: readonly StartupResult[]): void => {
  const series: Series[] = [
    {label: 'nix-overlay-jail exec', colour: '#1b7f3b', points: results.map(result => [result.paths, result.ours])},
    {label: 'bwrap, whole store', colour: '#888888', points: results.map(result => [result.paths, result.whole])},
    {label: 'bwrap, --ro-bind per path', colour: '#c0392b', points: results.map(result => [result.paths, result.perPath])},
  ];
  const missingPerPath = results.filter(result => result.perPath === undefined).map(result => result.paths.toLocaleString('en'));
  const note = missingPerPath.length > 0 ? ['per-path bwrap refused', `${missingPerPath.join(', ')} paths (its`, 'argument limit)'] : [];
  fs.writeFileSync(path.join(ROOT, 'bench', 'startup.svg'), startupChart('Jail start-up against closure size (100,000-entry store)', series, note));
};

/** Allowlist masks: build time against closure and store size, and start-up beside whiteout masks. */
const allowlistTable = (): void => {
  // The allowlist layer stacks over the store's parent, so its cache must live outside it.
  // An allowlist build creates a file or directory per closure path, and creating files on
  // this VM's ext4 took from 0.2 s to 2.7 s for 5,000 on the same day: on a tmpfs (which
  // takes trusted xattrs) the table measures the tool, not that.
  const onTmpfs = findmntType('/dev/shm') === 'tmpfs';
  const cacheRoot = onTmpfs ? fs.mkdtempSync('/dev/shm/noj-bench-allowlist-') : `${WORK}-allowlist-cache`;
  const sizes = SIZES.filter(size => size >= 100_000);
  out(`### Allowlist masks (real root; builds: median of 3; their cache on ${onTmpfs ? 'tmpfs (/dev/shm)' : findmntType(WORK)})`);
  out();
  out(`| closure paths | ${sizes.map(size => `build, ${size.toLocaleString('en')}-entry store`).join(' | ')} | ratio | exec -- true, allowlist | exec -- true, whiteout |`);
  out(`| ---: | ${sizes.map(() => '---:').join(' | ')} | ---: | ---: | ---: |`);
  for (const count of [10, 1000, 5000]) {
    const builds = sizes.map(size => {
      const store = syntheticStore(size);
      const file = writeClosure(path.join(WORK, `allow-closure-${size}-${count}.txt`), store.names.slice(0, count));
      const cache = path.join(cacheRoot, `build-${size}-${count}`);
      // A cold build each time: the median of three.
      return median(Array.from({length: 3}, () => {
        fs.rmSync(cache, {recursive: true, force: true});
        return timeOnce(process.execPath, [CLI, 'build', '--mode', 'allowlist', '--store', store.dir, '--closure-file', file, '--cache-dir', cache]);
      }));
    });
    const store = syntheticStore(100_000);
    const file = path.join(WORK, `exec-closure-${count}.txt`);
    const program = [addBusybox(store.dir), 'true'];
    const execWith = (mode: string, cache: string): number =>
      timeMedian(process.execPath, [CLI, 'exec', '--mode', mode, '--store', store.dir, '--closure-file', file, '--cache-dir', cache, '--', ...program]);
    const allow = fs.existsSync(file) ? execWith('allowlist', path.join(cacheRoot, 'exec')) : undefined;
    const white = fs.existsSync(file) ? execWith('whiteout', path.join(WORK, 'cache-exec')) : undefined;
    const ratio = builds.length > 1 ? `${(Math.max(...builds) / Math.min(...builds)).toFixed(2)}×` : '—';
    out(`| ${count.toLocaleString('en')} | ${builds.map(ms => `${fmt(ms)} ms`).join(' | ')} | ${ratio} | ${allow === undefined ? '—' : `${fmt(allow)} ms`} | ${white === undefined ? '—' : `${fmt(white)} ms`} |`);
  }
  out();
  fs.rmSync(cacheRoot, {recursive: true, force: true});
};

/** A real Nix closure of about 1,000 paths: one derivation referencing 1,000 builtins.toFile paths. */
const realTable = (): void => {
  const env = {...process.env, ...(process.env['NIX_REMOTE'] ? {} : {NIX_REMOTE: 'local'})};
  const tree = path.join(WORK, 'busybox-src');
  fs.mkdirSync(path.join(tree, 'bin'), {recursive: true});
  fs.copyFileSync(fs.existsSync('/bin/busybox') ? '/bin/busybox' : '/usr/bin/busybox', path.join(tree, 'bin', 'busybox'));
  const busybox = execFileSync('nix-store', ['--add', tree], {encoding: 'utf8', env}).trim();
  const expression = path.join(WORK, 'thousand.nix');
  fs.writeFileSync(expression, `
    let bb = builtins.storePath "${busybox}";
        files = builtins.genList (i: builtins.toFile "noj-bench-file-\${toString i}" "file \${toString i}") 999;
    in derivation {
      name = "noj-bench-thousand"; system = builtins.currentSystem; builder = "\${bb}/bin/busybox";
      args = [ "sh" "-c" "\${bb}/bin/busybox mkdir -p $out/bin && \${bb}/bin/busybox ln -s \${bb}/bin/busybox $out/bin/true && echo $files > $out/refs" ];
      files = builtins.concatStringsSep " " files;
    }`);
  const app = execFileSync('nix-build', [expression, '--no-out-link', '--option', 'substituters', ''], {encoding: 'utf8', env, stdio: ['ignore', 'pipe', 'ignore']}).trim();
  const closure = execFileSync('nix-store', ['-qR', app], {encoding: 'utf8', env}).trim().split('\n').map(entry => path.basename(entry));
  const cache = path.join(WORK, 'cache-real');
  fs.rmSync(cache, {recursive: true, force: true});
  const cold = timeOnce(process.execPath, [CLI, 'exec', '--cache-dir', cache, '--', `${app}/bin/true`], env);
  out(`### Real Nix closure of ${closure.length} paths (host store: ${fs.readdirSync('/nix/store').length} entries)`);
  out();
  out(`First \`exec\` (nix-store -qR, mask build, jail): ${fmt(cold)} ms. Warm:`);
  out();
  out('| closure paths | nix-overlay-jail exec | (a) bwrap, whole store | (b) bwrap, one --ro-bind per path | (b) / exec | node -e 0 | exec / (node + a) |');
  out('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  process.env['NIX_REMOTE'] = env['NIX_REMOTE'];
  startupRows([{label: String(closure.length), storeDir: '/nix/store', closureNames: closure, program: [`/nix/store/${path.basename(app)}/bin/true`], execArgs: ['--cache-dir', cache]}]);
  out();
};

/**
 * What host resources cost a warm start: a real dynamically linked program (Debian's date,
 * patched into the store) with --net --locale --fonts against the same without them. Their
 * chains are followed on every start; their closures come from the cache.
 */
const hostTable = (): void => {
  out('### Host resources (warm exec of a dynamically linked program, median ms)');
  out();
  const {programs} = debianPrograms(['date']);
  const cache = path.join(WORK, 'cache-host');
  const exec = (options: string[]) => ({command: process.execPath, args: [CLI, 'exec', '--cache-dir', cache, ...options, '--', `${programs}/bin/date`]});
  const variants: Array<[string, string[]]> = [
    ['no options', []],
    ['--net --locale --fonts', ['--net', '--locale', '--fonts']],
  ];
  const times = timeInterleaved(variants.map(([, options]) => exec(options)));
  out('| options | warm exec |');
  out('| --- | ---: |');
  variants.forEach(([name], index) => out(`| ${name} | ${fmt(times[index]!)} |`));
  out();
  out(`Added by the options: ${fmt(times[1]! - times[0]!)} ms.`);
  out();
};

/**
 * bubblewrap alone with exactly the sandbox options of a launcher's plan (seccomp filter,
 * passwd and group, status descriptor, namespaces, ...), the store bound whole (or each
 * closure path bound, with `perPath`) instead of the mask's overlay: exec's command line for
 * the same program, from --dry-run, with the mount chain before bubblewrap left out.
 */
const bwrapOfPlan = (dryRun: string[], storeDir: string, perPath?: readonly string[]): string[] => {
  const args = dryRun.slice(dryRun.lastIndexOf('bwrap') + 1);
  const out: string[] = [];
  // The store whole, or (the peers' way) one --ro-bind per closure path.
  const store = perPath === undefined ? ['--ro-bind', storeDir, '/nix/store'] : perPath.flatMap(name => ['--ro-bind', path.join(storeDir, name), `/nix/store/${name}`]);
  for (let at = 0; at < args.length; at++) {
    const [word, after] = [args[at], args[at + 2]];
    if (word === '--overlay-src') {
      at += 1;
    } else if (word === '--ro-overlay' || word === '--remount-ro') {
      if (word === '--ro-overlay') out.push(...store);
      at += 1;
    } else if (word === '--ro-bind' && after === '/nix/store') {
      out.push(...store);
      at += 2;
    } else {
      out.push(word!);
    }
  }
  return out;
};

/** The paths the per-path column binds at most: beyond, bubblewrap's start takes seconds (startupTable has 1,000). */
const PER_PATH_UP_TO = 100;

/**
 * Plan once, launch many: a wrap launcher's warm start (its launch plan, no Node) and exec's
 * second start through the front (the installed nix-overlay-jail, from the plan exec recorded
 * for the same arguments) against bubblewrap alone binding the whole store, or each closure
 * path, with the same sandbox options, and against exec through Node and a first exec through
 * the front, at 10, 100, 1,000 and 5,000 closure paths of a 100,000-entry store, in interleaved
 * rounds; for the overlay mounted before bubblewrap (root: unshare, mount) and by bubblewrap
 * 0.11+ itself.
 *
 * The front keeps its plans and masks in root's own cache (/var/cache/nix-overlay-jail): the
 * section runs in a mount namespace of its own in which /var/cache is a tmpfs, gone with it
 * (the launchers' and exec's cache stays on WORK's filesystem).
 */
const launchTable = (): void => {
  if (process.env['NOJ_BENCH_PRIVATE_CACHE'] !== '1') {
    const result = spawnSync('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c', 'mount -t tmpfs -o mode=0755 noj-bench-cache /var/cache && exec "$@"', 'sh',
      process.execPath, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {stdio: 'inherit', env: {...process.env, NOJ_BENCH_PRIVATE_CACHE: '1'}});
    if (result.status !== 0) throw new Error('the launch section failed');
    return;
  }
  const size = 100_000;
  const store = syntheticStore(size);
  const program = [addBusybox(store.dir), 'true'];
  settle(store.dir);
  const front = path.join(ROOT, 'dist/bin/nix-overlay-jail');
  const newBwrap = process.env['NOJ_NEW_BWRAP_DIR'] ?? '/usr/local/libexec/nix-overlay-jail-tests/bubblewrap-new';
  const ways: Array<{name: string; short: string; options: string[]; env: NodeJS.ProcessEnv}> = [
    {name: 'root (unshare, mount, bwrap)', short: 'root', options: [], env: process.env},
    {name: 'user namespace (unshare --user, mount, bwrap)', short: 'userns', options: ['--mount-with', 'userns'], env: process.env},
    ...(fs.existsSync(path.join(newBwrap, 'bwrap'))
      ? [{name: 'bwrap 0.12 mounts the overlay', short: 'bwrap 0.12', options: ['--mount-with', 'bwrap'], env: {...process.env, PATH: `${newBwrap}:${process.env['PATH'] ?? ''}`}}]
      : []),
  ];
  // The same launcher under bash started as sh, as NixOS's /bin/sh runs it (Debian's is dash).
  const bashAsSh = path.join(WORK, 'bash-as-sh', 'sh');
  fs.mkdirSync(path.dirname(bashAsSh), {recursive: true});
  fs.rmSync(bashAsSh, {force: true});
  fs.symlinkSync(execFileSync('sh', ['-c', 'command -v bash'], {encoding: 'utf8'}).trim(), bashAsSh);
  out(`### Launchers and exec's front: warm start from the launch plan, \`true\`, synthetic store of ${size.toLocaleString('en')} entries`);
  out();
  out('exec (front): the second `nix-overlay-jail exec` of the same arguments, through the installed front, from the plan the first recorded (no Node). First exec (front): the front, with its plan removed before each start (by `sh -c rm`, counted), so Node runs and records it.');
  out();
  out('| mounting | closure paths | wrap launcher (plan, no Node) | exec (front, plan) | front / launcher | bwrap alone, whole store, same options | launcher / bwrap | bwrap, one --ro-bind per path, same options | the launcher under bash as sh (NixOS) | exec (Node) | first exec (front) |');
  out('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const series: Series[] = [];
  const colours = [['#1b7f3b', '#888888', '#2c6fbb', '#e67e22', '#c0392b'], ['#b8860b', '#aaaaaa', '#6a5acd', '#f5b041', '#e74c3c'], ['#7fbf7b', '#cccccc', '#8fb3dd', '#f8c471', '#f1948a']];
  const cwd = fs.realpathSync(process.cwd());
  for (const [wayIndex, way] of ways.entries()) {
    const points: Array<{paths: number; launcher: number; front: number; bwrap: number; perPath: number | undefined; exec: number}> = [];
    for (const count of [10, 100, 1000, 5000]) {
      const closure = [BUSYBOX_ENTRY, ...store.names.slice(0, count - 1)];
      const file = writeClosure(path.join(WORK, `launch-closure-${count}.txt`), closure);
      const cache = path.join(WORK, 'cache-launch');
      const launcher = path.join(WORK, `launcher-${wayIndex}-${count}`);
      const options = ['--store', store.dir, '--closure-file', file, '--cache-dir', cache, ...way.options];
      execFileSync(process.execPath, [CLI, 'wrap', '--force', '--out', launcher, ...options, ...program], {env: way.env, stdio: ['ignore', 'ignore', 'inherit']});
      // The plan must be in use: a launcher that went to exec would be timed as exec.
      execFileSync(launcher, [], {env: {...way.env, NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'}, stdio: ['ignore', 'ignore', 'inherit']});
      execFileSync(bashAsSh, [launcher], {env: {...way.env, NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'}, stdio: ['ignore', 'ignore', 'inherit']});
      // exec through the front, in the cache it looks in (the default): recorded, then from the plan.
      const frontArgs = ['exec', '--store', store.dir, '--closure-file', file, ...way.options, '--', ...program];
      execFileSync(front, frontArgs, {env: way.env, stdio: ['ignore', 'ignore', 'inherit']});
      execFileSync(front, frontArgs, {env: {...way.env, NIX_OVERLAY_JAIL_REQUIRE_PLAN: '1'}, stdio: ['ignore', 'ignore', 'inherit']});
      const frontPlan = path.join('/var/cache/nix-overlay-jail/exec-plans', frontKey(cwd, frontArgs)!);
      const dryRun = execFileSync(process.execPath, [CLI, 'exec', '--dry-run', ...options, '--', ...program], {env: way.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore']}).trimEnd().split('\n');
      const planDir = fs.readFileSync(launcher, 'utf8').match(/^noj_dir='([^']*)'$/m)![1]!;
      const planFiles = [['/dev/null', 'w'], ...['seccomp', 'passwd', 'group', 'hosts'].map((name): [string, 'r'] => [path.join(planDir, name), 'r'])] as Array<[string, 'r' | 'w']>;
      const perPath = count <= PER_PATH_UP_TO ? [{command: 'bwrap', args: bwrapOfPlan(dryRun, store.dir, closure), env: way.env, files: planFiles}] : [];
      const [launched, fromPlan, bwrap, exec, underBash, first, bound] = timeInterleaved([
        {command: launcher, args: [], env: way.env},
        {command: front, args: frontArgs, env: way.env},
        {command: 'bwrap', args: bwrapOfPlan(dryRun, store.dir), env: way.env, files: planFiles},
        {command: process.execPath, args: [CLI, 'exec', ...options, '--', ...program], env: way.env},
        {command: bashAsSh, args: [launcher], env: way.env},
        {command: 'sh', args: ['-c', 'rm -rf -- "$1" && shift && exec "$@"', 'sh', frontPlan, front, ...frontArgs], env: way.env},
        ...perPath,
      ]) as [number, number, number, number, number, number, number | undefined];
      points.push({paths: count, launcher: launched, front: fromPlan, bwrap, perPath: bound, exec});
      out(`| ${way.name} | ${count.toLocaleString('en')} | ${fmt(launched)} ms | ${fmt(fromPlan)} ms | ${(fromPlan / launched).toFixed(2)}× | ${fmt(bwrap)} ms | ${(launched / bwrap).toFixed(2)}× | ${bound === undefined ? '—' : `${fmt(bound)} ms`} | ${fmt(underBash)} ms (${(underBash / bwrap).toFixed(2)}×) | ${fmt(exec)} ms | ${fmt(first)} ms |`);
    }
    const [launcherColour, bwrapColour, execColour, frontColour, perPathColour] = colours[wayIndex]!;
    const bwrapVersion = execFileSync('bwrap', ['--version'], {env: way.env, encoding: 'utf8'}).trim().replace(/^bubblewrap /, '');
    series.push(
      {label: `launcher, ${way.short}`, colour: launcherColour!, points: points.map(point => [point.paths, point.launcher])},
      {label: `exec's front, ${way.short}`, colour: frontColour!, points: points.map(point => [point.paths, point.front])},
      ...(wayIndex === 1 ? [] : [
        {label: `bwrap ${bwrapVersion} alone`, colour: bwrapColour!, points: points.map((point): [number, number] => [point.paths, point.bwrap])},
        {label: `bwrap ${bwrapVersion}, a bind per path`, colour: perPathColour!, points: points.filter(point => point.perPath !== undefined).map((point): [number, number] => [point.paths, point.perPath!])},
      ]),
      {label: `exec (Node), ${way.short}`, colour: execColour!, points: points.map(point => [point.paths, point.exec])},
    );
  }
  out();
  fs.writeFileSync(path.join(ROOT, 'bench', 'launch.svg'), startupChart('Warm start against closure size (100,000-entry store)', series, []));
};

/**
 * What --allow-host costs a warm start: exec of busybox's `true` with one allowed host against
 * the same without (the proxy, its directory, the bridge started in the jail's network
 * namespace before the program runs, and their ends), interleaved.
 */
const netTable = (): void => {
  const {app} = buildFixture('bench-net');
  const cache = path.join(WORK, 'cache-net');
  const exec = (options: string[]): Timed => ({command: process.execPath, args: [CLI, 'exec', '--cache-dir', cache, ...options, '--', `${app}/bin/sh`, '-c', 'true']});
  const [without, withProxy, node] = timeInterleaved([exec([]), exec(['--allow-host', 'example.org']), {command: process.execPath, args: ['-e', '0']}]) as [number, number, number];
  out('### The network by host name (warm exec, median ms)');
  out();
  out('| exec -- true | exec --allow-host example.org -- true | added | node -e 0 |');
  out('| ---: | ---: | ---: | ---: |');
  out(`| ${fmt(without)} | ${fmt(withProxy)} | ${fmt(withProxy - without)} | ${fmt(node)} |`);
  out();
};

/**
 * What FUSE costs: --mount-with fuse against the kernel's overlay (as root, and in a user
 * namespace), on a 1,000-path closure of a 100,000-entry store: a warm `exec -- true`, and a
 * jail that reads every file of the closure (find and cat, busybox's).
 */
const fuseTable = (): void => {
  if (spawnSync('sh', ['-c', 'command -v fuse-overlayfs'], {stdio: 'ignore'}).status !== 0) {
    out('### FUSE: fuse-overlayfs is not installed; section left out');
    out();
    return;
  }
  const store = syntheticStore(100_000);
  const busybox = addBusybox(store.dir);
  settle(store.dir);
  const closure = [BUSYBOX_ENTRY, ...store.names.slice(0, 999)];
  const file = writeClosure(path.join(WORK, 'fuse-closure.txt'), closure);
  const cache = path.join(WORK, 'cache-fuse');
  const ways: Array<[string, string[]]> = [['kernel overlay, root', ['--mount-with', 'root', '--mode', 'whiteout']], ['kernel overlay, user namespace', ['--mount-with', 'userns']], ['fuse-overlayfs', ['--mount-with', 'fuse']]];
  const exec = (options: string[], program: string[]): Timed => ({command: process.execPath, args: [CLI, 'exec', '--store', store.dir, '--closure-file', file, '--cache-dir', cache, ...options, '--', ...program]});
  const starts = timeInterleaved(ways.map(([, options]) => exec(options, [busybox, 'true'])));
  const reads = timeInterleaved(ways.map(([, options]) => exec(options, [busybox, 'sh', '-c', 'find /nix/store/ -type f -exec cat {} + >/dev/null'])));
  out('### FUSE against the kernel\'s overlay (1,000-path closure, 100,000-entry store, median ms)');
  out();
  out('| mounting | exec -- true | / kernel (root) | read every file of the closure | / kernel (root) |');
  out('| --- | ---: | ---: | ---: | ---: |');
  ways.forEach(([name], index) => out(`| ${name} | ${fmt(starts[index]!)} | ${(starts[index]! / starts[0]!).toFixed(2)}× | ${fmt(reads[index]!)} | ${(reads[index]! / reads[0]!).toFixed(2)}× |`));
  out();
};

const SECTIONS: Record<string, () => void> = {
  net: netTable,
  fuse: fuseTable,
  machine,
  build: buildTable,
  startup: () => writeChart(startupTable()),
  allowlist: allowlistTable,
  real: realTable,
  host: hostTable,
  launch: launchTable,
};

/**
 * Each section runs in a process of its own: a parent that has held a million names is slow to
 * fork (its page tables are copied), which would add tens of milliseconds to every start-up
 * it times.
 */
const main = (): void => {
  if (process.getuid?.() !== 0) throw new Error('run the benchmark as root (it mounts overlays)');
  // Whatever started the benchmark may have left descriptors open: what is timed starts as from a clean parent.
  closeInheritedDescriptors([]);
  const section = option('section', '');
  if (section !== '') {
    SECTIONS[section]!();
    return;
  }
  fs.mkdirSync(WORK, {recursive: true, mode: 0o700});
  execFileSync('cc', ['-O2', '-o', FLOOR, path.join(ROOT, 'scripts/bench/link-floor.c')]);
  fs.mkdirSync(path.join(ROOT, 'bench'), {recursive: true});
  const chosen = Object.keys(SECTIONS).filter(name => !(name === 'build' && SKIP_BUILD) && !(name === 'real' && SKIP_REAL));
  const output: string[] = [];
  for (const name of chosen) {
    const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...process.argv.slice(2), '--section', name],
      {stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20});
    process.stdout.write(result.stdout);
    if (result.status !== 0) throw new Error(`benchmark section ${name} failed`);
    output.push(result.stdout);
  }
  fs.writeFileSync(path.join(ROOT, 'bench', 'results.md'), `# Benchmark results\n\nWritten by \`npm run bench\`. Chart: [startup.svg](startup.svg).\n\n${output.join('')}`);
};

main();
