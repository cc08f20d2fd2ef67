import { describe, expect, it } from "vitest";
import { BPF, RET, decode, encode, type Insn } from "./bpf.js";
import { compileProfile, resolveRules } from "./compile.js";
import { defaultProfile, parseProfile, type Profile } from "./profile.js";
import { ARCHES, syscallNumber } from "./syscalls/index.js";

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
  it("refuses AF_VSOCK sockets only", () => {
    expect(call("socket", 2n)).toBe(RET.ALLOW);
    expect(call("socket", 40n)).toBe(ERRNO(1));
    expect(call("socket", 40n | (1n << 32n))).toBe(RET.ALLOW);
  });
  it("kills other ABIs: i386 and x32", () => {
    expect(run(prog, { nr: 20, arch: 0x40000003 })).toBe(RET.KILL_PROCESS);
    expect(run(prog, { nr: 0x40000000 | 39 })).toBe(RET.KILL_PROCESS);
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
    expect(prog.length).toBeLessThan(1000);
  });
  it("compiles for aarch64 with that table", () => {
    const arm = compileProfile(defaultProfile(), { arch: "aarch64", caps: DOCKER_CAPS, kernel: "6.18.0" });
    const a = (name: string) => run(arm, { nr: syscallNumber("aarch64", name)!, arch: ARCHES.aarch64.audit });
    expect(a("openat")).toBe(RET.ALLOW);
    expect(a("mount")).toBe(ERRNO(1));
    expect(run(arm, { nr: 0 })).toBe(RET.KILL_PROCESS); // an x86_64 call
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
  it("rejects bad profiles with the rule at fault", () => {
    expect(() => p({ defaultAction: "SCMP_ACT_NOPE" })).toThrow(/t\.json: defaultAction: unknown action "SCMP_ACT_NOPE"/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_ALLOW", args: [{ index: 7, value: 0, op: "SCMP_CMP_EQ" }] }] })).toThrow(/syscalls\[0\]: args\[0\]: index must be 0 to 5/);
    expect(() => p({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["x"], action: "SCMP_ACT_NOTIFY" }] })).toThrow(/seccomp agent/);
    expect(() => parseProfile("{", "t.json")).toThrow(/t\.json: not JSON/);
  });
});
