export { boxTool } from "./cli.js";
export { buildSpec, command, parseVolume, MASKED_PATHS, READONLY_PATHS } from "./run/spec.js";
export { parseRunFlags, type RunFlags } from "./run/flags.js";
export { explain, shellQuote } from "./run/explain.js";
export { DOCKER_DEFAULT_CAPS, capMask } from "./run/caps.js";
export { boxPaths, type BoxPaths } from "./paths.js";
