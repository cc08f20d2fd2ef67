import { main } from "@box/cli";
import { seccompTool } from "./cli.js";

void main(seccompTool);
