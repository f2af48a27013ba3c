/**
 * import() of the ES-module packages the CLI loads on demand (execa, meow).
 *
 * The launcher runs the bundle from V8's code cache, and code compiled that way has no module
 * loader behind its import() (nodejs/node#43663); so the launcher lends its own import() under
 * a global symbol. Loaded any other way (the tests import the modules), import() as usual.
 */
export const PACKAGE_IMPORTER = Symbol.for('nix-overlay-jail.import-package');

type Importer = (specifier: string) => Promise<unknown>;

export const importPackage = async <Module>(specifier: 'execa' | 'meow'): Promise<Module> => {
  const lent = (globalThis as Record<symbol, Importer | undefined>)[PACKAGE_IMPORTER];
  return (lent === undefined ? await import(specifier) : await lent(specifier)) as Module;
};
