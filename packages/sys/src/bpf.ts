/**
 * The few bpf(2) commands that a cgroup v2 device filter needs: load a
 * BPF_PROG_TYPE_CGROUP_DEVICE program, attach it to a cgroup directory fd,
 * and list or detach the programs already there. Program fds come back
 * close-on-exec (the kernel opens every bpf fd with O_CLOEXEC).
 */
import { libc, types, errno } from "./libc.js";
import { check, describe } from "./check.js";
import { NR } from "./nr.js";
import { SysError } from "./errno.js";

export const BPF_PROG_TYPE = { CGROUP_DEVICE: 15 } as const;
export const BPF_ATTACH_TYPE = { CGROUP_DEVICE: 6 } as const;
export const BPF_F = { ALLOW_OVERRIDE: 1, ALLOW_MULTI: 2, REPLACE: 4 } as const;

const CMD = { PROG_LOAD: 5, PROG_ATTACH: 8, PROG_DETACH: 9, PROG_GET_FD_BY_ID: 13, PROG_QUERY: 16 } as const;

function zeros(n: number): number[] {
  return new Array<number>(n).fill(0);
}

export interface ProgLoad {
  type: number;
  /** struct bpf_insn[], 8 bytes each. */
  insns: Buffer;
  license: string;
  expectedAttachType?: number;
  /** Up to 15 bytes, shown by bpftool. */
  name?: string;
}

/** BPF_PROG_LOAD; the program's fd. On refusal the verifier's last words join the error. */
export function bpfProgLoad(p: ProgLoad): number {
  const name = zeros(16);
  Buffer.from(p.name ?? "").subarray(0, 15).forEach((b, i) => (name[i] = b));
  const load = (log: Buffer | null) =>
    Number(
      libc.syscall(NR.bpf, "int", CMD.PROG_LOAD, types.bpfProgLoadAttr, {
        prog_type: p.type,
        insn_cnt: p.insns.length / 8,
        insns: p.insns,
        license: p.license,
        log_level: log ? 1 : 0,
        log_size: log ? log.length : 0,
        log_buf: log,
        kern_version: 0,
        prog_flags: 0,
        prog_name: name,
        prog_ifindex: 0,
        expected_attach_type: p.expectedAttachType ?? 0,
        pad: zeros(56),
      }, "unsigned int", types.bpfAttrSize),
    );
  const fd = load(null);
  if (fd >= 0) return fd;
  const e = errno();
  const detail = `BPF_PROG_LOAD type=${p.type} insns=${p.insns.length / 8}`;
  // Load again with a log only to explain the failure: asking for one up
  // front costs the verifier time on every success.
  const log = Buffer.alloc(16384);
  const again = load(log);
  if (again >= 0) return again;
  const end = log.indexOf(0);
  const text = log.toString("utf8", 0, end < 0 ? log.length : end).trim().split("\n");
  const last = text.filter(Boolean).slice(-2).join("; ");
  throw new SysError("bpf", e, last ? `${detail} (verifier: ${last})` : detail, describe);
}

function simple(cmd: number, words: number[]): number {
  const attr = Buffer.alloc(types.bpfAttrSize);
  words.forEach((w, i) => attr.writeUInt32LE(w >>> 0, i * 4));
  return Number(libc.syscall(NR.bpf, "int", cmd, "void *", attr, "unsigned int", attr.length));
}

/** BPF_PROG_ATTACH of progFd to the cgroup (or other target) open at targetFd. */
export function bpfProgAttach(targetFd: number, progFd: number, attachType: number, flags = 0, what = ""): void {
  check(simple(CMD.PROG_ATTACH, [targetFd, progFd, attachType, flags, 0]), "bpf", () =>
    `BPF_PROG_ATTACH ${what || `fd=${targetFd}`} type=${attachType} flags=${flags}`,
  );
}

export function bpfProgDetach(targetFd: number, progFd: number, attachType: number, what = ""): void {
  check(simple(CMD.PROG_DETACH, [targetFd, progFd, attachType, 0, 0]), "bpf", () =>
    `BPF_PROG_DETACH ${what || `fd=${targetFd}`} type=${attachType}`,
  );
}

/** The ids of the programs attached to targetFd directly (not inherited), at most 64. */
export function bpfProgQuery(targetFd: number, attachType: number, what = ""): number[] {
  const ids = Buffer.alloc(64 * 4);
  const rc = Number(
    libc.syscall(NR.bpf, "int", CMD.PROG_QUERY, types.bpfProgQueryAttr, {
      target_fd: targetFd,
      attach_type: attachType,
      query_flags: 0,
      attach_flags: 0,
      prog_ids: ids,
      prog_cnt: 64,
      pad: zeros(100),
    }, "unsigned int", types.bpfAttrSize),
  );
  check(rc, "bpf", () => `BPF_PROG_QUERY ${what || `fd=${targetFd}`} type=${attachType}`);
  // prog_cnt comes back in the attr, which koffi does not copy back; ids are
  // never 0, so the filled part of the list ends at the first 0.
  const out: number[] = [];
  for (let i = 0; i < 64; i++) {
    const id = ids.readUInt32LE(i * 4);
    if (id === 0) break;
    out.push(id);
  }
  return out;
}

/** BPF_PROG_GET_FD_BY_ID: an fd for a loaded program (close-on-exec). */
export function bpfProgGetFdById(id: number): number {
  return check(simple(CMD.PROG_GET_FD_BY_ID, [id, 0, 0]), "bpf", () => `BPF_PROG_GET_FD_BY_ID id=${id}`);
}
