import { main } from "@box/cli";
import { netnsBridge } from "./cli.js";

// Awaited, so that a promise that never settles ends the process with
// status 13 (unsettled top-level await) instead of a silent 0.
void main(netnsBridge);
