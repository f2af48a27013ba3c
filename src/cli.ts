#!/usr/bin/env node
/**
 * argv → command. The only module that prints and exits: every command is a function that
 * takes typed options and returns data or throws a JailError.
 */
import process from 'node:process';
import {parseFlags, splitArgv, type FlagSpec, type OptionSpec} from './argv.js';
import {EXIT_TOOL_FAILURE, JailError} from './errors.js';

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
    --exec-only              make /nix/store execute-only: closure paths resolve, listing fails`;

type Flags = Record<string, FlagSpec>;

interface Command {
  summary: string;
  usage: string;
  body: string;
  flags: Flags;
  stopAtFirstOperand?: boolean;
  passThrough?: string[];
  run: (flags: Record<string, unknown>, operands: string[]) => Promise<number>;
}

const closureFlags: Flags = {
  closureFile: {type: 'string', isMultiple: true},
  graph: {type: 'string', isMultiple: true},
  also: {type: 'string', isMultiple: true},
  store: {type: 'string', default: '/nix/store'},
};

const maskFlags: Flags = {
  cacheDir: {type: 'string'},
  execOnly: {type: 'boolean', default: false},
};

const asStrings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

const closureRequest = (flags: Record<string, unknown>, operands: string[]) => ({
  storeDir: String(flags['store']),
  roots: [...operands, ...asStrings(flags['also'])],
  closureFiles: asStrings(flags['closureFile']),
  graphs: asStrings(flags['graph']),
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
    --json                   print a JSON report instead of the directory

  The printed directory goes above the store as an overlay lower layer:
    mount -t overlay overlay -o ro,lowerdir=MASK:/nix/store TARGET

  Examples
    $ nix-overlay-jail build $(readlink -f ~/.nix-profile/bin/hello)
    $ nix-overlay-jail build --exec-only --closure-file result/store-paths`,
    flags: {...closureFlags, ...maskFlags, json: {type: 'boolean', default: false}},
    run: async (flags, operands) => {
      const {buildCommand} = await import('./commands/build.js');
      const onProgress = flags['json'] ? undefined : progressBar();
      const {closure, mask, cacheDir} = await buildCommand({
        ...closureRequest(flags, operands),
        cacheDir: flags['cacheDir'] as string | undefined,
        execOnly: Boolean(flags['execOnly']),
        onProgress,
      });
      if (flags['json']) {
        process.stdout.write(`${JSON.stringify({
          mask: mask.layer,
          mode: mask.state.mode,
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
    --mount-with HOW         auto (default), root, userns or bwrap (bubblewrap >= 0.9 mounts
                             the overlay itself)

  The sandbox (new user, pid, ipc, uts and cgroup namespaces, no network, fresh /proc,
  minimal /dev, tmpfs /tmp, dies with its parent, environment cleared):
    --share-net              keep the network
    --setenv NAME=VALUE      set a variable in the jail (repeatable)
    --keep-env NAME          pass a variable through (repeatable; PATH is the closure's bin
                             directories, HOME and TERM are kept)
    --bind SRC[:DEST]        bind a host path read-write (repeatable)
    --ro-bind SRC[:DEST]     bind a host path read-only (repeatable)
    --chdir DIR              start in DIR inside the jail
    --bwrap-arg ARG          pass ARG to bubblewrap (repeatable; --bwrap-arg=--foo)
    --dry-run                print the command that would run, one argument per line, and stop

  Exit status: the program's; 128+N when a signal N killed it; 125 when nix-overlay-jail
  fails, 126 when COMMAND cannot run, 127 when it is not found. SIGINT, SIGTERM and
  SIGHUP sent to nix-overlay-jail are passed to the program.

  Examples
    $ nix-overlay-jail exec -- hello --greeting "hi there"
    $ nix-overlay-jail exec --exec-only --ro-bind ~/data:/data -- jq . /data/x.json`,
    flags: {
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
      dryRun: {type: 'boolean', default: false},
    },
    stopAtFirstOperand: true,
    passThrough: ['bwrap-arg'],
    run: async (flags, operands) => {
      const {execCommand, planExec} = await import('./commands/exec.js');
      const options = {
        argv: operands,
        storeDir: String(flags['store']),
        also: asStrings(flags['also']),
        closureFiles: asStrings(flags['closureFile']),
        graphs: asStrings(flags['graph']),
        cacheDir: flags['cacheDir'] as string | undefined,
        execOnly: Boolean(flags['execOnly']),
        mountWith: flags['mountWith'] as 'auto' | 'root' | 'userns' | 'bwrap',
        shareNet: Boolean(flags['shareNet']),
        setenv: asStrings(flags['setenv']),
        keepEnv: asStrings(flags['keepEnv']),
        bind: asStrings(flags['bind']),
        roBind: asStrings(flags['roBind']),
        chdir: flags['chdir'] as string | undefined,
        bwrapArg: asStrings(flags['bwrapArg']),
        dryRun: Boolean(flags['dryRun']),
        env: process.env,
      };
      if (options.dryRun) {
        const plan = await planExec(options);
        process.stderr.write(`nix-overlay-jail: mode ${plan.mode}, mount ${plan.strategy}, mask ${plan.maskDir} (${plan.maskStatus})\n`);
        process.stdout.write(plan.argv.map(arg => `${arg}\n`).join(''));
        return 0;
      }
      return execCommand(options);
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
  const {default: meow} = await import('meow');
  meow(help, {importMeta: import.meta, argv, flags: {}, helpIndent: 0, description: false});
};

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
  return command.run(parseFlags(options, command.flags), operands);
};

main(process.argv.slice(2)).then(
  code => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof JailError) {
      process.stderr.write(`nix-overlay-jail: ${error.message}\n`);
      process.exitCode = error.exitCode;
    } else {
      process.stderr.write(`nix-overlay-jail: internal error: ${error instanceof Error ? error.stack : String(error)}\n`);
      process.exitCode = EXIT_TOOL_FAILURE;
    }
  },
);
