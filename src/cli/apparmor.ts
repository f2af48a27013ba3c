/** `apparmor`: print an AppArmor profile that holds a program to its closure. */
import process from 'node:process';
import {JailError} from '../errors.js';
import {type Command} from './command.js';
import {execFlags, execOptions} from './exec.js';

// exec's options but --apparmor, which names a profile to run under, not one to write.
const {apparmor: _running, ...profileFlags} = execFlags;

export const apparmorCli: Command = {
  summary: 'print an AppArmor profile that holds a program to its closure',
  usage: 'nix-overlay-jail apparmor [--name NAME] [exec options] [--] COMMAND',
  body: `
  Plans COMMAND's jail as exec would (with the same options: the closure, and the host paths
  they bind) and prints a profile that attaches to COMMAND's store path: it may read, map and
  run (inheriting the profile) its closure's store paths, its jail's own files and what the
  options bind (read-only or read-write, as bound), and nothing else; listing /nix/store and
  /nix/var are denied outright. Load it with apparmor_parser -r; the kernel then confines the
  program wherever it starts, in a jail or not: a second boundary, independent of mounts.

  A path the profile cannot spell exactly (a quote, a backslash, a control character, @{)
  is refused, not written.

    --name NAME              the profile's name (default: nix-overlay-jail- and the program's
                             store name)

  Example
    $ nix-overlay-jail apparmor --name hello -- hello | sudo apparmor_parser -r`,
  flags: {...profileFlags, name: {type: 'string'}},
  stopAtFirstOperand: true,
  passThrough: ['bwrap-arg'],
  run: async (flags, operands, given) => {
    const {planExec} = await import('../commands/exec.js');
    const {apparmorProfile} = await import('../apparmor/profile.js');
    if (operands.length === 0) throw new JailError('usage', 'no command given (usage: nix-overlay-jail apparmor [options] [--] COMMAND)');
    const plan = await planExec({...execOptions(flags, operands, given), dryRun: true});
    const storeName = plan.seen.program.split('/')[3] ?? 'program';
    const name = (flags['name'] as string | undefined) ?? `nix-overlay-jail-${storeName.replace(/^[a-z0-9]{32}-/, '')}`;
    // AppArmor 3.0 (Debian 12, Ubuntu 22.04) builds each profile into an automaton of at most
    // 65,535 states: about 1,500 store paths of 32-letter hashes (measured with 3.0.8).
    if (plan.seen.closure.length > 1500) {
      process.stderr.write(`nix-overlay-jail: ${plan.seen.closure.length} store paths: AppArmor 3.0's parser compiles profiles of up to about 1,500 (AppArmor 4's 32-bit automaton states take more)\n`);
    }
    process.stdout.write(apparmorProfile({name, program: plan.seen.program, closure: plan.seen.closure, binds: plan.seen.binds, home: plan.seen.home}));
    return 0;
  },
};
