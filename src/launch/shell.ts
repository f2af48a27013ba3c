/** Quote one word for sh: single quotes, with each ' written as '\''. */
export const shellQuote = (word: string): string => `'${word.replace(/'/g, `'\\''`)}'`;
