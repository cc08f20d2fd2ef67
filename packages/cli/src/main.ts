import { ExitError, UsageError, describeChain } from "./errors.js";

export interface Tool {
  name: string;
  /** Exit status for misuse; 2 for the small tools, 125 for box (as Docker). */
  usageExit?: number;
  /** Exit status for a runtime failure; 1 for the small tools, 125 for box. */
  failExit?: number;
  run(argv: string[]): Promise<number> | number;
}

/**
 * Run a tool's main and turn what it throws into one line on stderr and an
 * exit status. stdout is left to the tool: it carries data only.
 */
export async function main(tool: Tool): Promise<never> {
  // A reader that went away (`cgset info | head -1`) ends us as SIGPIPE ends a
  // C tool: quietly, 128+13. Node ignores the signal and raises EPIPE instead.
  process.stdout.on("error", (e: NodeJS.ErrnoException) => {
    if (e.code !== "EPIPE") throw e;
    process.exit(141);
  });
  let code: number;
  try {
    code = await tool.run(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${tool.name}: ${err.message}\nTry '${tool.name} --help' for more information.\n`);
      code = tool.usageExit ?? 2;
    } else if (err instanceof ExitError) {
      process.stderr.write(`${tool.name}: ${describeChain(err)}\n`);
      code = err.exitCode;
    } else {
      process.stderr.write(`${tool.name}: ${describeChain(err)}\n`);
      if (process.env.BOX_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      code = tool.failExit ?? 1;
    }
  }
  process.exitCode = code;
  // Let stdout drain before exiting: a pipe reader must get every record.
  await new Promise<void>((resolve) => (process.stdout.writableLength ? process.stdout.once("drain", resolve) : resolve()));
  process.exit(code);
}
