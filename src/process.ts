/**
 * execa, loaded on first use: importing it costs ~100 ms, which a jail's start must not pay
 * (the binary is a CommonJS bundle, and execa is ESM-only, so it is imported dynamically).
 */
import {importPackage} from './launcher-globals.js';

export const loadExeca = async (): Promise<typeof import('execa').execa> =>
  (await importPackage<typeof import('execa')>('execa')).execa;
