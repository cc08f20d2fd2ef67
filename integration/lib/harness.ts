// The integration harness: every test file gets a private BOX_ROOT and BOX_RUN, runs the built
// binaries as a user would, and on cleanup proves that nothing it started is left on the host.
//
//   const h = await harness();
//   try {
//     await importBusybox(h);
//     expectOk(await h.box("run", "--rm", "busybox", "true"));
//   } finally {
//     await h.cleanup(); // throws if the test leaked a mount, process, state dir or cgroup
//   }

import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root, from this file's own location (integration/lib/harness.ts). */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/** The shebang entry of a tool: packages/<name>/bin/<name>. */
export function binPath(name: string): string {
  return join(repoRoot, "packages", name, "bin", name);
}

/** Whether a package has been built (its bin imports ../dist/bin.js). */
export function isBuilt(name: string): boolean {
  return existsSync(join(repoRoot, "packages", name, "dist", "bin.js"));
}

export interface RunOptions {
  /** Written to the child's stdin, which is then closed; without it stdin is /dev/null. */
  input?: string;
  /** SIGKILL the child after this long (default 30 s, under vitest's 60 s test timeout, so a hung
   *  command still reports its output); the result then has timedOut: true. */
  timeoutMs?: number;
  /** Merged over the harness environment; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

export interface RunResult {
  command: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface Leak {
  kind: "mount" | "process" | "state" | "cgroup" | "link";
  /** The mount point, the pid, the state directory or the cgroup directory. */
  what: string;
  detail: string;
}

export interface Harness {
  /** A short id that names this harness in temp dirs (boxtest-XXXXXX). */
  id: string;
  /** BOX_ROOT: the private image and container store. */
  root: string;
  /** BOX_RUN: the private runtime state directory. */
  runDir: string;
  /** The environment every command runs with: BOX_ROOT, BOX_RUN, and the tools' bin dirs on PATH. */
  env: Record<string, string>;
  run(cmd: string[], opts?: RunOptions): Promise<RunResult>;
  /** `box ARGS...`; a trailing RunOptions object is taken as options. */
  box(...args: Array<string | RunOptions>): Promise<RunResult>;
  /** `packages/<name>/bin/<name> ARGS...`; a trailing RunOptions object is taken as options. */
  tool(name: string, ...args: Array<string | RunOptions>): Promise<RunResult>;
  /** Remove everything the harness made; throws if anything had leaked (after removing it). */
  cleanup(): Promise<void>;
}

const TOOLS_WITH_BINS = (): string[] => {
  const pkgs = join(repoRoot, "packages");
  return readdirSync(pkgs).filter((p) => existsSync(join(pkgs, p, "bin")));
};

export async function harness(): Promise<Harness> {
  const base = await mkdtemp(join(tmpdir(), "boxtest-"));
  const id = base.slice(base.lastIndexOf("/") + 1);
  const root = join(base, "root");
  const runDir = join(base, "run");
  // mkdtemp's directory holds both so one rm removes them; the tools create root and run themselves
  // if they need to, but tests may look inside before the first command, so create them here.
  await Promise.all([mkdir(root), mkdir(runDir)]);

  const binDirs = TOOLS_WITH_BINS().map((p) => join(repoRoot, "packages", p, "bin"));
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.BOX_ROOT = root;
  env.BOX_RUN = runDir;
  // Networks: each harness has its own nftables table and bridge names (its default network is
  // PREFIX0), so test files side by side never share a bridge or a rule; cleanup removes them.
  const tag = createHash("sha256").update(id).digest("hex").slice(0, 6);
  env.BOX_NFT_TABLE = `boxtest_${tag}`;
  env.BOX_BRIDGE_PREFIX = `bt${tag}`;
  // Containers' cgroups go below a parent named after this harness, so that
  // leaks() finds one that a test left (they are otherwise named by container id).
  env.BOX_CGROUP_PARENT = `box-${id}`;
  // box may exec its sibling tools by name; make those the ones from this checkout.
  env.PATH = [...binDirs, env.PATH ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"].join(":");

  const run = (cmd: string[], opts: RunOptions = {}) => runCommand(cmd, env, opts);
  const withOpts = (args: Array<string | RunOptions>): [string[], RunOptions | undefined] => {
    const last = args[args.length - 1];
    if (last !== undefined && typeof last === "object") return [args.slice(0, -1) as string[], last];
    return [args as string[], undefined];
  };

  const h: Harness = {
    id,
    root,
    runDir,
    env,
    run,
    box: (...args) => {
      const [a, o] = withOpts(args);
      return run([binPath("box"), ...a], o);
    },
    tool: (name, ...args) => {
      const [a, o] = withOpts(args);
      return run([binPath(name), ...a], o);
    },
    cleanup: () => cleanup(h, base),
  };
  return h;
}

function runCommand(cmd: string[], baseEnv: Record<string, string>, opts: RunOptions): Promise<RunResult> {
  const env: Record<string, string> = { ...baseEnv };
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const [file, ...args] = cmd;
  if (file === undefined) return Promise.reject(new Error("harness: run: empty command"));
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(file, args, {
      env,
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (b: Buffer) => out.push(b));
    child.stderr?.on("data", (b: Buffer) => err.push(b));
    if (opts.input !== undefined && child.stdin) {
      // A child that exits without reading its stdin gives EPIPE; that is its business, not ours.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input);
    }
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(new Error(`harness: spawn ${cmd.join(" ")}`, { cause: e }));
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        command: cmd,
        code,
        signal,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        timedOut,
        ms: performance.now() - started,
      });
    });
  });
}

/** The command, its exit status, stdout and stderr, for a failure message. */
export function formatResult(r: RunResult): string {
  const status = r.timedOut
    ? `killed after timeout (${Math.round(r.ms)} ms)`
    : r.signal !== null
      ? `killed by ${r.signal}`
      : `exit status ${r.code}`;
  const block = (name: string, s: string) =>
    s === "" ? `${name}: (empty)` : `${name}:\n${s.replace(/\n$/, "").replace(/^/gm, "  | ")}`;
  return [`command: ${r.command.map(shellQuote).join(" ")}`, status, block("stdout", r.stdout), block("stderr", r.stderr)].join("\n");
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Throws with the full command, status and output unless the command exited 0. */
export function expectOk(r: RunResult, what?: string): RunResult {
  if (r.code !== 0 || r.timedOut) {
    throw new Error(`${what ? `${what}: ` : ""}command failed\n${formatResult(r)}`);
  }
  return r;
}

/** Throws unless the command exited with `code`. */
export function expectCode(r: RunResult, code: number, what?: string): RunResult {
  if (r.code !== code || r.timedOut) {
    throw new Error(`${what ? `${what}: ` : ""}expected exit status ${code}\n${formatResult(r)}`);
  }
  return r;
}

// ---- the busybox image -------------------------------------------------------------------------

const BUSYBOX = process.env.BUSYBOX ?? "/bin/busybox";
const BUSYBOX_SH = join(repoRoot, "integration", "images", "busybox.sh");

/**
 * The busybox rootfs tar, built once per machine and reused while the busybox binary and the
 * script are unchanged (cached in os.tmpdir()/box-test-busybox.tar with a key file beside it).
 */
export async function busyboxTar(): Promise<string> {
  const tar = join(tmpdir(), "box-test-busybox.tar");
  const keyFile = `${tar}.key`;
  const bb = await stat(BUSYBOX).catch((e: unknown) => {
    throw new Error(`harness: ${BUSYBOX} is missing (install busybox-static)`, { cause: e });
  });
  const script = await readFile(BUSYBOX_SH);
  const key = [
    `busybox=${BUSYBOX} mtime=${bb.mtimeMs} size=${bb.size}`,
    `script=${createHash("sha256").update(script).digest("hex")}`,
  ].join("\n");
  const cached = await readFile(keyFile, "utf8").catch(() => "");
  if (cached === key && existsSync(tar)) return tar;

  // Test files run in parallel forks: build under a private name, then rename, so a reader sees
  // either the old tar or the new one, never half of one.
  const tmp = `${tar}.${process.pid}.${Date.now()}`;
  const r = await runCommand([BUSYBOX_SH, tmp], { ...(process.env as Record<string, string>), BUSYBOX }, {});
  expectOk(r, "harness: build the busybox image");
  await rename(tmp, tar);
  await writeFile(`${keyFile}.${process.pid}`, key);
  await rename(`${keyFile}.${process.pid}`, keyFile);
  return tar;
}

/** Import the busybox image into h's BOX_ROOT as busybox:latest (CMD ["sh"]); returns the image id. */
export async function importBusybox(h: Harness): Promise<string> {
  const tar = await busyboxTar();
  const r = expectOk(
    await h.tool("mkroot", "import", "--change", 'CMD ["sh"]', "busybox:latest", tar),
    "harness: import busybox:latest",
  );
  return r.stdout.trim();
}

// ---- leaks -------------------------------------------------------------------------------------

function under(path: string, dirs: string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(`${d}/`));
}

function mentions(text: string, dirs: string[]): boolean {
  return dirs.some((d) => text.includes(d));
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
function unescapeMountinfo(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

interface MountEntry {
  target: string;
  source: string;
  fstype: string;
  superOptions: string;
}

function readMounts(): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (line === "") continue;
    // id parent maj:min root target options [optional...] - fstype source superoptions
    const fields = line.split(" ");
    const sep = fields.indexOf("-");
    if (sep < 0) continue;
    entries.push({
      target: unescapeMountinfo(fields[4] ?? ""),
      source: unescapeMountinfo(fields[sep + 2] ?? ""),
      fstype: fields[sep + 1] ?? "",
      superOptions: unescapeMountinfo(fields[sep + 3] ?? ""),
    });
  }
  return entries;
}

interface ProcInfo {
  pid: number;
  ppid: number;
  root: string;
  cwd: string;
  cmdline: string;
  environ: string;
}

function tryRead(f: () => string): string {
  try {
    return f();
  } catch {
    return ""; // gone, a kernel thread, or protected (pid 1 here is not dumpable)
  }
}

function readProcs(): ProcInfo[] {
  const procs: ProcInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = tryRead(() => readFileSync(`/proc/${pid}/stat`, "utf8"));
    if (stat === "") continue;
    // comm may hold spaces and parentheses; the fields after the last ')' are fixed.
    const after = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    procs.push({
      pid,
      ppid: Number(after[1]),
      root: tryRead(() => readlinkSync(`/proc/${pid}/root`)),
      cwd: tryRead(() => readlinkSync(`/proc/${pid}/cwd`)),
      cmdline: tryRead(() => readFileSync(`/proc/${pid}/cmdline`, "utf8")).replace(/\0/g, " ").trim(),
      environ: tryRead(() => readFileSync(`/proc/${pid}/environ`, "utf8")),
    });
  }
  return procs;
}

/** This process and its ancestors: never leaks, never killed. */
function selfAndAncestors(procs: ProcInfo[]): Set<number> {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const out = new Set<number>();
  for (let pid = process.pid; pid > 0 && !out.has(pid); pid = byPid.get(pid)?.ppid ?? 0) out.add(pid);
  return out;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Cgroup directories named box* (at any depth, up to a few levels) under each v1 hierarchy and v2. */
function boxCgroups(): string[] {
  const found: string[] = [];
  const walk = (dir: string, depth: number) => {
    if (depth > 5) return;
    for (const name of listDir(dir)) {
      const p = join(dir, name);
      let isDir = false;
      try {
        isDir = statSync(p).isDirectory();
      } catch {
        continue;
      }
      if (!isDir) continue;
      if (name.startsWith("box")) {
        found.push(p);
        // The containers' own cgroups sit right below, named by container id.
        for (const child of listDir(p)) if (/^[0-9a-f]{64}$/.test(child)) found.push(join(p, child));
      }
      walk(p, depth + 1);
    }
  };
  walk("/sys/fs/cgroup", 0);
  return found;
}

/**
 * Leftovers attributable to h: mounts whose target, source or overlay dirs are under h's dirs;
 * processes whose root, cwd, cmdline or environment (BOX_ROOT/BOX_RUN) point into them, or whose
 * ancestor or cgroup is a leak; container state dirs; box* cgroups that name h or a leaked container.
 */
export function leaks(h: Pick<Harness, "id" | "root" | "runDir"> & { env?: Record<string, string> }): Leak[] {
  const dirs = [h.root, h.runDir];
  const found: Leak[] = [];

  // A veth still on one of h's bridges is a container's network left behind.
  const prefix = h.env?.BOX_BRIDGE_PREFIX;
  if (prefix) {
    const bridges = new Set(hostLinks().filter((l) => l.ifname.startsWith(prefix)).map((l) => l.ifname));
    for (const l of hostLinks()) {
      if (l.master && bridges.has(l.master)) found.push({ kind: "link", what: l.ifname, detail: `on bridge ${l.master}` });
    }
  }

  for (const m of readMounts()) {
    if (under(m.target, dirs) || under(m.source, dirs) || mentions(m.superOptions, dirs)) {
      found.push({ kind: "mount", what: m.target, detail: `${m.fstype} source=${m.source}` });
    }
  }

  const containerIds: string[] = [];
  for (const parent of [join(h.runDir, "containers"), join(h.root, "containers")]) {
    for (const name of listDir(parent)) {
      containerIds.push(name);
      found.push({ kind: "state", what: join(parent, name), detail: "container state left behind" });
    }
  }

  // A parent named after h with no container cgroup below is box's own bookkeeping, gone with
  // the last container in the normal case; cleanup removes one a killed run left, silently.
  const hasChildren = (p: string) => listDir(p).some((c) => /^[0-9a-f]{64}$/.test(c));
  const cgroups = boxCgroups().filter(
    (p) => (p.includes(h.id) || containerIds.some((c) => c.length >= 8 && p.includes(c))) && !(p.endsWith(`/box-${h.id}`) && !hasChildren(p)),
  );
  const cgroupPids = new Set<number>();
  for (const cg of cgroups) {
    const procs = tryRead(() => readFileSync(join(cg, "cgroup.procs"), "utf8")).split("\n").filter(Boolean);
    for (const p of procs) cgroupPids.add(Number(p));
    found.push({ kind: "cgroup", what: cg, detail: procs.length ? `pids ${procs.join(",")}` : "empty" });
  }

  const procs = readProcs();
  const exempt = selfAndAncestors(procs);
  const envMarks = [`BOX_ROOT=${h.root}\0`, `BOX_RUN=${h.runDir}\0`];
  const leaked = new Map<number, string>();
  for (const p of procs) {
    if (exempt.has(p.pid)) continue;
    const why =
      (p.root !== "/" && under(p.root, dirs) && `root ${p.root}`) ||
      (under(p.cwd, dirs) && `cwd ${p.cwd}`) ||
      (mentions(p.cmdline, dirs) && "cmdline") ||
      (envMarks.some((m) => `${p.environ}\0`.includes(m)) && "environment") ||
      (cgroupPids.has(p.pid) && "in a leaked cgroup");
    if (why) leaked.set(p.pid, why);
  }
  // Children of leaked processes (a container's own processes see a different root and env).
  for (let grew = true; grew; ) {
    grew = false;
    for (const p of procs) {
      if (!leaked.has(p.pid) && !exempt.has(p.pid) && leaked.has(p.ppid)) {
        leaked.set(p.pid, `child of ${p.ppid}`);
        grew = true;
      }
    }
  }
  const cmdOf = new Map(procs.map((p) => [p.pid, p.cmdline]));
  for (const [pid, why] of leaked) {
    found.push({ kind: "process", what: String(pid), detail: `${why}: ${cmdOf.get(pid) || "?"}` });
  }
  return found;
}

interface HostLink {
  ifname: string;
  master?: string;
}

/** The host's links from sysfs, so that a host without iproute2 is checked too. */
function hostLinks(): HostLink[] {
  return listDir("/sys/class/net").map((ifname) => {
    try {
      return { ifname, master: basename(readlinkSync(join("/sys/class/net", ifname, "master"))) };
    } catch {
      return { ifname };
    }
  });
}

/** h's networks (bridges named with its prefix) and its nftables table: made on first use, like docker0. */
function removeNetworks(h: Harness, errors: string[]): void {
  const prefix = h.env.BOX_BRIDGE_PREFIX;
  if (prefix) {
    for (const l of hostLinks()) {
      if (!l.ifname.startsWith(prefix)) continue;
      const r = spawnSync("ip", ["link", "delete", l.ifname], { encoding: "utf8" });
      if (r.status !== 0) errors.push(`ip link delete ${l.ifname}: ${r.stderr.trim()}`);
    }
  }
  const table = h.env.BOX_NFT_TABLE;
  if (table) {
    const list = spawnSync("nft", ["list", "tables"], { encoding: "utf8" });
    // No nft on the host (list.error): box cannot have made a table either.
    if ((list.stdout ?? "").split("\n").includes(`table ip ${table}`)) {
      const r = spawnSync("nft", ["delete", "table", "ip", table], { encoding: "utf8" });
      if (r.status !== 0) errors.push(`nft delete table ip ${table}: ${r.stderr.trim()}`);
    }
  }
}

export function formatLeaks(list: Leak[]): string {
  return list.map((l) => `  ${l.kind} ${l.what} (${l.detail})`).join("\n");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Kill, unmount, remove; then remove h's directories. Throws if anything had leaked. */
async function cleanup(h: Harness, base: string): Promise<void> {
  const before = leaks(h);
  const errors: string[] = [];

  // Processes first: they pin mounts and cgroups.
  const pids = before.filter((l) => l.kind === "process").map((l) => Number(l.what));
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  const deadline = Date.now() + 5_000;
  while (pids.some(pidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));

  // Deepest mount first; lazy so a busy mount still leaves the namespace.
  const mounts = before.filter((l) => l.kind === "mount").map((l) => l.what);
  for (const target of [...new Set(mounts)].sort((a, b) => b.length - a.length)) {
    const r = spawnSync("umount", ["-l", target], { encoding: "utf8" });
    if (r.status !== 0 && readMounts().some((m) => m.target === target)) {
      errors.push(`umount -l ${target}: ${r.stderr.trim() || `exit status ${r.status}`}`);
    }
  }

  // Cgroups leaf first; rmdir is the only way to remove one.
  const cgroups = before.filter((l) => l.kind === "cgroup").map((l) => l.what);
  for (const cg of cgroups.sort((a, b) => b.length - a.length)) {
    await rmdir(cg).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== "ENOENT") errors.push(`rmdir ${cg}: ${e.code ?? e.message}`);
    });
  }

  for (const cg of boxCgroups().filter((p) => p.endsWith(`/box-${h.id}`))) await rmdir(cg).catch(() => {});

  // After the processes and mounts: a veth goes with its netns, a bridge needs its ports gone.
  for (const l of before.filter((x) => x.kind === "link")) spawnSync("ip", ["link", "delete", l.what]);
  removeNetworks(h, errors);

  // Never rm -r across a mount point: it would delete the mounted filesystem's files.
  const stillMounted = readMounts().filter((m) => under(m.target, [base]));
  if (stillMounted.length > 0) {
    errors.push(`not removing ${base}: still mounted: ${stillMounted.map((m) => m.target).join(", ")}`);
  } else {
    await rm(base, { recursive: true, force: true }).catch((e: Error) => errors.push(`rm -r ${base}: ${e.message}`));
  }

  const after = leaks(h);
  if (before.length > 0 || after.length > 0 || errors.length > 0) {
    const parts = [`harness ${h.id}: the test leaked:`, formatLeaks(before)];
    if (after.length > 0) parts.push("still there after cleanup:", formatLeaks(after));
    if (errors.length > 0) parts.push("cleanup errors:", ...errors.map((e) => `  ${e}`));
    throw new Error(parts.join("\n"));
  }
}
