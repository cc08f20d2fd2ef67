import { ExitError, UsageError, type Tool } from "@box/cli";
import { boxPaths } from "./paths.js";
import { parseRunFlags } from "./run/flags.js";
import { runContainer } from "./run/run.js";
import { RUN_HELP, HELP } from "./help.js";
import { imagesCommand, rmiCommand, importCommand } from "./commands/images.js";
import { rmCommand } from "./commands/rm.js";
import { psCommand } from "./commands/ps.js";

export const boxTool: Tool = {
  name: "box",
  usageExit: 125,
  failExit: 125,
  async run(argv) {
    try {
      return await dispatch(argv);
    } catch (e) {
      // Docker's wording for misuse: "unknown flag: --x" and where to look.
      if (e instanceof UsageError) {
        const sub = argv[0] && !argv[0].startsWith("-") ? ` ${argv[0]}` : "";
        throw new ExitError(`${e.message.replace(/^unknown option '(.*)'$/, "unknown flag: $1")}\nSee 'box${sub} --help'.`, 125);
      }
      throw e;
    }
  },
};

async function dispatch(argv: string[]): Promise<number> {
    const [cmd, ...rest] = argv;
    const paths = boxPaths();
    switch (cmd) {
      case undefined:
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(HELP);
        return 0;
      case "run": {
        const f = parseRunFlags(rest);
        if (f.help) {
          process.stdout.write(RUN_HELP);
          return 0;
        }
        return runContainer(paths, f);
      }
      case "ps":
        return psCommand(paths, rest);
      case "rm":
        return rmCommand(paths, rest);
      case "images":
        return imagesCommand(paths, rest);
      case "rmi":
        return rmiCommand(paths, rest);
      case "import":
        return importCommand(paths, rest);
      case "version":
      case "--version":
        process.stdout.write("box version 0.1.0\n");
        return 0;
      default:
        if (cmd.startsWith("-")) throw new UsageError(`unknown flag: ${cmd}`);
        throw new ExitError(`'${cmd}' is not a box command.\nSee 'box --help'`, 125);
    }
}
