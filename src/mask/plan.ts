/**
 * The plan of a whiteout mask, as pure functions: which store entries to white out.
 * The listing is streamed (a store may hold a million entries), so the plan is a decision per
 * entry rather than a set difference held in memory.
 */
import type {StoreEntryName} from '../store.js';

export type EntryPlan = 'show' | 'hide' | 'hidden';

/**
 * What to do with one store entry: show it (it is in the closure), hide it (white it out), or
 * nothing because the mask hides it already. Dot entries (`.links`, `*.lock`) are entries too.
 */
export const planEntry = (
  name: StoreEntryName,
  closure: ReadonlySet<StoreEntryName>,
  hidden: ReadonlySet<StoreEntryName>,
): EntryPlan => (closure.has(name) ? 'show' : hidden.has(name) ? 'hidden' : 'hide');
