/** Docker's management commands (`box image ls`, `box container rm`): a subcommand is the top-level verb it names. */
import { ExitError, UsageError } from "@box/cli";

export function manage(group: string, help: string, aliases: Record<string, string>, argv: string[], dispatch: (argv: string[]) => Promise<number>): Promise<number> | number {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === "--help" || sub === "-h") {
    process.stdout.write(help);
    return 0;
  }
  const verb = aliases[sub];
  if (verb === undefined) {
    if (sub.startsWith("-")) throw new UsageError(`unknown flag: ${sub}`);
    throw new ExitError(`'box ${group} ${sub}' is not a box command.\nSee 'box ${group} --help'`, 125);
  }
  return dispatch([verb, ...rest]);
}
