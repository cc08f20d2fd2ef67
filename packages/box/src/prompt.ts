/** Docker's prune question: "WARNING! This will remove WHAT.\nAre you sure you want to continue? [y/N]" on stderr; yes or no. */
import { createInterface } from "node:readline/promises";

export async function confirmRemoval(what: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  // End of input (</dev/null, a script) is a no.
  const answer = await rl.question(`WARNING! This will remove ${what}.\nAre you sure you want to continue? [y/N] `).catch(() => "");
  rl.close();
  return /^y(es)?$/i.test(answer.trim());
}
