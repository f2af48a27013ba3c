/** `closure`: print the closure. */
import process from 'node:process';
import {closureFlags, closureRequest, CLOSURE_HELP, type Command} from './command.js';

export const closureCli: Command = {
  summary: 'print the closure, one store path per line, sorted',
  usage: 'nix-overlay-jail closure [options] PATH...',
  body: `${CLOSURE_HELP}

  Examples
    $ nix-overlay-jail closure ~/.nix-profile/bin/hello
    $ nix-overlay-jail closure --graph <(nix path-info --json --recursive nixpkgs#hello)`,
  flags: {...closureFlags},
  run: async (flags, operands) => {
    const {closureCommand} = await import('../commands/closure.js');
    const paths = await closureCommand(closureRequest(flags, operands));
    process.stdout.write(paths.map(line => `${line}\n`).join(''));
    return 0;
  },
};
