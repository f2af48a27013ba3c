#!/usr/bin/env node
/**
 * argv → command: the dispatcher, and the only module that prints errors and sets the exit
 * status. Each command's options, help and printing live in src/cli/COMMAND.ts; what it
 * does lives in src/commands/COMMAND.ts, a function that takes typed options and returns
 * data or throws a JailError.
 */
import fs from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import url from 'node:url';
import {parseFlags, splitArgv, type OptionSpec} from './argv.js';
import {apparmorCli} from './cli/apparmor.js';
import {buildCli} from './cli/build.js';
import {closureCli} from './cli/closure.js';
import {binaryPath, type Command, type Flags} from './cli/command.js';
import {doctorCli} from './cli/doctor.js';
import {execCli} from './cli/exec.js';
import {gcCli} from './cli/gc.js';
import {mountCli} from './cli/mount.js';
import {verifyCli} from './cli/verify.js';
import {wrapCli} from './cli/wrap.js';
import {EXIT_TOOL_FAILURE, isErrno, JailError, reason} from './errors.js';
import {importPackage} from './launcher-globals.js';
import {JAIL_STORE} from './store.js';
import {profileFile} from './profiles/builtin.js';

const commands: Record<string, Command> = {
  closure: closureCli,
  build: buildCli,
  exec: execCli,
  verify: verifyCli,
  mount: mountCli,
  doctor: doctorCli,
  gc: gcCli,
  wrap: wrapCli,
  apparmor: apparmorCli,
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

const toSpecs = (flags: Flags, passThrough: string[] = []): OptionSpec[] => [
  {name: 'help', takesValue: false, short: 'h'},
  {name: 'version', takesValue: false},
  ...Object.entries(flags).map(([name, flag]) => {
    const kebab = name.replace(/[A-Z]/g, letter => `-${letter.toLowerCase()}`);
    return {name: kebab, takesValue: flag.type !== 'boolean', passThrough: passThrough.includes(kebab)};
  }),
];

/**
 * The options with each --profile FILE replaced by the options it holds, all profiles first:
 * the command line's own come after them, so they add to repeatable options and win others.
 */
const withProfiles = async (options: string[], flags: Flags): Promise<string[]> => {
  const files = options.filter(option => option.startsWith('--profile=')).map(option => profileFile(option.slice('--profile='.length)));
  if (files.length === 0 || flags['profile'] === undefined) return options;
  const {profileOptions} = await import('./profile.js');
  const fromProfiles = files.flatMap(file => {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (error) {
      throw new JailError('usage', `cannot read profile ${file}: ${reason(error)}`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new JailError('usage', `profile ${file}: not JSON (${error instanceof Error ? error.message : String(error)})`);
    }
    return profileOptions(value, file, flags);
  });
  return [...fromProfiles, ...options.filter(option => !option.startsWith('--profile='))];
};

const isInStore = (option: string): boolean => path.resolve(profileFile(option.slice('--profile='.length))).startsWith(`${JAIL_STORE}/`);

const main = async (argv: string[]): Promise<number> => {
  const [name, ...rest] = argv;
  // The network bridge exec starts in a jail's network namespace (net/bridge.ts): not a command of the user's.
  if (name === '__net-bridge') return (await import('./net/bridge.js')).runBridge(rest);
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
  // exec --parse-only reads nothing of the host: only profiles in the store, which a build can read too.
  const readable = options.includes('--parse-only') ? options.filter(option => !option.startsWith('--profile=') || isInStore(option)) : options;
  return command.run(parseFlags(await withProfiles(readable, command.flags), command.flags), operands, options);
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
