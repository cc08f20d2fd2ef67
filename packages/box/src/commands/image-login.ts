/** `box login` and `box logout`: credentials in box's config.json (0600), checked against the registry first. */
import { ExitError, flag, list, parseArgs, str, UsageError } from "@box/cli";
import { DEFAULT_DOMAIN, login, logout } from "@box/mkroot";
import type { BoxPaths } from "../paths.js";

export const LOGIN_HELP = `Usage:  box login [OPTIONS] [SERVER]

Log in to a registry.
If no server is specified, the default is docker.io.

Options:
      --insecure-registry list   Allow plain HTTP or unverified TLS for SERVER
  -p, --password string          Password
      --password-stdin           Take the password from stdin
  -u, --username string          Username

Credentials are stored in $BOX_CONFIG or ~/.config/box/config.json (mode
0600, as Docker's config.json); ~/.docker/config.json is read as well.
`;

export const LOGOUT_HELP = `Usage:  box logout [SERVER]

Log out from a registry.
If no server is specified, the default is docker.io.
`;

/** "https://reg.example/v2/" -> "reg.example"; Docker Hub's spellings -> docker.io. */
export function serverHost(s: string | undefined): string {
  if (!s) return DEFAULT_DOMAIN;
  const h = s.replace(/^https?:\/\//, "").replace(/\/.*$/, "");
  return h === "index.docker.io" || h === "registry-1.docker.io" ? DEFAULT_DOMAIN : h;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin as AsyncIterable<Buffer>) chunks.push(c);
  return Buffer.concat(chunks).toString("utf8").replace(/\r?\n$/, "");
}

export async function loginCommand(_paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["password-stdin", "help"], string: ["username", "password"], multi: ["insecure-registry"], alias: { u: "username", p: "password" } });
  if (flag(a, "help")) {
    process.stdout.write(LOGIN_HELP);
    return 0;
  }
  if (a.rest.length > 1) throw new UsageError(`"box login" requires at most 1 argument`);
  const host = serverHost(a.rest[0]);
  const username = str(a, "username");
  let password = str(a, "password");
  if (flag(a, "password-stdin")) {
    if (password !== undefined) throw new UsageError("--password and --password-stdin are mutually exclusive");
    if (username === undefined) throw new UsageError("must provide --username with --password-stdin");
    password = await readStdin();
  } else if (password !== undefined) {
    process.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  }
  if (username === undefined || password === undefined) throw new UsageError("give --username and --password-stdin (box login does not prompt)");
  if (password === "") throw new UsageError("password is empty");
  try {
    await login(host, username, password, { insecureRegistries: list(a, "insecure-registry") });
  } catch (e) {
    throw new ExitError(`login ${host}`, 1, { cause: e });
  }
  process.stdout.write("Login Succeeded\n");
  return 0;
}

export async function logoutCommand(_paths: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { boolean: ["help"] });
  if (flag(a, "help")) {
    process.stdout.write(LOGOUT_HELP);
    return 0;
  }
  if (a.rest.length > 1) throw new UsageError(`"box logout" requires at most 1 argument`);
  const host = serverHost(a.rest[0]);
  if (await logout(host)) process.stdout.write(`Removing login credentials for ${host}\n`);
  else process.stderr.write(`Not logged in to ${host}\n`);
  return 0;
}
