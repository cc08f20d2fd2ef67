export { compileProfile, compileToBuffer, resolveRules, filterAbis, actionValue, type CompileOptions, type Rule } from "./compile.js";
export { parseProfile, defaultProfile, DEFAULT_PROFILE_PATH, ProfileError, type Profile, type SyscallRule, type Arg, type Filter } from "./profile.js";
export { loadFilter, type LoadOptions } from "./load.js";
export { Assembler, encode, decode, disassemble, RET, BPF, MAX_INSNS, type Insn } from "./bpf.js";
export { ABIS, ARCHES, hostArch, isAbi, isArch, syscallNumber, syscallName, type Abi, type AbiName, type Arch } from "./syscalls/index.js";
export { ALL_CAPS, capNames } from "./caps.js";
