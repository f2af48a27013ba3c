import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {chooseStrategy, FUSE_SCRIPT, fuseOptions, hasNativeOverlay, launchArgv, maskView, MOUNT_COMMAND, MOUNT_SCRIPT, UNSHARE, type LaunchSpec} from '../../src/mount/strategy.js';
import {usernsOverlayUnavailable} from '../../src/mount/capabilities.js';
import {throwsJail} from '../helpers/errors.js';

const choose = suite('chooseStrategy');

choose('should mount as root when the caller is real root', () => {
  assert.is(chooseStrategy('auto', {isRoot: true}), 'root');
});

choose('should use a user namespace for an ordinary user, and bwrap 0.11+ when there is none', () => {
  assert.is(chooseStrategy('auto', {isRoot: false}), 'userns');
  assert.is(chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'off', bwrapVersion: [0, 11, 0]}), 'bwrap');
  assert.is(chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'off', bwrapVersion: [1, 0, 0]}), 'bwrap');
});

choose('should prefer bubblewrap mounting for an ordinary user where it can, never for root', () => {
  assert.is(chooseStrategy('auto', {isRoot: false, bwrapOverlayUsable: true}), 'bwrap');
  assert.is(chooseStrategy('auto', {isRoot: false, bwrapOverlayUsable: false}), 'userns');
  assert.is(chooseStrategy('auto', {isRoot: true, bwrapOverlayUsable: true}), 'root');
  // Forced ways are as forced.
  assert.is(chooseStrategy('userns', {isRoot: false, bwrapOverlayUsable: true}), 'userns');
  assert.is(chooseStrategy('root', {isRoot: true, bwrapOverlayUsable: true}), 'root');
});

choose('should not take bubblewrap 0.9 or 0.10, which have no overlay options', () => {
  for (const version of [[0, 9, 0], [0, 10, 0], [0, 10, 9]]) {
    assert.throws(() => chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'off', bwrapVersion: version}), /alternatively install bubblewrap 0\.11\.0 or later/);
    assert.throws(() => chooseStrategy('bwrap', {isRoot: true, bwrapVersion: version}), new RegExp(`bubblewrap ${version.join('\\.')} cannot mount overlays itself: that needs bubblewrap 0\\.11\\.0 or later`));
  }
});

choose('should say what is missing when nothing can work', () => {
  assert.throws(() => chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'namespaces are off', bwrapVersion: [0, 8, 0]}), /namespaces are off; alternatively install bubblewrap 0\.11\.0/);
});

choose('should refuse a forced strategy that cannot work', () => {
  assert.throws(() => chooseStrategy('root', {isRoot: false}), /needs real root/);
  assert.throws(() => chooseStrategy('bwrap', {isRoot: true, bwrapVersion: [0, 8, 0]}), /bubblewrap 0\.8\.0 cannot mount overlays/);
  assert.throws(() => chooseStrategy('userns', {isRoot: false, usernsUnavailable: 'off'}), /off/);
  assert.is(chooseStrategy('bwrap', {isRoot: false, bwrapVersion: [0, 11, 1]}), 'bwrap');
});

choose.run();

// ---

const launch = suite('launchArgv');

const spec = (strategy: LaunchSpec['strategy']): LaunchSpec => ({
  strategy,
  view: maskView('whiteout', '/cache/masks/k/layer', '/nix/store'),
  mountPoint: '/cache/masks/k/merged',
  uid: 1000,
  gid: 100,
  jail: {argv: ['/nix/store/x-hello/bin/hello', 'a b'], env: {PATH: '/nix/store/x-hello/bin'}, shareNet: false, binds: [], extra: [], statusFd: 3},
});

launch('should mount in a private mount namespace as root, then bind the merged store', () => {
  const argv = launchArgv(spec('root'));
  assert.equal(argv.slice(0, 12), ['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', MOUNT_SCRIPT, 'sh',
    'ro,lowerdir=/cache/masks/k/layer:/nix/store', '/cache/masks/k/merged', 'bwrap']);
  const bind = argv.indexOf('--ro-bind');
  assert.equal(argv.slice(bind, bind + 3), ['--ro-bind', '/cache/masks/k/merged', '/nix/store']);
  assert.not.ok(argv.includes('--uid'));
  assert.equal(argv.slice(-3), ['--', '/nix/store/x-hello/bin/hello', 'a b']);
});

launch('should map the caller back inside the user namespace', () => {
  const argv = launchArgv(spec('userns'));
  assert.equal(argv.slice(0, 7), ['unshare', '--user', '--map-root-user', '--mount', '--propagation', 'private', '--']);
  const uid = argv.indexOf('--uid');
  assert.equal(argv.slice(uid, uid + 4), ['--uid', '1000', '--gid', '100']);
});

launch('should begin each way\'s command line with its unshare words, which a launcher starts first (UNSHARE)', () => {
  for (const way of ['root', 'userns', 'bwrap'] as const) {
    const argv = launchArgv(spec(way));
    assert.equal(argv.slice(0, UNSHARE[way].length), [...UNSHARE[way]], way);
    assert.is(argv[UNSHARE[way].length], way === 'bwrap' ? 'bwrap' : 'sh', way);
  }
});

launch('should put the resource limits\' words right before bubblewrap, after the mount, in every way', () => {
  const limits = ['prlimit', '--nofile=16:16', '--'];
  for (const way of ['root', 'userns', 'bwrap'] as const) {
    const plain = launchArgv(spec(way));
    const limited = launchArgv({...spec(way), limits});
    const at = plain.indexOf('bwrap');
    assert.equal(limited, [...plain.slice(0, at), ...limits, ...plain.slice(at)], way);
  }
});

launch('should give bwrap the store first and the mask last (a later --overlay-src is higher)', () => {
  const argv = launchArgv(spec('bwrap'));
  assert.is(argv[0], 'bwrap');
  assert.not.ok(argv.includes('unshare'));
  const first = argv.indexOf('--overlay-src');
  assert.equal(argv.slice(first, first + 8), ['--overlay-src', '/nix/store', '--overlay-src', '/cache/masks/k/layer', '--ro-overlay', '/nix/store', '--remount-ro', '/nix/store']);
});

launch('should escape layer paths for mount and refuse them for bwrap', () => {
  const odd = {...spec('root'), view: maskView('whiteout', '/c a,b:c/layer', '/nix/store')};
  assert.ok(launchArgv(odd).includes('ro,lowerdir=/c a\\,b\\:c/layer:/nix/store'));
  assert.throws(() => launchArgv({...odd, strategy: 'bwrap'}), /cannot pass/);
});

launch('should stack an allowlist layer over the store parent and bind its store directory', () => {
  const argv = launchArgv({...spec('root'), view: maskView('allowlist', '/cache/masks/k/layer', '/nix/store')});
  assert.ok(argv.includes('ro,lowerdir=/cache/masks/k/layer:/nix,redirect_dir=follow,metacopy=on'));
  const bind = argv.indexOf('--ro-bind');
  assert.equal(argv.slice(bind, bind + 3), ['--ro-bind', '/cache/masks/k/merged/store', '/nix/store']);
});

launch('should refuse an allowlist mask without the root mount', () => {
  const view = maskView('allowlist', '/cache/masks/k/layer', '/nix/store');
  assert.throws(() => launchArgv({...spec('userns'), view}), /need real root/);
  assert.throws(() => launchArgv({...spec('bwrap'), view}), /cannot mount an allowlist mask itself/);
});

launch.run();

// ---

const each = suite('chooseStrategy and launchArgv, each branch');

each('should take a forced strategy that can work, and name the reason of one that cannot', () => {
  assert.is(chooseStrategy('root', {isRoot: true}), 'root');
  assert.is(chooseStrategy('userns', {isRoot: false}), 'userns');
  throwsJail(() => chooseStrategy('root', {isRoot: false}), 'usage', '--mount-with root needs real root; run as root or use --mount-with userns');
  throwsJail(() => chooseStrategy('userns', {isRoot: true, usernsUnavailable: 'switched off here'}), 'missing-tool', /^switched off here$/);
  throwsJail(() => chooseStrategy('bwrap', {isRoot: false}), 'missing-tool', 'bubblewrap (unknown version) cannot mount overlays itself: that needs bubblewrap 0.11.0 or later');
  throwsJail(() => chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'off'}), 'missing-tool', /^off; alternatively install bubblewrap 0\.11\.0 or later, which mounts the overlay itself$/);
  assert.not.ok(hasNativeOverlay(undefined));
  assert.ok(hasNativeOverlay([1, 0, 0]));
});

each('should mount, then exec the rest, in a script that gets every path as an argument', () => {
  assert.is(MOUNT_SCRIPT, 'mount -t overlay -o "$1" overlay "$2" || exit 125; shift 2; exec "$@"');
  assert.ok(MOUNT_SCRIPT.startsWith(`${MOUNT_COMMAND}; `), 'a launcher mounts with the same command');
});

each('should refuse allowlist masks anywhere but the root mount, saying why', () => {
  const view = maskView('allowlist', '/cache/masks/k/layer', '/nix/store');
  throwsJail(() => launchArgv({...spec('userns'), view}), 'usage', 'allowlist masks need real root: trusted.overlay attributes are ignored in a user namespace');
  throwsJail(() => launchArgv({...spec('bwrap'), view}), 'usage', 'bubblewrap cannot mount an allowlist mask itself: use --mount-with root');
});

each('should bind the merged directory itself for a whiteout mask', () => {
  const argv = launchArgv(spec('root'));
  assert.is(argv[argv.indexOf('--ro-bind') + 1], '/cache/masks/k/merged');
  const overlay = launchArgv(spec('bwrap'));
  assert.ok(overlay.includes('--ro-overlay'));
  assert.not.ok(overlay.includes('--ro-bind'));
});

each.run();

// ---

const fuse = suite('the fuse way');

fuse('should be taken when forced and usable, and by auto only where no kernel way works', () => {
  const usable = (): undefined => undefined;
  const missing = (): string => 'fuse-overlayfs not found on PATH';
  assert.is(chooseStrategy('fuse', {isRoot: false, fuseUnavailable: usable}), 'fuse');
  assert.is(chooseStrategy('fuse', {isRoot: true, usernsUnavailable: 'off', fuseUnavailable: usable}), 'fuse', 'root needs no user namespace');
  throwsJail(() => chooseStrategy('fuse', {isRoot: false, fuseUnavailable: missing}), 'missing-tool', 'fuse-overlayfs not found on PATH');
  throwsJail(() => chooseStrategy('fuse', {isRoot: false, usernsUnavailable: 'off', fuseUnavailable: usable}), 'missing-tool', '--mount-with fuse needs a user namespace: off');
  // auto: the kernel ways first; FUSE where the kernel cannot mount overlay in a user namespace.
  assert.is(chooseStrategy('auto', {isRoot: false, fuseUnavailable: usable}), 'userns');
  assert.is(chooseStrategy('auto', {isRoot: true, usernsOverlayUnavailable: 'Linux 5.4', fuseUnavailable: usable}), 'root');
  assert.is(chooseStrategy('auto', {isRoot: false, usernsOverlayUnavailable: 'Linux 5.4', bwrapVersion: [0, 12, 0], fuseUnavailable: usable}), 'fuse');
  assert.is(chooseStrategy('auto', {isRoot: false, usernsOverlayUnavailable: 'Linux 5.4', bwrapOverlayUsable: true, fuseUnavailable: usable}), 'fuse');
  throwsJail(() => chooseStrategy('auto', {isRoot: false, usernsOverlayUnavailable: 'Linux 5.4 cannot', fuseUnavailable: missing}), 'missing-tool', /^Linux 5\.4 cannot; alternatively install fuse-overlayfs/);
  throwsJail(() => chooseStrategy('auto', {isRoot: false, usernsOverlayUnavailable: 'Linux 5.4 cannot'}), 'missing-tool', /alternatively install fuse-overlayfs/);
  throwsJail(() => chooseStrategy('auto', {isRoot: false, usernsUnavailable: 'off', fuseUnavailable: usable}), 'missing-tool', /^off; alternatively install bubblewrap/);
});

fuse('should know which kernels cannot mount overlay in a user namespace', () => {
  assert.is(usernsOverlayUnavailable('5.10.0-28-amd64'), 'Linux 5.10 cannot mount overlay in a user namespace (5.11 can)');
  assert.is(usernsOverlayUnavailable('4.18.0-553.el8_10.x86_64'), 'Linux 4.18 cannot mount overlay in a user namespace (5.11 can)');
  for (const release of ['5.11.0', '6.1.0-13-amd64', '6.18.44-fc-v1272', 'unknown']) assert.is(usernsOverlayUnavailable(release), undefined, release);
});

fuse('should run fuse-overlayfs in the way\'s namespaces, dying with nix-overlay-jail, then bubblewrap binding its mount', () => {
  const argv = launchArgv(spec('fuse'));
  assert.equal(argv.slice(0, 4), ['setpriv', '--pdeathsig', 'KILL', '--']);
  assert.equal(argv.slice(4, 4 + UNSHARE.userns.length), [...UNSHARE.userns]);
  const script = argv.indexOf(FUSE_SCRIPT);
  assert.equal(argv.slice(script - 2, script + 4), ['sh', '-c', FUSE_SCRIPT, 'sh', 'lowerdir=/cache/masks/k/layer:/nix/store', '/cache/masks/k/merged']);
  assert.is(argv[script + 4], 'bwrap');
  assert.is(argv[argv.indexOf('--ro-bind') + 1], '/cache/masks/k/merged');
  assert.ok(argv.includes('--uid') && argv[argv.indexOf('--uid') + 1] === '1000', 'the caller mapped back');
  const asRoot = launchArgv({...spec('fuse'), uid: 0, gid: 0});
  assert.equal(asRoot.slice(4, 4 + UNSHARE.root.length), [...UNSHARE.root]);
  assert.not.ok(asRoot.includes('--uid'));
  assert.match(FUSE_SCRIPT, /^setpriv --pdeathsig KILL -- fuse-overlayfs -f -o "\$1" "\$2"/);
});

fuse('should take whiteout masks with plain layer paths only', () => {
  assert.is(fuseOptions(maskView('whiteout', '/c/masks/k/layer', '/nix/store')), 'lowerdir=/c/masks/k/layer:/nix/store');
  throwsJail(() => fuseOptions(maskView('allowlist', '/c/masks/k/layer', '/nix/store')), 'usage', /whiteout masks only/);
  throwsJail(() => launchArgv({...spec('fuse'), view: maskView('whiteout', '/c:a/masks/k/layer', '/nix/store')}), 'usage', /:/);
});

fuse.run();
