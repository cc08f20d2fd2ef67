/** Docker's prune questions on stderr, answered yes or no; end of input (</dev/null, a script) is a no. */
import { createInterface } from "node:readline/promises";

export async function confirm(warning: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await rl.question(`${warning}\nAre you sure you want to continue? [y/N] `).catch(() => "");
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}

/** "WARNING! This will remove WHAT." */
export function confirmRemoval(what: string): Promise<boolean> {
  return confirm(`WARNING! This will remove ${what}.`);
}
