import { main } from "@box/cli";
import { nsExecTool } from "./cli.js";

void main(nsExecTool);
