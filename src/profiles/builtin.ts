/**
 * The profiles shipped with the binary, by name: `--profile ci` and `--profile agent` (their
 * JSON is src/profiles/NAME.json; the build puts it beside the binary as profiles/NAME.json).
 * Kept apart from profile.ts so that naming one costs a start nothing.
 */
import path from 'node:path';
import {binaryPath} from '../cli/command.js';

/** The profiles shipped with the binary (src/profiles/NAME.json, beside it as profiles/NAME.json). */
export const BUILT_IN_PROFILES = ['ci', 'agent'] as const;

/** --profile's value as a file: a shipped profile's name is its file beside the binary; anything else a path (./ci for a file named ci). */
export const profilePath = (value: string, binaryDir: string): string =>
  (BUILT_IN_PROFILES as readonly string[]).includes(value) ? path.join(binaryDir, 'profiles', `${value}.json`) : value;

/** The file a --profile value names, for this binary. */
export const profileFile = (value: string): string => profilePath(value, path.dirname(binaryPath()));
