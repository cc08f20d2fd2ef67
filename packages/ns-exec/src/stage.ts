import { fileURLToPath } from "node:url";

/** ns-init, the C second stage, built beside this module (and beside every bundle that includes it). */
export const NS_INIT = fileURLToPath(new URL("./ns-init", import.meta.url));
