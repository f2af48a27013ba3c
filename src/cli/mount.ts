/** `mount`: the masked store on a host directory. */
import process from 'node:process';
import {JailError} from '../errors.js';
import {closureFlags, closureRequest, CLOSURE_HELP, maskFlags, MASK_HELP, type Command} from './command.js';

export const mountCli: Command = {
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
    const {mountCommand, umountCommand} = await import('../commands/mount.js');
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
};
