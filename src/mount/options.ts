/**
 * Overlay mount options, as pure functions.
 *
 * The kernel splits the option string at commas and `lowerdir` at colons, and both honour a
 * backslash escape; libmount (mount(8)) also strips double quotes, which therefore cannot be
 * carried at all. Escaping is done here, in one place, and what cannot be escaped is refused.
 */
import {JailError} from '../errors.js';

/** Escape one directory for a `lowerdir=` list. */
export const escapeLayer = (dir: string): string => {
  if (/["\n\0]/.test(dir)) {
    throw new JailError('usage', `cannot use ${JSON.stringify(dir)} as an overlay layer: the mount option syntax cannot carry a double quote or a newline`);
  }
  return dir.replace(/[\\,:]/g, match => `\\${match}`);
};

/**
 * The options of a read-only overlay with no upper layer. Layers are given top first: the
 * mask above the store (`lowerdir=MASK:STORE`), so the mask's whiteouts hide store entries.
 */
export const overlayOptions = (layersTopFirst: readonly string[], extra: readonly string[] = []): string => {
  if (layersTopFirst.length < 2) throw new Error('an overlay without an upper layer needs at least two lower layers');
  return ['ro', `lowerdir=${layersTopFirst.map(escapeLayer).join(':')}`, ...extra].join(',');
};

/**
 * bubblewrap ≥ 0.11 builds the option string itself from `--overlay-src` paths; rather than
 * rely on its escaping, refuse the characters the syntax gives meaning to.
 */
export const assertPlainLayerPath = (dir: string): void => {
  if (/[,:\\"\n\0]/.test(dir)) {
    throw new JailError('usage', `cannot pass ${JSON.stringify(dir)} to bwrap --overlay-src: it holds a comma, colon, backslash, quote or newline (use --mount-with userns or root)`);
  }
};
