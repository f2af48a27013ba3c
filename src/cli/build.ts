/** `build`: build or refresh a mask. */
import process from 'node:process';
import {closureFlags, closureRequest, CLOSURE_HELP, maskFlags, MASK_HELP, progressBar, type Command} from './command.js';

export const buildCli: Command = {
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
    const {buildCommand} = await import('../commands/build.js');
    const {overlayOptions} = await import('../mount/options.js');
    const {shellQuote} = await import('../launch/shell.js');
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
};
