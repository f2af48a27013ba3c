/**
 * The four ways to get one overlay mount under the jail, and the command line of each, as
 * pure functions.
 *
 *  root    real root: a private mount namespace (so no host mount is left behind), mount the
 *          overlay there, then bubblewrap binds the merged directory at /nix/store;
 *  userns  an ordinary user: the same inside an unprivileged user namespace (Linux ≥ 5.11
 *          allows overlay there), with bubblewrap nested inside mapping the caller back;
 *  bwrap   bubblewrap ≥ 0.11.0 mounts the overlay itself (--overlay-src, --ro-overlay: new in
 *          0.11.0, by its NEWS; 0.9 and 0.10 have no overlay options). An ordinary user's
 *          first choice where it can: an equal jail with two processes fewer.
 *  fuse    fuse-overlayfs mounts the same layers through FUSE, in the namespaces the root or
 *          userns way makes: for kernels that cannot mount overlay in a user namespace (before
 *          5.11) and stores the kernel's overlay refuses. It runs in the foreground, a child of
 *          the launch shell, which stays bubblewrap's parent too; both die with the shell, and
 *          the shell with nix-overlay-jail (setpriv --pdeathsig): nothing is left behind.
 *
 * Between unshare and bubblewrap a fixed shell script does the mount. Its text never changes;
 * every path and option reaches it as a positional parameter, so nothing is interpreted.
 */
import path from 'node:path';
import {JailError} from '../errors.js';
import {bwrapArgs, type JailSpec} from '../jail/args.js';
import {assertPlainLayerPath, overlayOptions} from './options.js';

export type Strategy = 'root' | 'userns' | 'bwrap' | 'fuse';
/** The ways a launcher's warm path starts itself (launcher.ts); a fuse jail always goes through exec. */
export type LauncherWay = Exclude<Strategy, 'fuse'>;
export type StrategyChoice = Strategy | 'auto';

/** The launch script's exit status when the overlay mount itself failed. */
export const MOUNT_FAILED = 125;
/** The mount, of the options in $1 at $2; the launch script's, and a launcher's (launcher.ts). */
export const MOUNT_COMMAND = `mount -t overlay -o "$1" overlay "$2" || exit ${MOUNT_FAILED}`;
export const MOUNT_SCRIPT = `${MOUNT_COMMAND}; shift 2; exec "$@"`;

/**
 * What the launch command starts with: the namespaces the overlay is mounted in, made by
 * unshare (the user's own and a mount namespace for userns; a private mount namespace for
 * root), before the mount script; nothing for bwrap, which mounts it in its own.
 */
export const UNSHARE: Readonly<Record<LauncherWay, readonly string[]>> = {
  root: ['unshare', '--mount', '--propagation', 'private', '--'],
  userns: ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private', '--'],
  bwrap: [],
};

/** The fuse way's namespaces (the root way's, or the user namespace's), dying with nix-overlay-jail. */
export const fuseUnshare = (isRoot: boolean): string[] =>
  ['setpriv', '--pdeathsig', 'KILL', '--', ...(isRoot ? UNSHARE.root : UNSHARE.userns)];

/**
 * The fuse way's launch script: fuse-overlayfs with the options in $1 at $2, in the
 * foreground and dying with this shell (--pdeathsig), its messages passed on but for the one it
 * gives each time bubblewrap remounts the store read-only (lazytime, which FUSE does not
 * take); once the mount is listed, the rest ("$@": bubblewrap, or verify's find) as a child.
 * When this shell exits, the kernel ends fuse-overlayfs, and the mount goes with the namespace.
 */
export const FUSE_SCRIPT = String.raw`setpriv --pdeathsig KILL -- fuse-overlayfs -f -o "$1" "$2" 2>&1 | while IFS= read -r noj_l; do
  case $noj_l in 'unknown argument ignored: lazytime') ;; *) printf '%s\n' "$noj_l" >&2;; esac
done &
noj_fuse=$!
noj_i=0
while :; do
  noj_up=
  while IFS= read -r noj_l; do
    case $noj_l in *" $2 "*" - fuse."*) noj_up=1;; esac
  done </proc/self/mountinfo
  [ -z "$noj_up" ] || break
  kill -0 "$noj_fuse" 2>/dev/null || exit ${MOUNT_FAILED}
  noj_i=$((noj_i + 1))
  [ "$noj_i" -lt 100000 ] || exit ${MOUNT_FAILED}
done
shift 2
"$@"`;

/** fuse-overlayfs's options for a whiteout mask: its layers (plain paths), read-only (no upper layer). */
export const fuseOptions = (view: MaskView): string => {
  if (view.mode !== 'whiteout') throw new JailError('usage', 'fuse-overlayfs follows no redirects, which an allowlist mask needs: --mount-with fuse takes whiteout masks only (--mode whiteout)');
  view.layersTopFirst.forEach(assertPlainLayerPath);
  return `lowerdir=${view.layersTopFirst.join(':')}`;
};

export interface Capabilities {
  isRoot: boolean;
  /** Why unprivileged user namespaces are unavailable, or undefined when they work. */
  usernsUnavailable?: string | undefined;
  /** bubblewrap's version as [major, minor, patch], when it was asked for. */
  bwrapVersion?: readonly number[] | undefined;
  /**
   * Whether bubblewrap can mount overlays itself and the layers' paths can be passed to it
   * (bwrapOverlayUsable in capabilities.ts): then auto prefers it to the user
   * namespace, whose unshare and mount are two processes more (a launcher's warm start
   * ~3.5 ms, exec's ~4 ms).
   */
  bwrapOverlayUsable?: boolean | undefined;
  /** Why the kernel cannot mount overlay in a user namespace (before 5.11), or undefined. */
  usernsOverlayUnavailable?: string | undefined;
  /** Why fuse-overlayfs cannot be used (asked only when the choice depends on it), or undefined. */
  fuseUnavailable?: (() => string | undefined) | undefined;
}

/** The first bubblewrap with --overlay-src and --ro-overlay. */
export const NATIVE_OVERLAY_SINCE = [0, 11, 0] as const;

export const hasNativeOverlay = (version: readonly number[] | undefined): boolean =>
  version !== undefined && ((version[0] ?? 0) > 0 || (version[1] ?? 0) >= NATIVE_OVERLAY_SINCE[1]);

/** Pick the strategy; a forced one that cannot work is an error that says why. */
export const chooseStrategy = (choice: StrategyChoice, caps: Capabilities): Strategy => {
  switch (choice) {
    case 'root':
      if (!caps.isRoot) throw new JailError('usage', '--mount-with root needs real root; run as root or use --mount-with userns');
      return 'root';
    case 'userns':
      if (caps.usernsUnavailable) throw new JailError('missing-tool', caps.usernsUnavailable);
      return 'userns';
    case 'bwrap':
      if (!hasNativeOverlay(caps.bwrapVersion)) {
        throw new JailError('missing-tool', `bubblewrap ${caps.bwrapVersion?.join('.') ?? '(unknown version)'} cannot mount overlays itself: that needs bubblewrap ${NATIVE_OVERLAY_SINCE.join('.')} or later`);
      }
      return 'bwrap';
    case 'fuse': {
      if (!caps.isRoot && caps.usernsUnavailable) throw new JailError('missing-tool', `--mount-with fuse needs a user namespace: ${caps.usernsUnavailable}`);
      const why = caps.fuseUnavailable?.();
      if (why !== undefined) throw new JailError('missing-tool', why);
      return 'fuse';
    }
    case 'auto': {
      // Real root keeps its own mount: only it can stack an allowlist mask.
      if (caps.isRoot) return 'root';
      if (!caps.usernsUnavailable && !caps.usernsOverlayUnavailable) return caps.bwrapOverlayUsable ? 'bwrap' : 'userns';
      if (!caps.usernsOverlayUnavailable && hasNativeOverlay(caps.bwrapVersion)) return 'bwrap';
      // No kernel way: FUSE, where it is there.
      if (!caps.usernsUnavailable && caps.fuseUnavailable !== undefined && caps.fuseUnavailable() === undefined) return 'fuse';
      const kernel = caps.usernsUnavailable ?? caps.usernsOverlayUnavailable;
      throw new JailError('missing-tool', `${kernel}; alternatively install ${caps.usernsOverlayUnavailable === undefined ? `bubblewrap ${NATIVE_OVERLAY_SINCE.join('.')} or later, which mounts the overlay itself` : 'fuse-overlayfs (with /dev/fuse usable), which mounts it through FUSE'}`);
    }
  }
};

/**
 * How a mask is stacked: the layers (top first), extra mount options, and where the store is
 * inside the merged tree ('' when the lowest layer is the store itself).
 */
export interface MaskView {
  mode: 'whiteout' | 'allowlist';
  layersTopFirst: string[];
  options: string[];
  storeSubdir: string;
}

export const maskView = (mode: MaskView['mode'], layer: string, storeDir: string): MaskView =>
  mode === 'whiteout'
    ? {mode, layersTopFirst: [layer, storeDir], options: [], storeSubdir: ''}
    // The allowlist layer stands for the store's parent: its store directory can be opaque.
    : {mode, layersTopFirst: [layer, path.dirname(storeDir)], options: ['redirect_dir=follow', 'metacopy=on'], storeSubdir: path.basename(storeDir)};

export interface LaunchSpec {
  strategy: Strategy;
  view: MaskView;
  mountPoint: string;
  jail: Omit<JailSpec, 'store' | 'uid' | 'gid'>;
  uid: number;
  gid: number;
  /** Words before bubblewrap that set its resource limits (prlimit), if any. */
  limits?: readonly string[] | undefined;
}

/** The whole command line that starts the jail. */
export const launchArgv = (spec: LaunchSpec): string[] => {
  const {view} = spec;
  if (spec.strategy === 'bwrap') {
    // bubblewrap mounts with userxattr, which never follows redirects: whiteout masks only.
    if (view.mode !== 'whiteout') throw new JailError('usage', 'bubblewrap cannot mount an allowlist mask itself: use --mount-with root');
    view.layersTopFirst.forEach(assertPlainLayerPath);
    return [...(spec.limits ?? []), 'bwrap', ...bwrapArgs({...spec.jail, store: {kind: 'overlay', layersTopFirst: view.layersTopFirst}})];
  }
  if (spec.strategy === 'fuse') {
    const bwrap = bwrapArgs({...spec.jail, store: {kind: 'bind', merged: spec.mountPoint}, ...(spec.uid === 0 ? {} : {uid: spec.uid, gid: spec.gid})});
    return [...fuseUnshare(spec.uid === 0), 'sh', '-c', FUSE_SCRIPT, 'sh', fuseOptions(view), spec.mountPoint, ...(spec.limits ?? []), 'bwrap', ...bwrap];
  }
  if (view.mode === 'allowlist' && spec.strategy !== 'root') {
    throw new JailError('usage', 'allowlist masks need real root: trusted.overlay attributes are ignored in a user namespace');
  }
  const mount = ['sh', '-c', MOUNT_SCRIPT, 'sh', overlayOptions(view.layersTopFirst, view.options), spec.mountPoint];
  const bwrap = bwrapArgs({
    ...spec.jail,
    store: {kind: 'bind', merged: view.storeSubdir === '' ? spec.mountPoint : path.join(spec.mountPoint, view.storeSubdir)},
    // Inside the user namespace the caller is root; map their own ids back for the program.
    ...(spec.strategy === 'userns' ? {uid: spec.uid, gid: spec.gid} : {}),
  });
  return [...UNSHARE[spec.strategy], ...mount, ...(spec.limits ?? []), 'bwrap', ...bwrap];
};
