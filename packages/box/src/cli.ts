import { ExitError, UsageError, type Tool } from "@box/cli";
import { boxPaths } from "./paths.js";
import { HELP } from "./help.js";

// Each command is imported when it is dispatched: a run should not pay for
// loading the registry client, and `box ps` not for the overlay code.
const lifecycle = () => import("./commands/lifecycle.js");

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
        const f = (await import("./run/flags.js")).parseRunFlags(rest);
        if (f.help) {
          process.stdout.write((await import("./help.js")).RUN_HELP);
          return 0;
        }
        return (await import("./run/run.js")).runContainer(paths, f);
      }
      case "create": {
        const f = (await import("./run/flags.js")).parseRunFlags(rest, "create");
        if (f.help) {
          process.stdout.write((await import("./help.js")).CREATE_HELP);
          return 0;
        }
        if (f.detach) throw new UsageError("unknown flag: --detach");
        return (await import("./run/run.js")).runContainer(paths, f, true);
      }
      case "pause":
        return (await import("./commands/cgroups.js")).pauseCommand(paths, rest);
      case "unpause":
        return (await import("./commands/cgroups.js")).unpauseCommand(paths, rest);
      case "update":
        return (await import("./commands/cgroups.js")).updateCommand(paths, rest);
      case "stats":
        return (await import("./commands/cgroups.js")).statsCommand(paths, rest);
      case "ps":
        return (await import("./commands/ps.js")).psCommand(paths, rest);
      case "rm":
        return (await lifecycle()).rmCommand(paths, rest);
      case "stop":
        return (await lifecycle()).stopCommand(paths, rest);
      case "kill":
        return (await lifecycle()).killCommand(paths, rest);
      case "wait":
        return (await lifecycle()).waitCommand(paths, rest);
      case "start":
        return (await lifecycle()).startCommand(paths, rest);
      case "restart":
        return (await lifecycle()).restartCommand(paths, rest);
      case "rename":
        return (await lifecycle()).renameCommand(paths, rest);
      case "logs":
        return (await import("./commands/logs.js")).logsCommand(paths, rest);
      case "inspect":
        return (await import("./commands/inspect.js")).inspectCommand(paths, rest);
      case "exec":
        return (await import("./commands/exec.js")).execCommand(paths, rest);
      case "top":
        return (await import("./commands/top.js")).topCommand(paths, rest);
      case "attach":
        return (await import("./commands/attach.js")).attachCommand(paths, rest);
      case "network":
        return (await import("./commands/network.js")).networkCommand(paths, rest);
      case "port":
        return (await import("./commands/network.js")).portCommand(paths, rest);
      case "__start":
        return (await import("./run/start.js")).startStage(paths, rest[0]!);
      case "__cleanup":
        return (await import("./run/start.js")).cleanupStage(paths, rest[0]!);
      case "images":
        return (await import("./commands/image-ls.js")).imageLsCommand(paths, rest);
      case "pull":
        return (await import("./commands/image-pull.js")).pullCommand(paths, rest);
      case "push":
        return (await import("./commands/image-push.js")).pushCommand(paths, rest);
      case "login":
        return (await import("./commands/image-login.js")).loginCommand(paths, rest);
      case "logout":
        return (await import("./commands/image-login.js")).logoutCommand(paths, rest);
      case "tag":
        return (await import("./commands/image-tag.js")).tagCommand(paths, rest);
      case "history":
        return (await import("./commands/image-history.js")).historyCommand(paths, rest);
      case "save":
        return (await import("./commands/image-save.js")).saveCommand(paths, rest);
      case "load":
        return (await import("./commands/image-save.js")).loadCommand(paths, rest);
      case "image":
        return (await import("./commands/image-manage.js")).imageCommand(paths, rest, dispatch);
      case "system":
        return (await import("./commands/system.js")).systemCommand(paths, rest, dispatch);
      case "volume":
        return (await import("./commands/volume.js")).volumeCommand(paths, rest);
      case "container":
        return (await import("./commands/container-manage.js")).containerCommand(rest, dispatch);
      case "container-prune":
        return (await import("./commands/container-manage.js")).containerPruneCommand(paths, rest);
      case "image-inspect":
        return (await import("./commands/image-inspect.js")).imageInspectCommand(paths, rest);
      case "image-prune":
        return (await import("./commands/image-prune.js")).imagePruneCommand(paths, rest);
      case "rmi":
        return (await import("./commands/images.js")).rmiCommand(paths, rest);
      case "import":
        return (await import("./commands/images.js")).importCommand(paths, rest);
      case "build":
        return (await import("./commands/build.js")).buildCommand(paths, rest);
      case "builder":
        return (await import("./commands/build.js")).builderCommand(paths, rest);
      case "__build-run":
        return (await import("./build/sandbox.js")).buildRunStage(rest[0]!);
      case "commit":
        return (await import("./commands/commit.js")).commitCommand(paths, rest);
      case "diff":
        return (await import("./commands/diff.js")).diffCommand(paths, rest);
      case "cp":
        return (await import("./commands/cp.js")).cpCommand(paths, rest);
      case "export":
        return (await import("./commands/export.js")).exportCommand(paths, rest);
      case "info":
        return (await import("./commands/info.js")).infoCommand(paths, rest);
      case "version":
      case "--version":
        process.stdout.write("box version 0.1.0\n");
        return 0;
      default:
        if (cmd.startsWith("-")) throw new UsageError(`unknown flag: ${cmd}`);
        throw new ExitError(`'${cmd}' is not a box command.\nSee 'box --help'`, 125);
    }
}
