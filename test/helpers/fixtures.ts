import path from 'node:path';
import {ROOT} from './nix.js';

export const fixture = (...parts: string[]): string => path.join(ROOT, 'fixtures', ...parts);

export const HELLO = '1b9p07z77phvv2hf6gm9f28syp39f1ag-hello-2.12.1';
export const GLIBC = '3n58xw4373jp0ljirf06d8077j15pc4j-glibc-2.37-8';
export const BASH = '5y2j2v9clqkzm3gmmvgb8bcl2hqfz2bb-bash-5.2p15';
export const UNRELATED = '7q9v1zra2hhh4x5rmqd7kfy0bwhpczl2-unrelated-1.0';
export const GLIBC_LINK = 'aa8iv7hwszxl5a0l1gj3xpng3p23z0ss-glibc-link';
