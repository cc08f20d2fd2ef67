import { describe, expect, it } from "vitest";
import { DEFAULT_DEVICES, applyDeviceRules, deviceAllowed, deviceProgram, type DeviceState } from "./devices.js";
import { parseDeviceRule } from "./units.js";

const rules = (...r: string[]) => r.map(parseDeviceRule);

/** Run a device program on one request: the few opcodes deviceProgram emits, as the kernel would. */
function interpret(prog: Buffer, type: "b" | "c", major: number, minor: number, access: string): number {
  const acc = access.split("").reduce((a, c) => a | ({ m: 1, r: 2, w: 4 } as Record<string, number>)[c]!, 0);
  const ctx = [(acc << 16) | (type === "b" ? 1 : 2), major, minor];
  const r = new Array<number>(11).fill(0);
  for (let pc = 0, steps = 0; pc < prog.length / 8 && steps < 10000; pc++, steps++) {
    const op = prog.readUInt8(pc * 8);
    const regs = prog.readUInt8(pc * 8 + 1);
    const dst = regs & 0xf;
    const src = regs >> 4;
    const off = prog.readInt16LE(pc * 8 + 2);
    const imm = prog.readInt32LE(pc * 8 + 4);
    switch (op) {
      case 0x61:
        expect(src).toBe(1);
        r[dst] = ctx[off / 4]!;
        break;
      case 0x54:
        r[dst] = (r[dst]! & imm) >>> 0;
        break;
      case 0x74:
        r[dst] = r[dst]! >>> imm;
        break;
      case 0xbc:
        r[dst] = r[src]! >>> 0;
        break;
      case 0xb7:
        r[dst] = imm;
        break;
      case 0x55:
        if (r[dst] !== imm >>> 0) pc += off;
        break;
      case 0x5d:
        if (r[dst] !== r[src]) pc += off;
        break;
      case 0x95:
        return r[0]!;
      default:
        throw new Error(`opcode ${op.toString(16)}`);
    }
  }
  throw new Error("ran off the end");
}

describe("applyDeviceRules (v1 semantics)", () => {
  it("Docker's default: deny all, then an allow-list", () => {
    const s = applyDeviceRules(DEFAULT_DEVICES);
    expect(s.defaultAllow).toBe(false);
    expect(s.exceptions).toHaveLength(9);
    expect(deviceAllowed(s, "c", 1, 3, "rwm")).toBe(true);
    expect(deviceAllowed(s, "c", 136, 7, "rw")).toBe(true);
    expect(deviceAllowed(s, "b", 8, 0, "m")).toBe(false);
    expect(deviceAllowed(s, "c", 10, 229, "rw")).toBe(false);
  });
  it("a deny that agrees with the default removes access from an exception", () => {
    const s = applyDeviceRules([...DEFAULT_DEVICES, ...rules("deny c 1:3 w")]);
    expect(s.exceptions.find((e) => e.major === 1 && e.minor === 3)?.access).toBe("rm");
    const gone = applyDeviceRules([...DEFAULT_DEVICES, ...rules("deny c 1:3 rwm")]);
    expect(gone.exceptions.some((e) => e.major === 1 && e.minor === 3)).toBe(false);
  });
  it("allow a resets to allow-all; a deny then adds an exception", () => {
    const s = applyDeviceRules(rules("deny a", "allow c 1:3 rwm", "allow a", "deny b 8:* rwm"));
    expect(s).toEqual({ defaultAllow: true, exceptions: [{ type: "b", major: 8, minor: "*", access: "rwm" }] });
  });
  it("repeated allows merge access", () => {
    const s = applyDeviceRules(rules("deny a", "allow c 1:3 r", "allow c 1:3 w"));
    expect(s.exceptions).toEqual([{ type: "c", major: 1, minor: 3, access: "rw" }]);
  });
});

describe("deviceProgram", () => {
  const states: DeviceState[] = [
    applyDeviceRules(DEFAULT_DEVICES),
    applyDeviceRules(rules("deny a", "allow c *:* m", "allow b 8:* r", "allow c 1:3 rw")),
    applyDeviceRules(rules("deny b 8:0 rwm", "deny c 10:* w")),
    { defaultAllow: true, exceptions: [] },
    { defaultAllow: false, exceptions: [] },
  ];
  const requests: ["b" | "c", number, number, string][] = [];
  for (const t of ["b", "c"] as const)
    for (const [ma, mi] of [[1, 3], [1, 5], [8, 0], [8, 1], [10, 229], [136, 4], [5, 2], [254, 0]] as const)
      for (const a of ["r", "w", "m", "rw", "rwm"]) requests.push([t, ma, mi, a]);

  it("computes what the v1 rules would allow, for every request tried", () => {
    for (const s of states) {
      const prog = deviceProgram(s);
      for (const [t, ma, mi, a] of requests) {
        expect(interpret(prog, t, ma, mi, a), `${JSON.stringify(s)} ${t} ${ma}:${mi} ${a}`).toBe(deviceAllowed(s, t, ma, mi, a) ? 1 : 0);
      }
    }
  });
  it("is the runc layout: a 6-insn prologue, a block per exception, the default last", () => {
    const prog = deviceProgram({ defaultAllow: false, exceptions: [{ type: "c", major: 1, minor: 3, access: "rwm" }] });
    // prologue 6 + (type, major, minor jumps + mov + exit) 5 + default 2
    expect(prog.length / 8).toBe(13);
    expect(prog.readUInt8(0)).toBe(0x61);
    expect(prog.readUInt8(prog.length - 8)).toBe(0x95);
    expect(prog.readInt32LE(prog.length - 12)).toBe(0);
  });
});
