export { parseArgs, str, list, flag, type ArgSpec, type Parsed } from "./args.js";
export { ExitError, UsageError, describeChain } from "./errors.js";
export { main, type Tool } from "./main.js";
