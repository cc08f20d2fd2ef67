import { readFileSync } from "node:fs";
import { UsageError, parseArgs, str, flag, type Tool } from "@box/cli";
import { decode, disassemble } from "./bpf.js";
import { ALL_CAPS } from "./caps.js";
import { compileProfile } from "./compile.js";
import { DEFAULT_PROFILE_PATH, parseProfile } from "./profile.js";
import { encode } from "./bpf.js";
import { isAbi, isArch, hostArch, syscallNumber, type AbiName, type Arch } from "./syscalls/index.js";

export const HELP = `Usage:
 seccomp compile [--arch ARCH] [--caps MASK] [--kernel VERSION] PROFILE
 seccomp disasm [FILE]
 seccomp default
 seccomp resolve [--arch ARCH] NAME...

Compile a Docker seccomp profile (JSON) into the classic BPF program that
seccomp(2) loads, print that program readably, print Docker's default
profile, or look up syscall numbers.

PROFILE is a file, '-' for stdin, or 'default' for Docker's default profile.
compile writes struct sock_filter[] (8 bytes an instruction, this machine's
byte order) to stdout: what 'ns-exec --seccomp FILE' takes.

Options:
     --arch ARCH        x86_64 or aarch64 (default: this machine's); resolve
                          also takes the other ABIs: i386 and x32
     --caps MASK        the container's capabilities, hex as CapBnd in
                          /proc/PID/status: rules with includes/excludes
                          caps follow them (default: all)
     --kernel VERSION   kernel version for minKernel rules (default: this one)
 -h, --help             display this help and exit
`;

const SPEC = { string: ["arch", "caps", "kernel"], boolean: ["help"], alias: { h: "help" } };

function arch(v: string | undefined): Arch {
  const a = v ?? hostArch();
  if (a === undefined) throw new UsageError(`no syscall table for this machine (${process.arch}); give --arch`);
  if (!isArch(a)) throw new UsageError(`--arch ${a}: unknown (x86_64 or aarch64)`);
  return a;
}

function abi(v: string | undefined): AbiName {
  if (v === undefined || isArch(v)) return arch(v);
  if (!isAbi(v)) throw new UsageError(`--arch ${v}: unknown (x86_64, aarch64, i386 or x32)`);
  return v;
}

function read(file: string): Buffer {
  try {
    return readFileSync(file === "-" ? 0 : file);
  } catch (e) {
    throw new Error(`read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export const seccompTool: Tool = {
  name: "seccomp",
  run(argv) {
    const p = parseArgs(argv, SPEC);
    if (flag(p, "help")) {
      process.stdout.write(HELP);
      return 0;
    }
    const [verb, ...rest] = p.rest;
    switch (verb) {
      case "compile": {
        if (rest.length !== 1) throw new UsageError("compile takes one PROFILE");
        const caps = str(p, "caps");
        if (caps !== undefined && !/^[0-9a-fA-F]{1,16}$/.test(caps)) throw new UsageError(`--caps ${caps}: not a hex capability mask`);
        const file = rest[0] === "default" ? DEFAULT_PROFILE_PATH : rest[0]!;
        const profile = parseProfile(read(file).toString("utf8"), file);
        const prog = compileProfile(profile, { arch: arch(str(p, "arch")), caps: caps ? BigInt("0x" + caps) : ALL_CAPS, kernel: str(p, "kernel") });
        process.stdout.write(encode(prog));
        return 0;
      }
      case "disasm": {
        if (rest.length > 1) throw new UsageError("disasm takes at most one FILE");
        process.stdout.write(disassemble(decode(read(rest[0] ?? "-"))) + "\n");
        return 0;
      }
      case "default":
        if (rest.length) throw new UsageError("default takes no operand");
        process.stdout.write(read(DEFAULT_PROFILE_PATH));
        return 0;
      case "resolve": {
        if (!rest.length) throw new UsageError("resolve needs a syscall NAME");
        const a = abi(str(p, "arch"));
        let missing = 0;
        for (const n of rest) {
          const nr = syscallNumber(a, n);
          if (nr === undefined) {
            process.stderr.write(`seccomp: ${n}: no such syscall on ${a}\n`);
            missing++;
          } else process.stdout.write(`${n} ${nr}\n`);
        }
        return missing ? 1 : 0;
      }
      case undefined:
        throw new UsageError("no command given (compile, disasm, default or resolve)");
      default:
        throw new UsageError(`unknown command '${verb}'`);
    }
  },
};
