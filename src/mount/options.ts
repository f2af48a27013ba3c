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

const splitUnescaped = (text: string, separator: string): string[] => {
  const parts: string[] = [];
  let current = '';
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char === '\\' && index + 1 < text.length) {
      current += char + text[index + 1]!;
      index++;
    } else if (char === separator) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  parts.push(current);
  return parts;
};

/**
 * The lower layers (top first) of an overlay, from its super options as /proc/self/mountinfo
 * shows them: octal escapes of the mount table first, then the option syntax's backslashes.
 * The inverse of overlayOptions; undefined when there is no lowerdir.
 */
export const overlayLowerLayers = (superOptions: string): string[] | undefined => {
  const text = superOptions.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
  const lowerdir = splitUnescaped(text, ',').find(option => option.startsWith('lowerdir='));
  if (lowerdir === undefined) return undefined;
  return splitUnescaped(lowerdir.slice('lowerdir='.length), ':').map(layer => layer.replace(/\\(.)/g, '$1'));
};

/**
 * The characters overlayfs's option syntax gives meaning to. bubblewrap ≥ 0.11 builds the
 * option string itself from `--overlay-src` paths; rather than rely on its escaping, paths
 * that hold them are not given to it.
 */
const UNPLAIN = /[,:\\"\n\0]/;

/** Whether bubblewrap can be given these directories (and any below them) as layers. */
export const plainLayerPaths = (dirs: readonly string[]): boolean => !dirs.some(dir => UNPLAIN.test(dir));

export const assertPlainLayerPath = (dir: string): void => {
  if (!plainLayerPaths([dir])) {
    throw new JailError('usage', `cannot pass ${JSON.stringify(dir)} to bwrap --overlay-src: it holds a comma, colon, backslash, quote or newline (use --mount-with userns or root)`);
  }
};
