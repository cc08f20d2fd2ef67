import { main } from "@box/cli";
import { boxTool } from "./cli.js";

void main(boxTool);
