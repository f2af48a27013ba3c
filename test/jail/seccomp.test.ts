import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {ttyInjectionFilter, ttyInjectionFilterProgram} from '../../src/jail/seccomp.js';

/** Run a classic BPF seccomp program over a seccomp_data, as the kernel would. */
const evaluate = (nr: number, arch: number, request: number): number => {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr, 0);
  data.writeUInt32LE(arch >>> 0, 4);
  data.writeUInt32LE(request >>> 0, 24);
  const program = ttyInjectionFilterProgram();
  let accumulator = 0;
  for (let pc = 0; pc < program.length;) {
    const [code, jt, jf, k] = program[pc]!;
    if (code === 0x20) {
      accumulator = data.readUInt32LE(k);
      pc++;
    } else if (code === 0x15) {
      pc += 1 + (accumulator === (k >>> 0) ? jt : jf);
    } else if (code === 0x06) {
      return k;
    } else {
      throw new Error(`unexpected instruction ${code}`);
    }
  }
  throw new Error('fell off the program');
};

const ALLOW = 0x7fff0000;
const EPERM = 0x00050001;
const X86_64 = 0xc000003e;
const I386 = 0x40000003;
const AARCH64 = 0xc00000b7;

const filter = suite('tty injection seccomp filter');

filter('should refuse TIOCSTI and TIOCLINUX on every listed architecture', () => {
  for (const [arch, ioctl] of [[X86_64, 16], [I386, 54], [AARCH64, 29]] as const) {
    assert.is(evaluate(ioctl, arch, 0x5412), EPERM, `TIOCSTI on ${arch.toString(16)}`);
    assert.is(evaluate(ioctl, arch, 0x541c), EPERM, `TIOCLINUX on ${arch.toString(16)}`);
  }
});

filter('should allow every other ioctl and every other system call', () => {
  assert.is(evaluate(16, X86_64, 0x5401), ALLOW, 'TCGETS');
  assert.is(evaluate(16, X86_64, 0x5413), ALLOW, 'TIOCGWINSZ');
  assert.is(evaluate(0, X86_64, 0x5412), ALLOW, 'read with a TIOCSTI-like argument');
  assert.is(evaluate(54, X86_64, 0x5412), ALLOW, 'x86_64 syscall 54 is setsockopt, not ioctl');
  assert.is(evaluate(16, 0x12345678, 0x5412), ALLOW, 'an unlisted architecture');
});

filter('should serialise as 8-byte little-endian sock_filter entries', () => {
  const bytes = ttyInjectionFilter();
  const program = ttyInjectionFilterProgram();
  assert.is(bytes.length, program.length * 8);
  assert.is(bytes.readUInt16LE(0), program[0]![0]);
  assert.is(bytes.readUInt32LE(bytes.length - 4), EPERM);
});

filter.run();
