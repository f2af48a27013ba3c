/**
 * What the launcher (src/launcher.cts) hands the bundle through global symbols, and the
 * fallbacks when the modules are loaded some other way (the tests import them directly).
 */

/**
 * import() of the ES-module packages the CLI loads on demand (execa, meow). The launcher runs
 * the bundle from V8's code cache, and code compiled that way has no module loader behind its
 * import() (nodejs/node#43663), so the launcher lends its own.
 */
const PACKAGE_IMPORTER = Symbol.for('nix-overlay-jail.import-package');

/** Whether this start ran from the build's code cache: 'used', 'rejected' or 'missing'. */
const CODE_CACHE = Symbol.for('nix-overlay-jail.code-cache');

type Importer = (specifier: string) => Promise<unknown>;
const lent = globalThis as {[PACKAGE_IMPORTER]?: Importer; [CODE_CACHE]?: string};

export const importPackage = async <Module>(specifier: 'execa' | 'meow'): Promise<Module> => {
  const importer = lent[PACKAGE_IMPORTER];
  return (importer === undefined ? await import(specifier) : await importer(specifier)) as Module;
};

/** The launcher's report on the code cache, or undefined when not started by the launcher. */
export const codeCacheState = (): 'used' | 'rejected' | 'missing' | undefined => {
  const state = lent[CODE_CACHE];
  return state === 'used' || state === 'rejected' || state === 'missing' ? state : undefined;
};
