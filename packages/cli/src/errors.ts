/** An error that knows the exit status it should end the process with. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "ExitError";
    this.exitCode = exitCode;
  }
}

/** Misuse of the command line: the tool prints one line and "Try '<tool> --help'". */
export class UsageError extends ExitError {
  constructor(message: string) {
    super(message, 2);
    this.name = "UsageError";
  }
}

/** `outer: inner: innermost`, lowercase-first as the style asks, no full stop. */
export function describeChain(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof Error) {
      parts.push(e.message);
      e = (e as Error & { cause?: unknown }).cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return parts.filter(Boolean).join(": ");
}
