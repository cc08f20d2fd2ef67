export { nsExec, nsStart, initArgs, NS_INIT, type RunHooks, type Started } from "./run.js";
export {
  defaults,
  validate,
  parseBind,
  parseIdMap,
  parseRlimit,
  parseTmpfs,
  type NsExecOptions,
  type BindMount,
  type TmpfsMount,
  type IdMap,
  type Rlimit,
} from "./options.js";
export { toArgv } from "./argv.js";
export { defaultHosts, defaultResolvConf, hostId } from "./rootfs.js";
export { resolveIdentity, type Identity } from "./passwd.js";
export { RootDir } from "./inroot.js";
export { openMappedUserns, writeIdMaps, formatIdMap } from "./userns.js";
export { NAMESPACES, type NamespaceKind } from "./namespaces.js";
