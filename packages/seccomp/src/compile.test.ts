import { describe, expect, it } from "vitest";
import { BPF, MAX_INSNS, RET, decode, encode, type Insn } from "./bpf.js";
import { compileProfile, filterAbis, resolveRules } from "./compile.js";
import { defaultProfile, parseProfile, type Profile } from "./profile.js";
import { ABIS, ARCHES, syscallNumber } from "./syscalls/index.js";

const DOCKER_CAPS = 0xa80425fbn;
const SYS_ADMIN = 1n << 21n;

/** A classic BPF interpreter for seccomp programs: the kernel's semantics, enough to test. */
function run(prog: Insn[], d: { nr: number; arch?: number; args?: bigint[] }): number {
  const data = Buffer.alloc(64);
  data.writeUInt32LE(d.nr >>> 0, 0);
  data.writeUInt32LE(d.arch ?? ARCHES.x86_64.audit, 4);
  (d.args ?? []).forEach((a, i) => data.writeBigUInt64LE(BigInt.asUintN(64, a), 16 + 8 * i));
  let A = 0;
  for (let pc = 0; pc < prog.length; pc++) {
    const p = prog[pc]!;
    switch (p.code) {
      case BPF.LD_W_ABS: A = data.readUInt32LE(p.k); break;
      case BPF.ALU_AND_K: A = (A & p.k) >>> 0; break;
      case BPF.JA: pc += p.k; break;
      case BPF.JEQ_K: pc += A === p.k ? p.jt : p.jf; break;
      case BPF.JGT_K: pc += A > p.k ? p.jt : p.jf; break;
      case BPF.JGE_K: pc += A >= p.k ? p.jt : p.jf; break;
      case BPF.RET_K: return p.k >>> 0;
      default: throw new Error(`opcode ${p.code}`);
    }
  }
  throw new Error("fell off the end");
}

const nr = (name: string) => syscallNumber("x86_64", name)!;
const ERRNO = (e: number) => (RET.ERRNO | e) >>> 0;

describe("the default profile, compiled for x86_64", () => {
  const prog = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS, kernel: "6.18.0" });
  const call = (name: string, ...args: bigint[]) => run(prog, { nr: nr(name), args });

  it("allows ordinary syscalls and refuses the dangerous ones with EPERM", () => {
    for (const s of ["read", "write", "openat", "execve", "mmap", "futex", "wait4", "getpid", "ptrace", "chroot"]) expect(call(s), s).toBe(RET.ALLOW);
    for (const s of ["mount", "unshare", "setns", "keyctl", "add_key", "swapon", "reboot", "init_module", "finit_module", "kexec_load", "bpf", "open_by_handle_at", "userfaultfd", "io_uring_setup"])
      expect(call(s), s).toBe(ERRNO(1));
  });
  it("answers clone3 with ENOSYS, and syscalls newer than the profile too", () => {
    expect(call("clone3")).toBe(ERRNO(38));
    expect(run(prog, { nr: 467 })).toBe(ERRNO(38));
    expect(run(prog, { nr: 1000 })).toBe(ERRNO(38));
  });
  it("allows clone without namespace flags only", () => {
    expect(call("clone", 0x11n /* SIGCHLD */)).toBe(RET.ALLOW);
    expect(call("clone", 0x3d0f00n /* pthread_create's flags */)).toBe(RET.ALLOW);
    expect(call("clone", 0x10000000n | 0x11n)).toBe(ERRNO(1)); // CLONE_NEWUSER
    expect(call("clone", 0x20000n)).toBe(ERRNO(1)); // CLONE_NEWNS
  });
  it("allows the five personalities Docker allows, compared on all 64 bits", () => {
    for (const v of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn]) expect(call("personality", v)).toBe(RET.ALLOW);
    expect(call("personality", 6n)).toBe(ERRNO(1));
    expect(call("personality", 0x100000000n)).toBe(ERRNO(1));
  });
  it("allows socket only for the address families Docker's allow-list names", () => {
    // AF_UNSPEC (0) passes with the range below 12; the kernel refuses it itself
    for (const af of [0n, 1n, 2n, 10n, 16n, 17n, 39n, 45n]) expect(call("socket", af), `AF ${af}`).toBe(RET.ALLOW);
    // AF_DECnet, AF_ECONET, AF_IRDA, AF_CAIF, AF_ALG (CVE-2026-31431), AF_VSOCK, and families past AF_MCTP
    for (const af of [12n, 19n, 23n, 37n, 38n, 40n, 46n]) expect(call("socket", af), `AF ${af}`).toBe(ERRNO(1));
    // all 64 bits count on x86_64: a high word turns AF_UNIX into no family at all
    expect(call("socket", 1n | (1n << 32n))).toBe(ERRNO(1));
  });
  it("follows capabilities: SYS_ADMIN opens mount, unshare, clone3 and namespace clones", () => {
    const admin = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS | SYS_ADMIN, kernel: "6.18.0" });
    for (const s of ["mount", "unshare", "setns", "clone3"]) expect(run(admin, { nr: nr(s) }), s).toBe(RET.ALLOW);
    expect(run(admin, { nr: nr("clone"), args: [0x10000000n] })).toBe(RET.ALLOW);
    expect(run(admin, { nr: nr("swapon") })).toBe(ERRNO(1));
    const noChroot = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS & ~(1n << 18n), kernel: "6.18.0" });
    expect(run(noChroot, { nr: nr("chroot") })).toBe(ERRNO(1));
  });
  it("honours minKernel: ptrace needs 4.8 (or CAP_SYS_PTRACE)", () => {
    const old = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS, kernel: "4.4.0" });
    expect(run(old, { nr: nr("ptrace") })).toBe(ERRNO(1));
  });
  it("round-trips through its byte encoding and stays well under the kernel's limit", () => {
    expect(decode(encode(prog))).toEqual(prog);
    // x86_64, i386 and x32 branches: 1219 instructions with Docker's capabilities
    expect(prog.length).toBeLessThan(MAX_INSNS / 2);
  });
  it("compiles for aarch64 with that table", () => {
    const arm = compileProfile(defaultProfile(), { arch: "aarch64", caps: DOCKER_CAPS, kernel: "6.18.0" });
    const a = (name: string) => run(arm, { nr: syscallNumber("aarch64", name)!, arch: ARCHES.aarch64.audit });
    expect(a("openat")).toBe(RET.ALLOW);
    expect(a("mount")).toBe(ERRNO(1));
    expect(run(arm, { nr: 0 })).toBe(RET.KILL_PROCESS); // an x86_64 call
  });
});

describe("the default profile's other ABIs on x86_64: i386 (int 0x80) and x32", () => {
  const prog = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS, kernel: "6.18.0" });
  const i386 = (name: string, ...args: bigint[]) => run(prog, { nr: syscallNumber("i386", name)!, arch: ABIS.i386.audit, args });
  const x32 = (name: string, ...args: bigint[]) => run(prog, { nr: syscallNumber("x32", name)!, args });

  it("takes the ABIs from the archMap entry of the machine's own architecture", () => {
    expect(filterAbis(defaultProfile(), "x86_64")).toEqual(["x86_64", "i386", "x32"]);
    // SCMP_ARCH_ARM would need arm's table: AArch32 tasks stay killed
    expect(filterAbis(defaultProfile(), "aarch64")).toEqual(["aarch64"]);
  });
  it("checks i386 calls against i386's own numbers", () => {
    expect(syscallNumber("i386", "getpid")).toBe(20);
    for (const s of ["getpid", "read", "socketcall", "ipc", "chown32", "_llseek", "mmap2", "waitpid", "fstatat64", "ugetrlimit", "modify_ldt", "arch_prctl", "chroot"]) expect(i386(s), s).toBe(RET.ALLOW);
    for (const s of ["mount", "unshare", "setns", "kexec_load", "keyctl", "bpf", "swapon", "init_module", "io_uring_setup", "vm86", "open_by_handle_at"]) expect(i386(s), s).toBe(ERRNO(1));
    expect(i386("clone3")).toBe(ERRNO(38));
    // i386 20 is getpid, x86_64 20 is writev; i386 39 is mkdir, x86_64 39 is getpid
    expect(run(prog, { nr: 39, arch: ABIS.i386.audit })).toBe(RET.ALLOW);
    expect(run(prog, { nr: 1000, arch: ABIS.i386.audit })).toBe(ERRNO(38));
  });
  it("compares only the low 32 bits of i386 arguments, as libseccomp does", () => {
    expect(i386("clone", 0x11n)).toBe(RET.ALLOW);
    expect(i386("clone", 0x10000000n | 0x11n)).toBe(ERRNO(1));
    expect(i386("personality", 0xffffffffn)).toBe(RET.ALLOW);
    expect(i386("personality", 0x100000000n)).toBe(RET.ALLOW); // the kernel sees 0
    expect(i386("socket", 1n)).toBe(RET.ALLOW);
    expect(i386("socket", 38n)).toBe(ERRNO(1));
    expect(i386("socket", 1n | (1n << 32n))).toBe(RET.ALLOW);
  });
  it("checks x32 calls against x32's numbers, __X32_SYSCALL_BIT included", () => {
    expect(syscallNumber("x32", "getpid")).toBe(0x40000000 + 39);
    expect(syscallNumber("x32", "rt_sigaction")).toBe(0x40000000 + 512);
    for (const s of ["getpid", "read", "rt_sigaction", "ioctl", "execve", "arch_prctl", "uretprobe"]) expect(x32(s), s).toBe(RET.ALLOW);
    for (const s of ["mount", "unshare", "kexec_load", "keyctl"]) expect(x32(s), s).toBe(ERRNO(1));
    // 13 is x86_64's rt_sigaction; x32 has its own at 512
    expect(run(prog, { nr: 0x40000000 | 13 })).toBe(ERRNO(1));
    expect(x32("socket", 38n)).toBe(ERRNO(1));
    expect(x32("clone", 0x10000000n)).toBe(ERRNO(1));
    expect(run(prog, { nr: 0x40000000 | 1000 })).toBe(ERRNO(38));
  });
  it("kills an architecture the profile does not list, and x32 or i386 when the profile leaves them out", () => {
    expect(run(prog, { nr: 20, arch: 0x40000028 /* AUDIT_ARCH_ARM */ })).toBe(RET.KILL_PROCESS);
    const native = compileProfile({ ...defaultProfile(), archMap: null }, { arch: "x86_64", caps: DOCKER_CAPS, kernel: "6.18.0" });
    expect(run(native, { nr: 20, arch: ABIS.i386.audit })).toBe(RET.KILL_PROCESS);
    expect(run(native, { nr: 0x40000000 | 39 })).toBe(RET.KILL_PROCESS);
    expect(run(native, { nr: 39 })).toBe(RET.ALLOW);
    const i386Only = compileProfile({ ...defaultProfile(), archMap: null, architectures: ["SCMP_ARCH_X86"] }, { arch: "x86_64", caps: DOCKER_CAPS, kernel: "6.18.0" });
    expect(run(i386Only, { nr: 20, arch: ABIS.i386.audit })).toBe(RET.ALLOW);
    expect(run(i386Only, { nr: 0x40000000 | 39 })).toBe(RET.KILL_PROCESS);
  });
});

describe("the default profile matches moby/profiles 02e898b", () => {
  const prog = compileProfile(defaultProfile(), { arch: "x86_64", caps: DOCKER_CAPS, kernel: "6.18.0" });
  it("refuses AF_ALG sockets, which the profile box shipped before allowed", () => {
    expect(run(prog, { nr: nr("socket"), args: [38n] })).toBe(ERRNO(1));
    expect(run(prog, { nr: nr("socket"), args: [12n] })).toBe(ERRNO(1)); // AF_DECnet, gone since Linux 6.1
  });
  it("lists LoongArch in archMap and riscv_hwprobe among the allowed calls", () => {
    const p = defaultProfile();
    expect(p.archMap?.map((m) => m.architecture)).toContain("SCMP_ARCH_LOONGARCH64");
    expect(p.syscalls?.[0]?.names).toContain("riscv_hwprobe");
    expect(p.syscalls?.filter((r) => r.names?.includes("socket"))).toHaveLength(26);
  });
});

describe("profiles", () => {
  const p = (o: object): Profile => parseProfile(JSON.stringify(o), "t.json");
  it("evaluates every comparison on 64-bit arguments", () => {
    const ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT"] as const;
    const v = 0x100000005;
    const want: Record<string, (x: bigint) => boolean> = {
      SCMP_CMP_NE: (x) => x !== BigInt(v), SCMP_CMP_LT: (x) => x < BigInt(v), SCMP_CMP_LE: (x) => x <= BigInt(v),
      SCMP_CMP_EQ: (x) => x === BigInt(v), SCMP_CMP_GE: (x) => x >= BigInt(v), SCMP_CMP_GT: (x) => x > BigInt(v),
    };
    for (const op of ops) {
      const prog = compileProfile(p({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 2, value: v, op }] }] }), { arch: "x86_64" });
      for (const x of [0n, 5n, 6n, 0x100000004n, 0x100000005n, 0x100000006n, 0x200000000n, 0xffffffffn])
        expect(run(prog, { nr: 0, args: [0n, 0n, x] }) === RET.ALLOW, `${op} ${x}`).toBe(want[op]!(x));
    }
  });
  it("ORs two conditions on one argument, as runc does", () => {
    const prog = compileProfile(p({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_ALLOW", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }, { index: 0, value: 2, op: "SCMP_CMP_EQ" }] }] }), { arch: "x86_64" });
    expect(run(prog, { nr: 0, args: [1n] })).toBe(RET.ALLOW);
    expect(run(prog, { nr: 0, args: [2n] })).toBe(RET.ALLOW);
    expect(run(prog, { nr: 0, args: [3n] })).toBe(ERRNO(1));
  });
  it("a deny-list profile allows what it does not name, new syscalls included", () => {
    const prog = compileProfile(p({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }] }), { arch: "x86_64" });
    expect(run(prog, { nr: nr("mkdir") })).toBe(ERRNO(13));
    expect(run(prog, { nr: nr("read") })).toBe(RET.ALLOW);
    expect(run(prog, { nr: 467 })).toBe(RET.ALLOW);
  });
  it("skips names this architecture lacks, and rules equal to the default", () => {
    const r = resolveRules(p({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["chown32", "read"], action: "SCMP_ACT_ALLOW" }, { names: ["write"], action: "SCMP_ACT_ERRNO" }] }), { arch: "x86_64", caps: 0n, kernel: "6.1" });
    expect(r.rules.map((x) => x.name)).toEqual(["read"]);
  });
  it("lets an unconditional rule for a syscall override its conditional ones, as libseccomp does", () => {
    const prog = compileProfile(p({ defaultAction: "SCMP_ACT_ERRNO", syscalls: [{ names: ["read"], action: "SCMP_ACT_TRAP", args: [{ index: 0, value: 1, op: "SCMP_CMP_EQ" }] }, { names: ["read"], action: "SCMP_ACT_ALLOW" }] }), { arch: "x86_64" });
    expect(run(prog, { nr: 0, args: [1n] })).toBe(RET.ALLOW);
  });
  it("on i386, a rule for a socket or SysV IPC call also covers socketcall(2) or ipc(2) with its call number", () => {
    const prog = compileProfile(
      p({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86"], syscalls: [{ names: ["socket", "shmget"], action: "SCMP_ACT_ERRNO", errnoRet: 13 }, { names: ["connect"], action: "SCMP_ACT_ERRNO", args: [{ index: 2, value: 16, op: "SCMP_CMP_GT" }] }] }),
      { arch: "x86_64" },
    );
    const i386 = (nr: number, ...args: bigint[]) => run(prog, { nr, arch: ABIS.i386.audit, args });
    expect(i386(102, 1n)).toBe(ERRNO(13)); // socketcall(SYS_SOCKET)
    expect(i386(102, 2n)).toBe(RET.ALLOW); // socketcall(SYS_BIND)
    expect(i386(359)).toBe(ERRNO(13)); // socket
    expect(i386(117, 23n)).toBe(ERRNO(13)); // ipc(SHMGET)
    expect(i386(395)).toBe(ERRNO(13)); // shmget
    // the rule's other conditions stay, against socketcall's own arguments
    expect(i386(102, 3n, 0n, 17n)).toBe(ERRNO(1));
    expect(i386(102, 3n, 0n, 16n)).toBe(RET.ALLOW);
    expect(run(prog, { nr: nr("socket") })).toBe(ERRNO(13)); // x86_64 itself
  });
  it("rejects bad profiles with the rule at fault", () => {
    expect(() => p({ defaultAction: "SCMP_ACT_NOPE" })).toThrow(/t\.json: defaultAction: unknown action "SCMP_ACT_NOPE"/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_ALLOW", args: [{ index: 7, value: 0, op: "SCMP_CMP_EQ" }] }] })).toThrow(/syscalls\[0\]: args\[0\]: index must be 0 to 5/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_NOTIFY" }] })).toThrow(/seccomp agent/);
    expect(() => parseProfile("{", "t.json")).toThrow(/t\.json: not JSON/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_Z80"] })).toThrow(/architectures\[0\]: unknown architecture "SCMP_ARCH_Z80"/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", archMap: [{ architecture: "SCMP_ARCH_X86_64", subArchitectures: ["x86"] }] })).toThrow(/archMap\[0\]: subArchitectures\[0\]: unknown architecture "x86"/);

  });
});
