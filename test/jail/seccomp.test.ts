import fc from 'fast-check';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {IOCTL_BY_ARCH, REFUSED_REQUESTS, ttyInjectionFilter, ttyInjectionFilterProgram} from '../../src/jail/seccomp.js';
import {propertyRuns, tally} from '../helpers/tally.js';

/**
 * Run the filter over a struct seccomp_data as the kernel's classic BPF interpreter would,
 * for the three instructions it uses (ld word absolute, jeq constant, ret constant), from the
 * serialised bytes bubblewrap reads. Anything else, a jump out of the program or falling off
 * its end is an error, as the kernel's checker would refuse it.
 */
const evaluate = (nr: number, arch: number, request: bigint): number => {
  const data = Buffer.alloc(64);
  data.writeInt32LE(nr | 0, 0);
  data.writeUInt32LE(arch >>> 0, 4);
  data.writeBigUInt64LE(request & 0xffffffffffffffffn, 24);
  const bytes = ttyInjectionFilter();
  const length = bytes.length / 8;
  let accumulator = 0;
  for (let pc = 0; pc < length;) {
    const code = bytes.readUInt16LE(pc * 8);
    const [jt, jf, k] = [bytes.readUInt8(pc * 8 + 2), bytes.readUInt8(pc * 8 + 3), bytes.readUInt32LE(pc * 8 + 4)];
    if (code === 0x20) {
      if (k % 4 !== 0 || k + 4 > data.length) throw new Error(`load out of seccomp_data at ${k}`);
      accumulator = data.readUInt32LE(k);
      pc++;
    } else if (code === 0x15) {
      pc += 1 + (accumulator === k ? jt : jf);
      if (pc >= length) throw new Error('jump out of the program');
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
const ARM = 0x40000028;
const RISCV64 = 0xc00000f3;
const X32_IOCTL = 0x40000000 | 514;
const TIOCSTI = 0x5412n;
const TIOCLINUX = 0x541cn;

const filter = suite('tty injection seccomp filter');

filter('should refuse TIOCSTI and TIOCLINUX through ioctl on every supported ABI', () => {
  for (const [arch, ioctl] of [[X86_64, 16], [X86_64, X32_IOCTL], [I386, 54], [AARCH64, 29], [ARM, 54], [RISCV64, 29]] as const) {
    assert.is(evaluate(ioctl, arch, TIOCSTI), EPERM, `TIOCSTI, ${arch.toString(16)} ${ioctl}`);
    assert.is(evaluate(ioctl, arch, TIOCLINUX), EPERM, `TIOCLINUX, ${arch.toString(16)} ${ioctl}`);
    // The kernel takes the request as an unsigned int: the high half changes nothing.
    assert.is(evaluate(ioctl, arch, TIOCSTI | 0xffffffff00000000n), EPERM, `TIOCSTI with the high bits set, ${arch.toString(16)} ${ioctl}`);
  }
});

filter('should allow every other ioctl and every other system call', () => {
  assert.is(evaluate(16, X86_64, 0x5401n), ALLOW, 'TCGETS');
  assert.is(evaluate(16, X86_64, 0x5413n), ALLOW, 'TIOCGWINSZ');
  assert.is(evaluate(0, X86_64, TIOCSTI), ALLOW, 'read with a TIOCSTI-like argument');
  assert.is(evaluate(54, X86_64, TIOCSTI), ALLOW, 'x86_64 syscall 54 is setsockopt, not ioctl');
  assert.is(evaluate(0x40000000 | 16, X86_64, TIOCSTI), ALLOW, 'x32 system call 16 is not ioctl (x32 uses 514)');
  assert.is(evaluate(514, X86_64, TIOCSTI), ALLOW, 'x86_64 system call 514 without the x32 bit does not exist');
  assert.is(evaluate(16, 0x12345678, TIOCSTI), ALLOW, 'an unlisted architecture');
});

filter('should refuse exactly TIOCSTI and TIOCLINUX of every supported ABI, for any arch, number and request', () => {
  const ioctls = new Map(IOCTL_BY_ARCH.map(([arch, numbers]) => [arch, new Set(numbers)]));
  const arch = fc.oneof(fc.constantFrom(...IOCTL_BY_ARCH.map(([value]) => value)), fc.integer({min: 0, max: 0xffffffff}));
  const nr = fc.oneof(fc.constantFrom(16, 29, 54, 514, X32_IOCTL, 0x40000000 | 16), fc.integer({min: -1, max: 0x7fffffff}));
  const request = fc.tuple(fc.oneof(fc.constantFrom(Number(TIOCSTI), Number(TIOCLINUX), 0x5401), fc.integer({min: 0, max: 0xffffffff})), fc.integer({min: 0, max: 0xffffffff}))
    .map(([low, high]) => (BigInt(high) << 32n) | BigInt(low));
  const runs = propertyRuns(3000);
  fc.assert(fc.property(arch, nr, request, (a, n, r) => {
    const refused = (ioctls.get(a)?.has(n) ?? false) && (REFUSED_REQUESTS as readonly number[]).includes(Number(r & 0xffffffffn));
    return evaluate(n, a, r) === (refused ? EPERM : ALLOW);
  }), {numRuns: runs});
  tally('property', runs);
});

filter('should serialise as 8-byte little-endian sock_filter entries', () => {
  const bytes = ttyInjectionFilter();
  const program = ttyInjectionFilterProgram();
  assert.is(bytes.length, program.length * 8);
  program.forEach(([code, jt, jf, k], index) => {
    assert.equal([bytes.readUInt16LE(index * 8), bytes.readUInt8(index * 8 + 2), bytes.readUInt8(index * 8 + 3), bytes.readUInt32LE(index * 8 + 4)], [code, jt, jf, k >>> 0]);
  });
  assert.is(bytes.readUInt32LE(bytes.length - 4), EPERM);
});

filter.run();
