import { main } from "@box/cli";
import { seccompTool } from "./cli.js";

await main(seccompTool);
