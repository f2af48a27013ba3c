/** `verify`: compare what a jail sees with the closure. */
import process from 'node:process';
import {closureFlags, closureRequest, CLOSURE_HELP, hostFlags, hostOptions, maskFlags, MASK_HELP, type Command} from './command.js';

export const verifyCli: Command = {
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
    --mount-with HOW         auto (default), root, userns or fuse (fuse-overlayfs)
    --json                   print a JSON report

  Host resources (as exec takes them): the store paths their link chains add join the
  closure, and each is named with what brought it:
    --bind SRC[:DEST], --ro-bind SRC[:DEST], --net, --gpu, --locale, --fonts, --strict,
    --profile FILE`,
  flags: {...closureFlags, ...maskFlags, ...hostFlags, mountWith: {type: 'string', default: 'auto', choices: ['auto', 'root', 'userns', 'bwrap', 'fuse']}, json: {type: 'boolean', default: false}},
  run: async (flags, operands) => {
    const {verifyCommand} = await import('../commands/verify.js');
    const report = await verifyCommand({
      ...closureRequest(flags, operands),
      cacheDir: flags['cacheDir'] as string | undefined,
      execOnly: Boolean(flags['execOnly']),
      mode: flags['mode'] as 'auto' | 'whiteout' | 'allowlist',
      mountWith: flags['mountWith'] as 'auto' | 'root' | 'userns' | 'bwrap' | 'fuse',
      ...hostOptions(flags),
    });
    if (flags['json']) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const {describeAdded} = await import('../host/resources.js');
      for (const added of report.added) process.stdout.write(`added: ${describeAdded(added.path.slice(added.path.lastIndexOf('/') + 1), added)}\n`);
      for (const name of report.missing) process.stdout.write(`missing: /nix/store/${name}\n`);
      for (const name of report.leaks) process.stdout.write(`leak: /nix/store/${name}\n`);
      for (const name of report.newerThanMask) process.stdout.write(`newer than the mask: /nix/store/${name}\n`);
      process.stdout.write(report.ok
        ? `ok: the jail sees exactly the closure (${report.closureSize} paths, ${report.mode} mask ${report.mask})\n`
        : `FAILED: ${report.missing.length} missing, ${report.leaks.length} leaking, ${report.newerThanMask.length} newer than the ${report.mode} mask ${report.mask}\n`);
    }
    return report.ok ? 0 : 1;
  },
};
