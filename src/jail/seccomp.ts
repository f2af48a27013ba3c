/**
 * The jail's seccomp filter, as a pure function: a classic BPF program that makes ioctl(TIOCSTI)
 * and ioctl(TIOCLINUX) fail with EPERM and allows everything else.
 *
 * TIOCSTI pushes bytes into a terminal's input queue: a jailed program that shares the caller's
 * terminal could type commands into the caller's shell once it exits (Linux allows it unless
 * dev.tty.legacy_tiocsti = 0). TIOCLINUX can paste the console selection, to the same effect.
 * (The jail also runs in a session of its own, without a controlling terminal, where TIOCSTI
 * needs CAP_SYS_ADMIN; the filter holds even so, and on every ABI a program can call ioctl by.)
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

/**
 * x86_64 kernels built with CONFIG_X86_X32_ABI also take x32 system calls under
 * AUDIT_ARCH_X86_64, numbered with this bit set; x32's ioctl is 514 | bit, not 16.
 */
const X32_SYSCALL_BIT = 0x40000000;

/** ioctl's numbers per audit architecture: the arches a Nix store is built for. */
export const IOCTL_BY_ARCH: ReadonlyArray<readonly [arch: number, ioctls: readonly number[]]> = [
  [0xc000003e, [16, X32_SYSCALL_BIT | 514]], // x86_64, and x32 on the same arch
  [0x40000003, [54]], // i386 (also 32-bit programs on x86_64)
  [0xc00000b7, [29]], // aarch64
  [0x40000028, [54]], // arm
  [0xc00000f3, [29]], // riscv64
];

/** The requests refused; the kernel takes the request as an unsigned int (the low half). */
export const REFUSED_REQUESTS = [TIOCSTI, TIOCLINUX] as const;

type Instruction = [code: number, jt: number, jf: number, k: number];

export const ttyInjectionFilterProgram = (): Instruction[] => {
  // One block per arch, then `allow`, then `deny`:
  //   ld arch; jeq ARCH ? next : next block
  //   ld nr;   jeq IOCTL_1 ? request : next; ...; jeq IOCTL_n ? request : allow
  //   request: ld arg1 (low half); jeq TIOCSTI ? deny : next; jeq TIOCLINUX ? deny : allow
  const blockLength = (ioctls: readonly number[]): number => 2 + 1 + ioctls.length + 1 + REFUSED_REQUESTS.length;
  const allowIndex = IOCTL_BY_ARCH.reduce((sum, [, ioctls]) => sum + blockLength(ioctls), 0);
  const denyIndex = allowIndex + 1;
  const program: Instruction[] = [];
  const jump = (to: number): number => to - program.length - 1;
  for (const [arch, ioctls] of IOCTL_BY_ARCH) {
    const next = program.length + blockLength(ioctls);
    const request = program.length + 3 + ioctls.length;
    program.push([BPF_LD_W_ABS, 0, 0, OFFSET_ARCH]);
    program.push([BPF_JEQ_K, 0, jump(next), arch]);
    program.push([BPF_LD_W_ABS, 0, 0, OFFSET_NR]);
    ioctls.forEach((ioctl, index) => {
      program.push([BPF_JEQ_K, jump(request), index === ioctls.length - 1 ? jump(allowIndex) : 0, ioctl]);
    });
    program.push([BPF_LD_W_ABS, 0, 0, OFFSET_ARG1_LOW]);
    REFUSED_REQUESTS.forEach((refused, index) => {
      // Stryker disable next-line ConditionalExpression,ArithmeticOperator: falling through after the last request reaches `allow` too.
      program.push([BPF_JEQ_K, jump(denyIndex), index === REFUSED_REQUESTS.length - 1 ? jump(allowIndex) : 0, refused]);
    });
  }
  program.push([BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW], [BPF_RET_K, 0, 0, SECCOMP_RET_ERRNO | EPERM]);
  return program;
};

/** The filter as bytes for bwrap --seccomp. */
export const ttyInjectionFilter = (): Buffer => {
  const program = ttyInjectionFilterProgram();
  const bytes = Buffer.alloc(program.length * 8);
  program.forEach(([code, jt, jf, k], index) => {
    // Stryker disable next-line all: a guard for a longer filter; this one's jumps are all short.
    if (jt > 255 || jf > 255) throw new Error('seccomp jump out of range');
    bytes.writeUInt16LE(code, index * 8);
    bytes.writeUInt8(jt, index * 8 + 2);
    bytes.writeUInt8(jf, index * 8 + 3);
    bytes.writeUInt32LE(k >>> 0, index * 8 + 4);
  });
  return bytes;
};
