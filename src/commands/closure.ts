import {computeClosure, type ClosureRequest} from '../closure/index.js';
import {JAIL_STORE} from '../store.js';

/** `closure`: the closure as store paths under /nix/store, sorted. */
export const closureCommand = async (request: ClosureRequest): Promise<string[]> => {
  const closure = await computeClosure(request);
  return [...closure.entries].sort().map(name => `${JAIL_STORE}/${name}`);
};
