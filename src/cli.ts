#!/usr/bin/env node
/**
 * argv → command. The only module that prints and exits: every command is a function that
 * takes typed options and returns data or throws a JailError.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import url from 'node:url';
import {parseFlags, splitArgv, type FlagSpec, type OptionSpec} from './argv.js';
import {EXIT_TOOL_FAILURE, isErrno, JailError, reason} from './errors.js';
import {parseKeepFd} from './jail/descriptors.js';
import {importPackage} from './launcher-globals.js';

const CLOSURE_HELP = `
  Where the closure comes from (for closure, build, exec):
    PATH...                  store paths, or paths that lead into the store (symlinks such as
                             ~/.nix-profile/bin/hello, files inside a store path); their closures
                             come from nix-store -qR unless a closure file or graph holds them
    --closure-file FILE      a closure, one store path per line (closureInfo's store-paths); - is stdin
    --graph FILE             JSON of 'nix path-info --json --recursive' (array or object form)
    --also PATH              add PATH and its closure (repeatable)
    --store DIR              the host directory holding the store (default /nix/store); inside
                             the jail it always appears at /nix/store`;

const MASK_HELP = `
  The mask:
    --cache-dir DIR          where masks are kept (default $XDG_CACHE_HOME/nix-overlay-jail,
                             or /var/cache/nix-overlay-jail for root)
    --exec-only              make /nix/store execute-only: closure paths resolve, listing fails.
                             It stops discovery, not access: the store hashes of anything
                             built from nixpkgs are public, so what keeps a known path out is
                             the mask (a whiteout, or its absence from an allowlist)
    --mode MODE              auto (default), whiteout or allowlist. A whiteout mask hides what
                             the store held when it was last refreshed; an allowlist mask
                             (real root only) shows the closure and never a later store path.
                             auto takes the allowlist where it can work`;

type Flags = Record<string, FlagSpec>;

interface Command {
  summary: string;
  usage: string;
  body: string;
  flags: Flags;
  stopAtFirstOperand?: boolean;
  passThrough?: string[];
  /** `options` are the normalised option words (`--name=value`), for commands that pass them on. */
  run: (flags: Record<string, unknown>, operands: string[], options: string[]) => Promise<number>;
}

const closureFlags: Flags = {
  closureFile: {type: 'string', isMultiple: true},
  graph: {type: 'string', isMultiple: true},
  also: {type: 'string', isMultiple: true},
  store: {type: 'string', default: '/nix/store'},
};

const maskFlags: Flags = {
  cacheDir: {type: 'string'},
  mode: {type: 'string', default: 'auto', choices: ['auto', 'whiteout', 'allowlist']},
  execOnly: {type: 'boolean', default: false},
};

const execFlags: Flags = {
  ...closureFlags,
  ...maskFlags,
  mountWith: {type: 'string', default: 'auto', choices: ['auto', 'root', 'userns', 'bwrap']},
  shareNet: {type: 'boolean', default: false},
  setenv: {type: 'string', isMultiple: true},
  keepEnv: {type: 'string', isMultiple: true},
  bind: {type: 'string', isMultiple: true},
  roBind: {type: 'string', isMultiple: true},
  chdir: {type: 'string'},
  bwrapArg: {type: 'string', isMultiple: true},
  keepFd: {type: 'string', isMultiple: true},
  home: {type: 'string'},
  noSystemLinks: {type: 'boolean', default: false},
  net: {type: 'boolean', default: false},
  gpu: {type: 'boolean', default: false},
  locale: {type: 'boolean', default: false},
  fonts: {type: 'boolean', default: false},
  strict: {type: 'boolean', default: false},
  dryRun: {type: 'boolean', default: false},
};

const asStrings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

const closureRequest = (flags: Record<string, unknown>, operands: string[]) => ({
  storeDir: String(flags['store']),
  roots: [...operands, ...asStrings(flags['also'])],
  closureFiles: asStrings(flags['closureFile']),
  graphs: asStrings(flags['graph']),
});

const execOptions = (flags: Record<string, unknown>, operands: string[]) => ({
  argv: operands,
  storeDir: String(flags['store']),
  also: asStrings(flags['also']),
  closureFiles: asStrings(flags['closureFile']),
  graphs: asStrings(flags['graph']),
  cacheDir: flags['cacheDir'] as string | undefined,
  execOnly: Boolean(flags['execOnly']),
  mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
  mountWith: flags['mountWith'] as 'auto' | 'root' | 'userns' | 'bwrap',
  shareNet: Boolean(flags['shareNet']),
  setenv: asStrings(flags['setenv']),
  keepEnv: asStrings(flags['keepEnv']),
  bind: asStrings(flags['bind']),
  roBind: asStrings(flags['roBind']),
  chdir: flags['chdir'] as string | undefined,
  bwrapArg: asStrings(flags['bwrapArg']),
  keepFd: [...new Set(asStrings(flags['keepFd']).map(parseKeepFd))],
  home: flags['home'] as string | undefined,
  noSystemLinks: Boolean(flags['noSystemLinks']),
  host: {net: Boolean(flags['net']), gpu: Boolean(flags['gpu']), locale: Boolean(flags['locale']), fonts: Boolean(flags['fonts'])},
  strict: Boolean(flags['strict']),
  warn: (line: string) => process.stderr.write(`nix-overlay-jail: ${line}\n`),
  dryRun: Boolean(flags['dryRun']),
  env: process.env,
});

/** A progress bar on standard error, only when it is a terminal and the scan is long. */
const progressBar = (): ((done: number, total: number | undefined) => void) | undefined => {
  if (!process.stderr.isTTY) return undefined;
  const started = Date.now();
  let drawn = false;
  return (done, total) => {
    if (!drawn && Date.now() - started < 300) return;
    const width = 30;
    const fraction = total ? Math.min(1, done / total) : 0;
    const bar = '#'.repeat(Math.round(fraction * width)).padEnd(width, '.');
    process.stderr.write(`\rscanning store [${bar}] ${done}${total ? `/${total}` : ''} entries`);
    drawn = true;
    if (total !== undefined && done >= total) process.stderr.write('\n');
  };
};

const commands: Record<string, Command> = {
  closure: {
    summary: 'print the closure, one store path per line, sorted',
    usage: 'nix-overlay-jail closure [options] PATH...',
    body: `${CLOSURE_HELP}

  Examples
    $ nix-overlay-jail closure ~/.nix-profile/bin/hello
    $ nix-overlay-jail closure --graph <(nix path-info --json --recursive nixpkgs#hello)`,
    flags: {...closureFlags},
    run: async (flags, operands) => {
      const {closureCommand} = await import('./commands/closure.js');
      const paths = await closureCommand(closureRequest(flags, operands));
      process.stdout.write(paths.map(line => `${line}\n`).join(''));
      return 0;
    },
  },
  build: {
    summary: 'build (or refresh) the mask for a closure and print its directory',
    usage: 'nix-overlay-jail build [options] PATH...',
    body: `${CLOSURE_HELP}
${MASK_HELP}
    --json                   print a JSON report instead of the directory; mountOptions is
                             the whole -o string for mount -t overlay, storeSubdir where the
                             store is below the mount point ("" for a whiteout mask)

  How to use what was built (on a terminal, build prints the exact command):
    whiteout mask   the directory goes above the store as a lower layer:
                      mount -t overlay overlay -o ro,lowerdir=MASK:/nix/store TARGET
                    and TARGET shows the store as the mask allows
    allowlist mask  the directory goes above the store's parent, with redirects followed:
                      mount -t overlay overlay \\
                        -o ro,lowerdir=MASK:/nix,redirect_dir=follow,metacopy=on TARGET
                    and TARGET/store shows the closure (TARGET itself is the parent)
    nix-overlay-jail mount does either for you.

  Examples
    $ nix-overlay-jail build $(readlink -f ~/.nix-profile/bin/hello)
    $ nix-overlay-jail build --exec-only --closure-file result/store-paths`,
    flags: {...closureFlags, ...maskFlags, json: {type: 'boolean', default: false}},
    run: async (flags, operands) => {
      const {buildCommand} = await import('./commands/build.js');
      const {overlayOptions} = await import('./mount/options.js');
      const {shellQuote} = await import('./commands/wrap.js');
      const onProgress = flags['json'] ? undefined : progressBar();
      const {closure, mask, cacheDir} = await buildCommand({
        ...closureRequest(flags, operands),
        cacheDir: flags['cacheDir'] as string | undefined,
        execOnly: Boolean(flags['execOnly']),
        mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
        onProgress,
      });
      if (flags['json']) {
        process.stdout.write(`${JSON.stringify({
          mask: mask.layer,
          mode: mask.state.mode,
          mountOptions: overlayOptions(mask.view.layersTopFirst, mask.view.options),
          storeSubdir: mask.view.storeSubdir,
          status: mask.status,
          key: mask.key,
          cacheDir,
          store: closure.storeDir,
          execOnly: mask.state.execOnly,
          closureSize: closure.entries.size,
          whiteouts: mask.state.whiteouts,
          added: mask.added,
        }, null, 2)}\n`);
      } else {
        process.stdout.write(`${mask.layer}\n`);
        if (process.stderr.isTTY) {
          const options = shellQuote(overlayOptions(mask.view.layersTopFirst, mask.view.options));
          process.stderr.write(mask.view.storeSubdir === ''
            ? `mount it with: mount -t overlay overlay -o ${options} TARGET\n`
            : `mount it with: mount -t overlay overlay -o ${options} TARGET   (the store is then TARGET/${mask.view.storeSubdir})\n`);
        }
      }
      return 0;
    },
  },
  exec: {
    summary: 'run a program in a jail whose /nix/store is its closure only',
    usage: 'nix-overlay-jail exec [options] [--] COMMAND [ARG...]',
    body: `
  COMMAND is found on PATH (or taken as a path) and resolved through symlinks into its
  store entry; that entry's closure is all the jail's /nix/store holds.
${CLOSURE_HELP}
${MASK_HELP}

  Mounting:
    --mount-with HOW         auto (default), root, userns or bwrap (bubblewrap >= 0.11.0
                             mounts the overlay itself; 0.9 and 0.10 cannot)

  The sandbox (new user, pid, ipc, uts and cgroup namespaces, no network, fresh /proc,
  minimal /dev, tmpfs /tmp, dies with its parent, environment cleared, descriptors 0-2 only):
    --share-net              keep the network
    --setenv NAME=VALUE      set a variable in the jail (repeatable)
    --keep-env NAME          pass a variable through (repeatable; PATH is the closure's bin
                             directories, HOME and TERM are kept)
    --bind SRC[:DEST]        bind a host path read-write (repeatable)
    --ro-bind SRC[:DEST]     bind a host path read-only (repeatable)
    --chdir DIR              start in DIR inside the jail
    --bwrap-arg ARG          pass ARG to bubblewrap (repeatable; --bwrap-arg=--foo)
    --no-system-links        make no /bin/sh and /usr/bin/env; by default, when the closure
                             holds a bin/sh (bin/env), they link to it, the program's own first
    --home DIR               keep DIR between runs as the jail's $HOME, read-write (made with
                             mode 0700 if missing); without it $HOME is empty in every jail
    --keep-fd N              pass the caller's descriptor N to the program at the same number
                             (repeatable); every other descriptor above 2 is closed first
    --dry-run                print the command that would run, one argument per line, and stop
                             (and, on standard error, the store paths host resources add)

  The host (each path that enters the jail, these and --bind/--ro-bind alike, is followed
  through its symbolic links: a chain into the store is made again in the jail, with the
  store paths it passes through and the closure of the one it ends in):
    --net                    the host network, /etc/resolv.conf, hosts, nsswitch.conf,
                             services and protocols, the CA bundle (the one NIX_SSL_CERT_FILE
                             or SSL_CERT_FILE names, else the system's) at
                             /etc/ssl/certs/ca-certificates.crt, SSL_CERT_FILE and
                             NIX_SSL_CERT_FILE pointing at it
    --gpu                    /dev/dri, NVIDIA's device nodes, /run/opengl-driver(-32)
    --locale                 LANG, LANGUAGE, LC_*, TZ, TZDIR, LOCALE_ARCHIVE and /etc/localtime
    --fonts                  /etc/fonts, /usr/share/fonts and /usr/local/share/fonts
    --strict                 fail (exit 125) when a host resource asked for is missing;
                             without it, one line says which and the jail starts anyway

  Exit status: the program's; 128+N when a signal N killed it; 125 when nix-overlay-jail
  fails, 126 when COMMAND cannot run, 127 when it is not found. The terminal's signals
  (Ctrl-C, Ctrl-\\, hang-up, window size) and SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1
  and SIGUSR2 sent to nix-overlay-jail reach the jailed program's process group; Ctrl-Z
  stops the jail and fg continues it.

  Examples
    $ nix-overlay-jail exec -- hello --greeting "hi there"
    $ nix-overlay-jail exec --exec-only --ro-bind ~/data:/data -- jq . /data/x.json`,
    flags: execFlags,
    stopAtFirstOperand: true,
    passThrough: ['bwrap-arg'],
    run: async (flags, operands) => {
      const {execCommand, planExec} = await import('./commands/exec.js');
      const options = execOptions(flags, operands);
      if (options.dryRun) {
        const plan = await planExec(options);
        process.stderr.write(`nix-overlay-jail: mode ${plan.mode}, mount ${plan.strategy}, mask ${plan.maskDir} (${plan.maskStatus})\n`);
        const {describeAdded} = await import('./host/resources.js');
        for (const [entry, added] of plan.added) process.stderr.write(`nix-overlay-jail: adds ${describeAdded(entry, added)}\n`);
        process.stdout.write(plan.argv.map(arg => `${arg}\n`).join(''));
        return 0;
      }
      return execCommand(options);
    },
  },
  verify: {
    summary: 'mount a mask as exec would and compare what the jail sees with the closure',
    usage: 'nix-overlay-jail verify [options] PATH...',
    body: `
  Builds the mask if there is none, or takes the existing one as it stands (without
  refreshing it), mounts it exactly as exec would, lists the store the jail would see (dot
  entries included) and compares it with the closure. Prints what is missing and what leaks,
  and, for whiteout masks, the store paths that appeared after the mask was last refreshed
  (visible to jails on it until exec refreshes it). Exits 0 only when the two are equal.
${CLOSURE_HELP}
${MASK_HELP}
    --mount-with HOW         auto (default), root or userns
    --json                   print a JSON report`,
    flags: {...closureFlags, ...maskFlags, mountWith: {type: 'string', default: 'auto', choices: ['auto', 'root', 'userns', 'bwrap']}, json: {type: 'boolean', default: false}},
    run: async (flags, operands) => {
      const {verifyCommand} = await import('./commands/verify.js');
      const report = await verifyCommand({
        ...closureRequest(flags, operands),
        cacheDir: flags['cacheDir'] as string | undefined,
        execOnly: Boolean(flags['execOnly']),
        mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
        mountWith: flags['mountWith'] as 'auto' | 'root' | 'userns' | 'bwrap',
      });
      if (flags['json']) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const name of report.missing) process.stdout.write(`missing: /nix/store/${name}\n`);
        for (const name of report.leaks) process.stdout.write(`leak: /nix/store/${name}\n`);
        for (const name of report.newerThanMask) process.stdout.write(`newer than the mask: /nix/store/${name}\n`);
        process.stdout.write(report.ok
          ? `ok: the jail sees exactly the closure (${report.closureSize} paths, ${report.mode} mask ${report.mask})\n`
          : `FAILED: ${report.missing.length} missing, ${report.leaks.length} leaking, ${report.newerThanMask.length} newer than the ${report.mode} mask ${report.mask}\n`);
      }
      return report.ok ? 0 : 1;
    },
  },
  mount: {
    summary: 'mount the masked store at TARGET for other tools (root); --umount removes it',
    usage: 'nix-overlay-jail mount [options] TARGET PATH...\n    $ nix-overlay-jail mount --umount TARGET',
    body: `
  Mounts the store as the jail would see it (read-only, nosuid, nodev) on TARGET, an empty
  directory, in the host's mount namespace: for a chroot, systemd-nspawn or a container
  runtime. The mask stays in use (gc keeps it) until --umount.
${CLOSURE_HELP}
${MASK_HELP}
    --umount                 unmount TARGET (only a mount made by this command; its cache
                             is found from the mount, so --cache-dir is not needed)`,
    flags: {...closureFlags, ...maskFlags, umount: {type: 'boolean', default: false}},
    run: async (flags, operands) => {
      const {mountCommand, umountCommand} = await import('./commands/mount.js');
      const [target, ...paths] = operands;
      if (target === undefined) throw new JailError('usage', 'no TARGET given (usage: nix-overlay-jail mount [options] TARGET PATH...)');
      if (flags['umount']) {
        if (paths.length > 0) throw new JailError('usage', '--umount takes only TARGET');
        process.stdout.write(`unmounted ${await umountCommand({target, cacheDir: flags['cacheDir'] as string | undefined})}\n`);
        return 0;
      }
      const {target: mounted, mask} = await mountCommand({
        ...closureRequest(flags, paths),
        target,
        cacheDir: flags['cacheDir'] as string | undefined,
        execOnly: Boolean(flags['execOnly']),
        mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
      });
      process.stdout.write(`mounted the ${mask.view.mode} view of ${mask.state.closureSize} store paths on ${mounted}\n`);
      return 0;
    },
  },
  doctor: {
    summary: 'check everything exec depends on, and say what to do about what is missing',
    usage: 'nix-overlay-jail doctor [options]',
    body: `
  One line per check: ok, warning or failure, and what to do. Overlay mounts, user
  namespaces and whiteouts are tried for real in throw-away directories and namespaces.
  Exits 0 when exec can work here for this user.

    --cache-dir DIR          the cache directory to check (default as for build)
    --store DIR              the store to check (default /nix/store)
    --json                   print a JSON report`,
    flags: {cacheDir: {type: 'string'}, store: {type: 'string', default: '/nix/store'}, json: {type: 'boolean', default: false}},
    run: async flags => {
      const {doctor} = await import('./commands/doctor.js');
      const report = await doctor({cacheDir: flags['cacheDir'] as string | undefined, storeDir: String(flags['store'])});
      if (flags['json']) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const check of report.checks) process.stdout.write(`${check.status.padEnd(8)} ${check.name}: ${check.detail}\n`);
        process.stdout.write(report.canExec ? `exec can work here (mounting: ${report.strategy})\n` : 'exec cannot work here: see the failures above\n');
      }
      return report.canExec ? 0 : 1;
    },
  },
  gc: {
    summary: 'remove cached masks that are old or over a size limit (never one in use)',
    usage: 'nix-overlay-jail gc [options]',
    body: `
    --max-age AGE            remove masks not used for AGE (default 30d; s, m, h, d, w)
    --max-size SIZE          then remove the least recently used until the cache is under
                             SIZE (such as 500M or 2G)
    --cache-dir DIR          the cache directory (default as for build); gc refuses a
                             directory nix-overlay-jail did not make
    --dry-run                list what would be removed, remove nothing
    --json                   print a JSON report`,
    flags: {
      maxAge: {type: 'string', default: '30d'},
      maxSize: {type: 'string'},
      cacheDir: {type: 'string'},
      dryRun: {type: 'boolean', default: false},
      json: {type: 'boolean', default: false},
    },
    run: async flags => {
      const {gcCommand, parseGcLimits} = await import('./commands/gc.js');
      const report = await gcCommand({
        cacheDir: flags['cacheDir'] as string | undefined,
        ...parseGcLimits(String(flags['maxAge']), flags['maxSize'] as string | undefined),
        dryRun: Boolean(flags['dryRun']),
      });
      if (flags['json']) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        const verb = report.dryRun ? 'would remove' : 'removed';
        for (const entry of report.removed) process.stdout.write(`${verb} ${entry.key} (${entry.reason}, last used ${entry.lastUsed}, ${entry.bytes} bytes)\n`);
        for (const key of report.inUse) process.stdout.write(`kept ${key}: in use by a running jail\n`);
        process.stdout.write(`${verb} ${report.removed.length} mask(s), ${report.freedBytes} bytes; ${report.kept} kept\n`);
      }
      return 0;
    },
  },
  wrap: {
    summary: 'write a launcher that runs a command jailed, for PATH or a desktop file',
    usage: 'nix-overlay-jail wrap --out FILE [exec options] COMMAND [ARG...]',
    body: `
  COMMAND is resolved now to its store path, which the launcher runs through
  nix-overlay-jail exec with the given options and then its own arguments.

    --out FILE               where to write the launcher (made executable)
    --force                  replace FILE if it exists
    (every option of exec)

  Example
    $ nix-overlay-jail wrap --out ~/bin/hello --exec-only hello`,
    flags: {...execFlags, out: {type: 'string'}, force: {type: 'boolean', default: false}},
    stopAtFirstOperand: true,
    passThrough: ['bwrap-arg'],
    run: async (flags, operands, options) => {
      const {absoluteOptions, wrapCommand} = await import('./commands/wrap.js');
      const {resolveCommand} = await import('./commands/exec.js');
      if (flags['out'] === undefined) throw new JailError('usage', 'wrap needs --out FILE');
      const [command, ...args] = operands;
      if (command === undefined) throw new JailError('usage', 'no command given (usage: nix-overlay-jail wrap --out FILE [options] COMMAND [ARG...])');
      const {jailPath} = resolveCommand(command, path.resolve(String(flags['store'])), process.env['PATH']);
      const out = wrapCommand({
        out: String(flags['out']),
        force: Boolean(flags['force']),
        execOptions: absoluteOptions(options.filter(option => !/^--(out|force|no-force)(=|$)/.test(option)), process.cwd()),
        command: [jailPath, ...args],
        node: process.execPath,
        cli: binaryPath(),
      });
      process.stdout.write(`${out}\n`);
      return 0;
    },
  },
};

const TOOL_HELP = `
  Run a program in a bubblewrap jail whose /nix/store shows only its Nix closure.

  Usage
    $ nix-overlay-jail <command> [options]

  Commands
${Object.entries(commands).map(([name, command]) => `    ${name.padEnd(10)} ${command.summary}`).join('\n')}

  Options
    --help       show help (also after a command: nix-overlay-jail build --help)
    --version    show the version

  Exit status: the jailed program's own; 125 when nix-overlay-jail itself fails,
  126 when the command cannot run, 127 when it is not found.`;

/**
 * meow prints --help and --version (and exits). Options are parsed by argv.ts from the same
 * flag tables: importing meow costs ~35 ms, which `exec` only pays when help is asked for.
 */
const showHelpOrVersion = async (help: string, argv: string[]): Promise<void> => {
  const {default: meow} = await importPackage<typeof import('meow')>('meow');
  // meow finds package.json (for --version) from the module's URL; the binary is a CommonJS
  // bundle, which has no import.meta, so give it the binary's own.
  meow(help, {importMeta: {url: url.pathToFileURL(binaryPath()).href} as ImportMeta, argv, flags: {}, helpIndent: 0, description: false});
};

/** The file this binary runs from (for launchers that call it back, and for meow). */
const binaryPath = (): string => fs.realpathSync(process.argv[1] ?? '.');

const toSpecs = (flags: Flags, passThrough: string[] = []): OptionSpec[] => [
  {name: 'help', takesValue: false, short: 'h'},
  {name: 'version', takesValue: false},
  ...Object.entries(flags).map(([name, flag]) => {
    const kebab = name.replace(/[A-Z]/g, letter => `-${letter.toLowerCase()}`);
    return {name: kebab, takesValue: flag.type !== 'boolean', passThrough: passThrough.includes(kebab)};
  }),
];

const main = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : commands[name];
  if (command === undefined) {
    if (name === undefined || name === '--help' || name === '-h' || name === 'help' || name === '--version') {
      await showHelpOrVersion(TOOL_HELP, [name === undefined || name === 'help' || name === '-h' ? '--help' : name]);
      return 0;
    }
    throw new JailError('usage', `unknown command ${JSON.stringify(name)} (see nix-overlay-jail --help)`);
  }
  const {options, operands} = splitArgv(rest, toSpecs(command.flags, command.passThrough), command.stopAtFirstOperand ?? false);
  const help = `\n  ${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.\n\n  Usage\n    $ ${command.usage}\n${command.body}`;
  const wants = options.find(option => option === '--help' || option === '-h' || option === '--version');
  if (wants !== undefined) {
    await showHelpOrVersion(help, [wants === '-h' ? '--help' : wants]);
    return 0;
  }
  return command.run(parseFlags(options, command.flags), operands, options);
};

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof JailError) {
      process.stderr.write(`nix-overlay-jail: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else if (isErrno(error) && error.syscall !== undefined) {
      // A system call that failed where no step expected it (a full disk, a directory removed
      // underneath): the operation and the path, in one line, like every other failure.
      process.stderr.write(`nix-overlay-jail: cannot ${error.syscall}${error.path === undefined ? '' : ` ${error.path}`}: ${reason(error)}\n`);
      process.exitCode = EXIT_TOOL_FAILURE;
    } else {
      process.stderr.write(`nix-overlay-jail: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = EXIT_TOOL_FAILURE;
    }
  },
);
