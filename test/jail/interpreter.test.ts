import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {assertRunnable, interpreterOf} from '../../src/jail/interpreter.js';

/** A minimal ELF file with one PT_LOAD and, when given, a PT_INTERP naming `interpreter`. */
const elf = (is64: boolean, little: boolean, interpreter?: string): Buffer => {
  const header = is64 ? 64 : 52;
  const entry = is64 ? 56 : 32;
  const headers = interpreter === undefined ? 1 : 2;
  const data = Buffer.from(`${interpreter ?? ''}\0`, 'latin1');
  const buffer = Buffer.alloc(header + entry * headers + data.length);
  const u16 = (value: number, at: number) => (little ? buffer.writeUInt16LE(value, at) : buffer.writeUInt16BE(value, at));
  const u32 = (value: number, at: number) => (little ? buffer.writeUInt32LE(value, at) : buffer.writeUInt32BE(value, at));
  const word = (value: number, at: number) => (is64 ? (little ? buffer.writeBigUInt64LE(BigInt(value), at) : buffer.writeBigUInt64BE(BigInt(value), at)) : u32(value, at));
  buffer.writeUInt32BE(0x7f454c46, 0);
  buffer[4] = is64 ? 2 : 1;
  buffer[5] = little ? 1 : 2;
  word(header, is64 ? 32 : 28);
  u16(entry, is64 ? 54 : 42);
  u16(headers, is64 ? 56 : 44);
  const types = interpreter === undefined ? [1] : [1, 3];
  types.forEach((type, index) => {
    const at = header + index * entry;
    u32(type, at);
    if (type === 3) {
      word(header + entry * headers, at + (is64 ? 8 : 4));
      word(data.length, at + (is64 ? 32 : 16));
    }
  });
  data.copy(buffer, header + entry * headers);
  return buffer;
};

const of = (file: Buffer): string | undefined => interpreterOf(file.subarray(0, 256), (offset, length) => file.subarray(offset, offset + length));

const parse = suite('interpreterOf');

parse('should read a script\'s #! line as the kernel does', () => {
  assert.is(of(Buffer.from('#!/nix/store/abc-bash/bin/bash -e\necho\n')), '/nix/store/abc-bash/bin/bash');
  assert.is(of(Buffer.from('#! \t/bin/sh\n')), '/bin/sh');
  assert.is(of(Buffer.from('#!\n')), undefined);
  assert.is(of(Buffer.from('echo no interpreter\n')), undefined);
});

parse('should read PT_INTERP of 64- and 32-bit ELF files of either byte order, and nothing of a static one', () => {
  for (const is64 of [true, false]) {
    for (const little of [true, false]) {
      assert.is(of(elf(is64, little, '/nix/store/abc-glibc/lib/ld-linux-x86-64.so.2')), '/nix/store/abc-glibc/lib/ld-linux-x86-64.so.2', `${is64 ? 64 : 32}-bit ${little ? 'LE' : 'BE'}`);
      assert.is(of(elf(is64, little)), undefined);
    }
  }
});

parse.run();

// ---

const runnable = suite('assertRunnable');

runnable('should refuse, with 126 and the missing piece, a chain of interpreters that leaves the closure', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-interp-'));
  try {
    const put = (file: string, content: string | Buffer, mode = 0o755): void => {
      fs.mkdirSync(path.dirname(path.join(store, file)), {recursive: true});
      fs.writeFileSync(path.join(store, file), content, {mode});
    };
    put('aaa-loader/lib/ld.so', elf(true, true));
    put('bbb-bash/bin/bash', elf(true, true, '/nix/store/aaa-loader/lib/ld.so'));
    put('ccc-app/bin/app', '#!/nix/store/bbb-bash/bin/bash\n');
    put('ddd-host/bin/tool', '#!/usr/bin/python3\n');
    fs.mkdirSync(path.join(store, 'eee-link/bin'), {recursive: true});
    fs.symlinkSync(path.join(store, 'bbb-bash/bin/bash'), path.join(store, 'eee-link/bin/sh'));
    const jail = (closure: string[], bindDests: string[] = [], opaque = false) => ({storeDir: store, closure: new Set(closure), bindDests, opaque});
    const refusal = (program: string, closure: string[], message: RegExp, bindDests: string[] = []): void => {
      try {
        assertRunnable(program, jail(closure, bindDests));
        assert.unreachable(`${program} should be refused`);
      } catch (error) {
        assert.instance(error, Error);
        assert.is((error as {exitCode?: number}).exitCode, 126);
        assert.match((error as Error).message, message);
      }
    };
    assertRunnable('/nix/store/ccc-app/bin/app', jail(['aaa-loader', 'bbb-bash', 'ccc-app']));
    refusal('/nix/store/ccc-app/bin/app', ['bbb-bash', 'ccc-app'], /its interpreter \/nix\/store\/aaa-loader\/lib\/ld\.so is not in the closure/);
    refusal('/nix/store/ccc-app/bin/app', ['aaa-loader', 'ccc-app'], /its interpreter \/nix\/store\/bbb-bash\/bin\/bash is not in the closure/);
    refusal('/nix/store/ccc-app/bin/app', ['aaa-loader', 'bbb-bash'], /\/nix\/store\/ccc-app is not in its closure/);
    refusal('/nix/store/eee-link/bin/sh', ['eee-link', 'aaa-loader'], /leads to \/nix\/store\/bbb-bash, which is not in the closure/);
    refusal('/nix/store/ddd-host/bin/tool', ['ddd-host'], /its interpreter \/usr\/bin\/python3 is outside \/nix\/store and not bound in/);
    refusal('/nix/store/ddd-host/bin/tool', ['ddd-host'], /not bound in/, ['/usr/bin/python']);
    assertRunnable('/nix/store/ddd-host/bin/tool', jail(['ddd-host'], ['/usr']));
    assertRunnable('/nix/store/ddd-host/bin/tool', jail(['ddd-host'], [], true));
  } finally {
    fs.rmSync(store, {recursive: true, force: true});
  }
});

runnable('should follow the links the jail makes (#!/usr/bin/env, #!/bin/sh, a chain through a directory) into the closure', () => {
  const store = fs.mkdtempSync(path.join(os.tmpdir(), 'noj-interp-'));
  try {
    const put = (file: string, content: string | Buffer): void => {
      fs.mkdirSync(path.dirname(path.join(store, file)), {recursive: true});
      fs.writeFileSync(path.join(store, file), content, {mode: 0o755});
    };
    put('aaa-loader/lib/ld.so', elf(true, true));
    put('bbb-coreutils/bin/env', elf(true, true, '/nix/store/aaa-loader/lib/ld.so'));
    put('ccc-bash/bin/sh', elf(true, true, '/nix/store/aaa-loader/lib/ld.so'));
    put('ddd-tool/bin/envy', '#!/usr/bin/env python3\n');
    put('ddd-tool/bin/shy', '#! /bin/sh -e\n');
    put('ddd-tool/bin/system', '#!/run/current-system/sw/bin/sh\n');
    const links = [
      {target: '/nix/store/bbb-coreutils/bin/env', dest: '/usr/bin/env'},
      {target: '/nix/store/ccc-bash/bin/sh', dest: '/bin/sh'},
      {target: 'booted', dest: '/run/current-system'},
      {target: '/nix/store/eee-system', dest: '/run/booted'},
    ];
    const all = ['aaa-loader', 'bbb-coreutils', 'ccc-bash', 'ddd-tool', 'eee-system'];
    const jail = (closure: string[], withLinks: boolean, bindDests: string[] = []) => ({storeDir: store, closure: new Set(closure), bindDests, opaque: false, links: withLinks ? links : []});
    const refused = (program: string, files: ReturnType<typeof jail>, message: RegExp): void => {
      try {
        assertRunnable(program, files);
        assert.unreachable(`${program} should be refused`);
      } catch (error) {
        assert.is((error as {exitCode?: number}).exitCode, 126);
        assert.match((error as Error).message, message);
      }
    };
    assertRunnable('/nix/store/ddd-tool/bin/envy', jail(all, true));
    assertRunnable('/nix/store/ddd-tool/bin/shy', jail(all, true));
    // No system links (--no-system-links): the interpreter is outside the store and not bound.
    refused('/nix/store/ddd-tool/bin/envy', jail(all, false), /its interpreter \/usr\/bin\/env is outside \/nix\/store and not bound in/);
    refused('/nix/store/ddd-tool/bin/shy', jail(all, false), /its interpreter \/bin\/sh is outside/);
    // The link leads into the store, where the interpreter's own interpreter must be too.
    refused('/nix/store/ddd-tool/bin/envy', jail(['bbb-coreutils', 'ddd-tool'], true), /its interpreter \/nix\/store\/aaa-loader\/lib\/ld\.so is not in the closure/);
    refused('/nix/store/ddd-tool/bin/envy', jail(['aaa-loader', 'ddd-tool'], true), /its interpreter \/nix\/store\/bbb-coreutils\/bin\/env is not in the closure/);
    // A bind over the link replaces it: the bound file is the interpreter, outside this check.
    assertRunnable('/nix/store/ddd-tool/bin/envy', jail(['ddd-tool'], true, ['/usr/bin']));
    // Through a directory's link, a relative one, and a link below the store's entry.
    refused('/nix/store/ddd-tool/bin/system', jail(['aaa-loader', 'ccc-bash', 'ddd-tool'], true), /its interpreter \/nix\/store\/eee-system\/sw\/bin\/sh is not in the closure/);
  } finally {
    fs.rmSync(store, {recursive: true, force: true});
  }
});

runnable.run();
