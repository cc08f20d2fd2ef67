import { main } from "@box/cli";
import { mkroot } from "./cli.js";

void main(mkroot);
