/**
 * The jail's seccomp filter, as a pure function: a classic BPF program that makes ioctl(TIOCSTI)
 * and ioctl(TIOCLINUX) fail with EPERM and allows everything else.
 *
 * TIOCSTI pushes bytes into a terminal's input queue: a jailed program that shares the caller's
 * terminal could type commands into the caller's shell once it exits (Linux allows it unless
 * dev.tty.legacy_tiocsti = 0). TIOCLINUX can paste the console selection, to the same effect.
 * Blocking the two requests keeps interactive programs working, unlike a new session would.
 *
 * The program is handed to bubblewrap with --seccomp FD: an array of struct sock_filter
 * (u16 code, u8 jt, u8 jf, u32 k), little-endian, checked against struct seccomp_data
 * (int nr at 0, u32 arch at 4, u64 args[6] from 16; the request is the low half of args[1]).
 */

const BPF_LD_W_ABS = 0x20;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
const SECCOMP_RET_ALLOW = 0x7fff0000;
const SECCOMP_RET_ERRNO = 0x00050000;
const EPERM = 1;
const OFFSET_NR = 0;
const OFFSET_ARCH = 4;
const OFFSET_ARG1_LOW = 24;
const TIOCSTI = 0x5412;
const TIOCLINUX = 0x541c;

/** ioctl's number per audit architecture: the arches a Nix store is built for. */
const IOCTL_BY_ARCH: ReadonlyArray<readonly [arch: number, ioctl: number]> = [
  [0xc000003e, 16], // x86_64
  [0x40000003, 54], // i386 (also 32-bit programs on x86_64)
  [0xc00000b7, 29], // aarch64
  [0x40000028, 54], // arm
  [0xc00000f3, 29], // riscv64
];

type Instruction = [code: number, jt: number, jf: number, k: number];

export const ttyInjectionFilterProgram = (): Instruction[] => {
  const program: Instruction[] = [];
  const allow = (): Instruction => [BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW];
  // For each arch: if arch matches, check nr == ioctl, then the request.
  // Layout per arch block (7 instructions):
  //   0 ld arch          1 jeq ARCH ? next : skip to next block
  //   2 ld nr            3 jeq IOCTL ? next : allow
  //   4 ld arg1          5 jeq TIOCSTI ? deny : next    6 jeq TIOCLINUX ? deny : allow
  // followed, after all blocks, by: allow, deny.
  const blockLength = 7;
  const blocks = IOCTL_BY_ARCH.length;
  const allowIndex = blocks * blockLength;
  const denyIndex = allowIndex + 1;
  IOCTL_BY_ARCH.forEach(([arch, ioctl], block) => {
    const start = block * blockLength;
    const jumpTo = (from: number, to: number): number => to - from - 1;
    program.push(
      [BPF_LD_W_ABS, 0, 0, OFFSET_ARCH],
      [BPF_JEQ_K, 0, jumpTo(start + 1, start + blockLength), arch],
      [BPF_LD_W_ABS, 0, 0, OFFSET_NR],
      [BPF_JEQ_K, 0, jumpTo(start + 3, allowIndex), ioctl],
      [BPF_LD_W_ABS, 0, 0, OFFSET_ARG1_LOW],
      [BPF_JEQ_K, jumpTo(start + 5, denyIndex), 0, TIOCSTI],
      [BPF_JEQ_K, jumpTo(start + 6, denyIndex), jumpTo(start + 6, allowIndex), TIOCLINUX],
    );
  });
  program.push(allow(), [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  return program;
};

/** The filter as bytes for bwrap --seccomp. */
export const ttyInjectionFilter = (): Buffer => {
  const program = ttyInjectionFilterProgram();
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], index) => {
    if (jt > 255 || jf > 255) throw new Error('seccomp jump out of range');
    bytes.writeUInt16LE(code, index * 8);
    bytes.writeUInt8(jt, index * 8 + 2);
    bytes.writeUInt8(jf, index * 8 + 3);
    bytes.writeUInt32LE(k >>> 0, index * 8 + 4);
  });
  return bytes;
};
