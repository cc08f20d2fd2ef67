import { describe, expect, it } from "vitest";
import type { DeviceState } from "./devices.js";
import { errno, fakeIo } from "./testutil/fakeio.js";
import { parseDeviceRule } from "./units.js";
import { planV2, V2Backend, type V2Context } from "./v2.js";

const M = 1024 * 1024;
const ctx: V2Context = { swap: true, bfqWeight: false, creating: true };
const lines = (l: Parameters<typeof planV2>[0], c: V2Context = ctx) => planV2(l, c).map((w) => `${w.file}=${w.value}`);

describe("planV2: exactly what is written", () => {
  it("memory.max, and memory.swap.max as Docker's memory-swap minus memory", () => {
    expect(lines({ memory: 64 * M, memorySwap: 96 * M })).toEqual([`memory.max=${64 * M}`, `memory.swap.max=${32 * M}`]);
    expect(lines({ memory: 64 * M, memorySwap: -1 })).toEqual([`memory.max=${64 * M}`, "memory.swap.max=max"]);
    expect(lines({ memory: 64 * M, memorySwap: 64 * M })).toEqual([`memory.max=${64 * M}`, "memory.swap.max=0"]);
  });
  it("Docker's default swap on create (as much again), none on update or without accounting", () => {
    expect(lines({ memory: 32 * M })).toEqual([`memory.max=${32 * M}`, `memory.swap.max=${32 * M}`]);
    expect(lines({ memory: 32 * M }, { ...ctx, creating: false })).toEqual([`memory.max=${32 * M}`]);
    expect(lines({ memory: 32 * M }, { ...ctx, swap: false })).toEqual([`memory.max=${32 * M}`]);
    expect(() => lines({ memory: 32 * M, memorySwap: 64 * M }, { ...ctx, swap: false })).toThrow("swap accounting is off");
    expect(lines({ memory: -1 }, { ...ctx, creating: false })).toEqual(["memory.max=max"]);
  });
  it("memory.low for the reservation", () => {
    expect(lines({ memoryReservation: 16 * M })).toEqual([`memory.low=${16 * M}`]);
  });
  it("cpu.max as 'quota period', cpu.weight from shares as runc converts them", () => {
    expect(lines({ cpus: 0.5 })).toEqual(["cpu.max=50000 100000"]);
    expect(lines({ cpus: 1.5 })).toEqual(["cpu.max=150000 100000"]);
    expect(lines({ cpuQuota: 20000, cpuPeriod: 50000 })).toEqual(["cpu.max=20000 50000"]);
    expect(lines({ cpuQuota: 20000 })).toEqual(["cpu.max=20000"]);
    expect(lines({ cpuPeriod: 50000 })).toEqual(["cpu.max=max 50000"]);
    expect(lines({ cpuQuota: -1 })).toEqual(["cpu.max=max"]);
    expect(lines({ cpuShares: 1024 })).toEqual(["cpu.weight=39"]);
    expect(lines({ cpuShares: 2 })).toEqual(["cpu.weight=1"]);
    expect(lines({ cpuShares: 262144 })).toEqual(["cpu.weight=10000"]);
  });
  it("cpuset.cpus, cpuset.mems, pids.max", () => {
    expect(lines({ cpusetCpus: "0-1", cpusetMems: "0", pidsLimit: 20 })).toEqual(["cpuset.cpus=0-1", "cpuset.mems=0", "pids.max=20"]);
    expect(lines({ pidsLimit: -1 })).toEqual(["pids.max=max"]);
  });
  it("io.weight (converted) or io.bfq.weight (as is); io.max with one line per device", () => {
    expect(lines({ blkioWeight: 10 })).toEqual(["io.weight=default 1"]);
    expect(lines({ blkioWeight: 1000 })).toEqual(["io.weight=default 10000"]);
    expect(lines({ blkioWeight: 500 })).toEqual(["io.weight=default 4950"]);
    expect(lines({ blkioWeight: 500 }, { ...ctx, bfqWeight: true })).toEqual(["io.bfq.weight=500"]);
    expect(
      lines({
        deviceReadBps: [{ dev: "8:0", rate: 1048576 }],
        deviceWriteBps: [{ dev: "8:0", rate: 2097152 }],
        deviceReadIops: [{ dev: "8:0", rate: 100 }, { dev: "254:0", rate: 10 }],
        deviceWriteIops: [{ dev: "8:0", rate: 200 }],
      }),
    ).toEqual(["io.max=8:0 rbps=1048576 wbps=2097152 riops=100 wiops=200", "io.max=254:0 riops=10"]);
  });
});

const MNT = "/sys/fs/cgroup";
const SESSION = `${MNT}/user.slice/session-1.scope`;
const CTRL_FILES: Record<string, string[]> = { memory: ["memory.max", "memory.swap.max", "memory.current"], pids: ["pids.max"], cpu: ["cpu.max", "cpu.weight"] };
const IFACE = ["cgroup.procs", "cgroup.controllers", "cgroup.subtree_control", "cgroup.freeze", "cgroup.events", "cgroup.kill", "cpu.stat"];

/**
 * A systemd host: the caller's session scope gets memory, pids and cpu from
 * its parent, holds processes itself, and (non-root) may not enable
 * controllers for children while it does.
 */
function delegated(opts: { procs?: string } = {}) {
  const enabled = new Map<string, string[]>([[SESSION, []]]);
  const files: Record<string, string> = {};
  for (const f of IFACE) files[`${SESSION}/${f}`] = "";
  files[`${SESSION}/cgroup.controllers`] = "cpu memory pids\n";
  files[`${SESSION}/cgroup.procs`] = opts.procs ?? "100\n101\n";
  const io = fakeIo({
    dirs: [MNT, `${MNT}/user.slice`, SESSION],
    files,
    newDir: (dir) => {
      const parent = dir.slice(0, dir.lastIndexOf("/"));
      const ctrl = enabled.get(parent) ?? [];
      enabled.set(dir, []);
      const out: Record<string, string> = Object.fromEntries(IFACE.map((f) => [f, ""]));
      out["cgroup.controllers"] = ctrl.join(" ");
      for (const c of ctrl) for (const f of CTRL_FILES[c] ?? []) out[f] = "";
      return out;
    },
    onWrite: (file, value, io) => {
      const dir = file.slice(0, file.lastIndexOf("/"));
      if (file.endsWith("/cgroup.subtree_control")) {
        if (io.data.get(`${dir}/cgroup.procs`)?.trim()) throw errno("write", file, "EBUSY");
        const now = new Set(enabled.get(dir) ?? []);
        for (const w of value.split(" ")) now.add(w.slice(1));
        enabled.set(dir, [...now]);
        io.data.set(file, [...now].join(" "));
        // The kernel adds the controllers' files to every child at once.
        for (const kid of io.subdirs(dir)) {
          io.data.set(`${dir}/${kid}/cgroup.controllers`, [...now].join(" "));
          for (const c of now) for (const f of CTRL_FILES[c] ?? []) if (!io.data.has(`${dir}/${kid}/${f}`)) io.data.set(`${dir}/${kid}/${f}`, "");
        }
      }
      if (file.endsWith("/cgroup.procs")) {
        // Moving a process: take it out of wherever it was.
        for (const [k, v] of io.data) {
          if (k.endsWith("/cgroup.procs")) io.data.set(k, v.split("\n").filter((p) => p && p !== value).map((p) => `${p}\n`).join(""));
        }
        io.data.set(file, `${io.data.get(file) ?? ""}${value}\n`);
      }
    },
  });
  return io;
}

describe("V2Backend.create on a delegated host", () => {
  it("moves the session's processes to a leaf so controllers can be enabled, and says so", () => {
    const io = delegated();
    const said: string[] = [];
    const b = new V2Backend(MNT, "/", SESSION, io, () => 2);
    const cg = b.create("box/c1", { memory: 64 * M, pidsLimit: 20 }, { log: (m) => said.push(m) });
    expect(cg.dirs).toEqual([`${SESSION}/box/c1`]);
    expect(said).toEqual([
      `moved 2 processes from ${SESSION} to ${SESSION}/init: cgroup v2 lets a cgroup hold processes or pass controllers (memory, pids) to its children, not both`,
    ]);
    // The log holds the writes that succeeded: the first subtree_control write failed with EBUSY.
    expect(io.writes()).toEqual([
      [`${SESSION}/init/cgroup.procs`, "100"],
      [`${SESSION}/init/cgroup.procs`, "101"],
      [`${SESSION}/cgroup.subtree_control`, "+memory +pids"],
      [`${SESSION}/box/cgroup.subtree_control`, "+memory +pids"],
      [`${SESSION}/box/c1/memory.max`, String(64 * M)],
      [`${SESSION}/box/c1/memory.swap.max`, String(64 * M)],
      [`${SESSION}/box/c1/pids.max`, "20"],
    ]);
    expect(io.data.get(`${SESSION}/init/cgroup.procs`)).toBe("100\n101\n");
  });

  it("turns on the accounting controllers the session has (memory, pids), as runc, so stats have something to read", () => {
    const io = delegated();
    const cg = new V2Backend(MNT, "/", SESSION, io, () => 2).create("box/c1", {});
    expect(io.writes().filter(([f]) => f.endsWith("subtree_control"))).toEqual([
      [`${SESSION}/cgroup.subtree_control`, "+memory +pids"],
      [`${SESSION}/box/cgroup.subtree_control`, "+memory +pids"],
    ]);
    expect(io.exists(`${SESSION}/box/c1/memory.current`)).toBe(true);
    expect(cg.stats().memory, "memory.current is there to read").not.toBeNull();
  });

  it("needs no move when nothing is asked for and the session has no accounting controller", () => {
    const io = delegated();
    io.data.set(`${SESSION}/cgroup.controllers`, "cpu\n");
    new V2Backend(MNT, "/", SESSION, io, () => 2).create("box/c1", {});
    expect(io.writes()).toEqual([]);
    expect(io.exists(`${SESSION}/init`)).toBe(false);
  });

  it("refuses a controller the session was not given, before making anything", () => {
    const io = delegated();
    const b = new V2Backend(MNT, "/", SESSION, io, () => 2);
    expect(() => b.create("box/c1", { cpusetCpus: "0" })).toThrow(`the cpuset controller is not available in ${SESSION} (it has cpu, memory, pids)`);
    expect(io.ops).toEqual([]);
  });

  it("undoes the directories when a later write fails", () => {
    const io = delegated({ procs: "" });
    const b = new V2Backend(MNT, "/", SESSION, io, () => 2);
    const read = io.write;
    io.write = (f, v) => {
      if (f.endsWith("/pids.max")) throw errno("write", f, "EINVAL");
      read(f, v);
    };
    expect(() => b.create("box/c1", { pidsLimit: 20 })).toThrow(`write ${SESSION}/box/c1/pids.max: EINVAL (invalid argument)`);
    expect(io.exists(`${SESSION}/box/c1`)).toBe(false);
    expect(io.exists(`${SESSION}/box`)).toBe(false);
  });

  it("hands the device state to the BPF loader: Docker's list, then the rules", () => {
    const io = delegated({ procs: "" });
    const got: [string, DeviceState][] = [];
    const b = new V2Backend(MNT, "/", SESSION, io, () => 2, (dir, s) => got.push([dir, s]));
    b.create("box/c1", { devices: [parseDeviceRule("allow c 10:200 rwm")] }, { devicesDefault: true });
    expect(got).toHaveLength(1);
    expect(got[0]![0]).toBe(`${SESSION}/box/c1`);
    expect(got[0]![1].defaultAllow).toBe(false);
    expect(got[0]![1].exceptions.map((e) => `${e.type} ${e.major}:${e.minor} ${e.access}`)).toEqual([
      "c 1:3 rwm",
      "c 1:5 rwm",
      "c 1:7 rwm",
      "c 1:8 rwm",
      "c 1:9 rwm",
      "c 5:0 rwm",
      "c 5:1 rwm",
      "c 5:2 rwm",
      "c 136:* rwm",
      "c 10:200 rwm",
    ]);
  });

  it("freeze writes cgroup.freeze and waits for frozen 1 in cgroup.events; kill uses cgroup.kill", () => {
    const io = delegated({ procs: "" });
    const b = new V2Backend(MNT, "/", SESSION, io, () => 2);
    const cg = b.create("box/c1", {});
    const d = `${SESSION}/box/c1`;
    let polls = 0;
    const read = io.read;
    io.read = (f) => (f === `${d}/cgroup.events` ? (++polls < 3 ? "populated 1\nfrozen 0\n" : "populated 1\nfrozen 1\n") : read(f));
    cg.freeze();
    expect(polls).toBe(3);
    cg.kill();
    expect(io.writes().filter(([f]) => f.startsWith(`${d}/`))).toEqual([
      [`${d}/cgroup.freeze`, "1"],
      [`${d}/cgroup.kill`, "1"],
    ]);
  });
});
