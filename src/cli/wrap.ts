/** `wrap`: write a launcher. */
import path from 'node:path';
import process from 'node:process';
import {JailError} from '../errors.js';
import {binaryPath, type Command} from './command.js';
import {execFlags} from './exec.js';

export const wrapCli: Command = {
  summary: 'write a launcher that runs a command jailed, for PATH or a desktop file',
  usage: 'nix-overlay-jail wrap --out FILE [exec options] COMMAND [ARG...]',
  body: `
  COMMAND is resolved now to its store path, which the launcher runs through
  nix-overlay-jail exec with the given options and then its own arguments.

    --out FILE               where to write the launcher (made executable)
    --desktop-file FILE      also write a desktop entry whose Exec runs the launcher
                             (~/.local/share/applications/NAME.desktop puts it in menus)
    --desktop-name NAME      the entry's name in menus (default: the command's file name)
    --force                  replace FILE(s) if they exist
    (every option of exec)

  Examples
    $ nix-overlay-jail wrap --out ~/bin/hello --exec-only hello
    $ nix-overlay-jail wrap --out ~/bin/firefox --desktop --net --home ~/jails/firefox \\
        --desktop-file ~/.local/share/applications/firefox-jailed.desktop firefox`,
  flags: {...execFlags, out: {type: 'string'}, force: {type: 'boolean', default: false}, desktopFile: {type: 'string'}, desktopName: {type: 'string'}},
  stopAtFirstOperand: true,
  passThrough: ['bwrap-arg'],
  run: async (flags, operands, options) => {
    const {absoluteOptions, wrapCommand} = await import('../commands/wrap.js');
    const {resolveCommand} = await import('../commands/exec.js');
    if (flags['out'] === undefined) throw new JailError('usage', 'wrap needs --out FILE');
    const [command, ...args] = operands;
    if (command === undefined) throw new JailError('usage', 'no command given (usage: nix-overlay-jail wrap --out FILE [options] COMMAND [ARG...])');
    const {jailPath} = resolveCommand(command, path.resolve(String(flags['store'])), process.env['PATH']);
    const out = wrapCommand({
      out: String(flags['out']),
      force: Boolean(flags['force']),
      execOptions: absoluteOptions(options.filter(option => !/^--(out|force|no-force|desktop-file|desktop-name)(=|$)/.test(option)), process.cwd()),
      command: [jailPath, ...args],
      node: process.execPath,
      cli: binaryPath(),
      desktopFile: flags['desktopFile'] as string | undefined,
      desktopName: flags['desktopName'] as string | undefined,
    });
    process.stdout.write(`${out}\n`);
    return 0;
  },
};
