#!/usr/bin/env node
// pnpm bench: how long a do-nothing container takes, box against its peers, on one busybox rootfs.
//
// Each row runs its command BENCH_N times (default 20) after 2 warm-ups, one at a time, and reports
// the median and p90 wall time of the whole command as a user would see it. A row whose tool is
// missing or fails is reported as n/a or failed with the reason; the others still run. Everything
// the bench makes (bundles, temporary stores, the podman image) is removed at the end.
//
// Run as root: runc, crun, podman and unshare need it, and so do box and ns-exec.

import { spawnSync } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";

const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
const repo = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");
const N = positiveInt(process.env.BENCH_N, 20);
const WARMUP = 2;
const TIMEOUT_MS = 60_000;
const PODMAN_IMAGE = "localhost/box-bench-busybox";
const ID_PREFIX = `boxbench-${process.pid}-`;

function positiveInt(s, dflt) {
  if (s === undefined || s === "") return dflt;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) {
    log(`BENCH_N must be a positive integer, not ${JSON.stringify(s)}`);
    process.exit(2);
  }
  return n;
}

/** "family name" of each nftables table, or [] without nft. */
function nftTables() {
  const r = spawnSync("nft", ["list", "tables"], { encoding: "utf8" });
  if (r.status !== 0) return [];
  return r.stdout.split("\n").map((l) => l.replace(/^table\s+/, "").trim()).filter(Boolean);
}

function which(name) {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/local/sbin", "/usr/sbin", "/sbin"];
  for (const d of dirs) {
    if (!d) continue;
    try {
      accessSync(join(d, name), constants.X_OK);
      return join(d, name);
    } catch {
      // not here
    }
  }
  return undefined;
}

function envWithout(name, base = process.env) {
  const env = { ...base };
  delete env[name];
  return env;
}

/** Run once, synchronously; the wall time covers the spawn, the command and its exit. */
function exec(argv, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ["ignore", "pipe", "pipe"],
    timeout: TIMEOUT_MS,
    killSignal: "SIGKILL",
    maxBuffer: 16 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const stdout = r.stdout?.toString() ?? "";
  const stderr = r.stderr?.toString() ?? "";
  let failure;
  if (r.error) failure = r.error.code === "ETIMEDOUT" ? `timed out after ${TIMEOUT_MS} ms` : r.error.message;
  else if (r.signal) failure = `killed by ${r.signal}`;
  else if (r.status !== 0) failure = `exit status ${r.status}`;
  return { ms, failure, stdout, stderr };
}

function describeFailure(argv, r) {
  const out = [r.stderr.trim(), r.stdout.trim()].filter(Boolean).join("\n").split("\n").slice(-15);
  return `\`${argv.join(" ")}\`: ${r.failure}${out.length && out[0] ? `\n${out.map((l) => `    | ${l}`).join("\n")}` : ""}`;
}

// ^C stops the bench between runs and still cleans up. A handler only runs when the event loop
// turns, so bench() yields to it after every (synchronous) run.
let interrupted = false;
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    if (interrupted) process.exit(130); // a second ^C: give up on cleaning up
    interrupted = true;
    log(`${sig}: stopping after this run, then cleaning up`);
  });
}
const yieldToSignals = () => new Promise((r) => setImmediate(r));

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  const p90 = s[Math.max(0, Math.ceil(0.9 * s.length) - 1)];
  return { median, p90 };
}

const rows = [];

/** Skip a row with the reason its tool is unavailable. */
function na(name, reason) {
  rows.push({ name, na: reason });
  log(`${name}: n/a (${reason})`);
}

/**
 * Time one row. argvFor(i) gives the command for iteration i (so runc can use a fresh container id);
 * after(i, result) runs untimed after each iteration (to remove a container that failed to go).
 */
async function bench(name, argvFor, { env, after, failAsNa = false } = {}) {
  log(`${name}: ${WARMUP} warm-up + ${N} runs`);
  const samples = [];
  for (let i = 0; i < WARMUP + N; i++) {
    await yieldToSignals();
    if (interrupted) throw new Error("interrupted");
    const argv = argvFor(i);
    const r = exec(argv, { env });
    after?.(i, r);
    if (r.failure) {
      log(`${name}: failed on run ${i + 1}: ${describeFailure(argv, r)}`);
      const first = r.stderr.trim().split("\n")[0];
      const why = first ? `${r.failure}: ${first.slice(0, 100)}` : r.failure;
      rows.push(failAsNa ? { name, na: `fails on this host: ${why}` } : { name, failed: why });
      return;
    }
    if (i >= WARMUP) samples.push(r.ms);
  }
  rows.push({ name, ...stats(samples) });
}

function fmtMs(x) {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

function ratio(row, base) {
  if (row.median === undefined || base?.median === undefined) return "-";
  return `${(row.median / base.median).toFixed(2)}x`;
}

function printTable(runcRow, podmanRow) {
  const header = ["name", "median ms", "p90 ms", "vs runc", "vs podman", ""];
  const lines = rows.map((r) => {
    if (r.na) return [r.name, "n/a", "-", "-", "-", r.na];
    if (r.failed) return [r.name, "failed", "-", "-", "-", r.failed];
    return [r.name, fmtMs(r.median), fmtMs(r.p90), ratio(r, runcRow), ratio(r, podmanRow), ""];
  });
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((l) => l[c].length)));
  const fmt = (cells) =>
    cells
      .map((cell, c) => (c === 0 || c === 5 ? cell.padEnd(widths[c]) : cell.padStart(widths[c])))
      .join(" | ")
      .replace(/[ |]+$/, "");
  console.log(fmt(header));
  console.log(widths.slice(0, 5).map((w) => "-".repeat(w)).join("-|-"));
  for (const l of lines) console.log(fmt(l));
}

function target(label, row, base, limit, indent = "  ") {
  let verdict;
  if (!row || row.median === undefined) verdict = `n/a (${row?.na ?? row?.failed ?? "not run"})`;
  else if (!base || base.median === undefined) verdict = `n/a (baseline: ${base?.na ?? base?.failed ?? "not run"})`;
  else {
    const r = row.median / base.median;
    verdict = `${r <= limit ? "PASS" : "MISS"} (${r.toFixed(2)}x)`;
  }
  console.log(`${indent}${label.padEnd(36 - indent.length)} ${verdict}`);
}

/** Unmount (lazily, deepest first) anything still mounted under dir; rm -r must not cross a mount. */
function unmountUnder(dir) {
  const targets = readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[4])
    .filter((t) => t && (t === dir || t.startsWith(`${dir}/`)))
    .map((t) => t.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
    log(`unmounting leftover ${t}`);
    spawnSync("umount", ["-l", t]);
  }
}

function removeContainers(runtime) {
  const r = spawnSync(runtime, ["list", "-q"], { encoding: "utf8" });
  for (const id of (r.stdout ?? "").split("\n")) {
    if (id.startsWith(ID_PREFIX)) spawnSync(runtime, ["delete", "-f", id], { stdio: "ignore" });
  }
}

async function main() {
  if (process.getuid?.() !== 0) log("not running as root: most rows will fail");
  const work = mkdtempSync(join(tmpdir(), "boxbench-"));
  const cleanups = [];
  let podmanImported = false;
  try {
    // ---- the rootfs ----
    const tar = join(work, "busybox.tar");
    const built = exec([join(repo, "integration", "images", "busybox.sh"), tar]);
    if (built.failure) throw new Error(`build the busybox rootfs: ${describeFailure(["busybox.sh", tar], built)}`);
    const extract = (dir) => {
      mkdirSync(dir, { recursive: true });
      const r = exec(["tar", "-xpf", tar, "--numeric-owner", "-C", dir]);
      if (r.failure) throw new Error(`extract the rootfs: ${describeFailure(["tar", "-xpf", tar], r)}`);
      return dir;
    };
    const rootfs = extract(join(work, "rootfs"));
    const bundle = join(work, "bundle");
    extract(join(bundle, "rootfs"));

    const node = process.execPath;
    const nec = process.env.NODE_EXTRA_CA_CERTS;
    const necGiven = nec ? `NODE_EXTRA_CA_CERTS=${nec}` : "NODE_EXTRA_CA_CERTS not set";
    const envUnset = envWithout("NODE_EXTRA_CA_CERTS");

    console.log(`# box bench: ${N} runs after ${WARMUP} warm-ups per row`);
    console.log(`# kernel ${release()}, ${cpus().length} cpus, node ${process.version}, ${necGiven}`);
    const cgv = spawnSync("stat", ["-fc", "%T", "/sys/fs/cgroup"], { encoding: "utf8" }).stdout?.trim();
    console.log(`# /sys/fs/cgroup is ${cgv === "cgroup2fs" ? "cgroup v2" : `${cgv} (cgroup v1 or hybrid)`}`);

    // ---- box run ----
    const boxBin = join(repo, "packages", "box", "bin", "box");
    const mkrootBin = join(repo, "packages", "mkroot", "bin", "mkroot");
    const boxRows = ["box run --rm --network none busybox true", "box run ... (NODE_EXTRA_CA_CERTS unset)"];
    if (!existsSync(join(repo, "packages", "box", "dist", "bin.js"))) {
      for (const r of boxRows) na(r, "packages/box is not built: pnpm build");
    } else if (!existsSync(join(repo, "packages", "mkroot", "dist", "bin.js"))) {
      for (const r of boxRows) na(r, "packages/mkroot is not built: pnpm build");
    } else {
      const boxEnv = { ...process.env, BOX_ROOT: join(work, "box-root"), BOX_RUN: join(work, "box-run") };
      cleanups.push(() => {
        // Remove the image through the tool first so it can undo anything it made outside BOX_ROOT.
        spawnSync(mkrootBin, ["rm", "busybox:latest"], { env: boxEnv, stdio: "ignore" });
      });
      const imp = exec([mkrootBin, "import", "--change", 'CMD ["sh"]', "busybox:latest", tar], { env: boxEnv });
      if (imp.failure) {
        const why = `mkroot import failed: ${imp.failure}`;
        log(`box: ${describeFailure(["mkroot", "import", "busybox:latest", tar], imp)}`);
        for (const r of boxRows) rows.push({ name: r, failed: why });
      } else {
        const argv = [boxBin, "run", "--rm", "--network", "none", "busybox", "true"];
        await bench(boxRows[0], () => argv, { env: boxEnv });
        if (nec) await bench(boxRows[1], () => argv, { env: envWithout("NODE_EXTRA_CA_CERTS", boxEnv) });
        else na(boxRows[1], "NODE_EXTRA_CA_CERTS is not set here; same as the row above");
        // The default bridge network, on a bridge and nft table of the bench's own.
        const bridgeEnv = { ...boxEnv, BOX_BRIDGE_PREFIX: "bxbench", BOX_NFT_TABLE: "box-bench" };
        cleanups.push(() => {
          spawnSync(join(repo, "packages", "netns-bridge", "bin", "netns-bridge"), ["network", "rm", "box0"], { env: bridgeEnv, stdio: "ignore" });
          spawnSync("nft", ["delete", "table", "ip", "box-bench"], { stdio: "ignore" });
        });
        await bench("box run --rm busybox true (bridge)", () => [boxBin, "run", "--rm", "busybox", "true"], { env: bridgeEnv });
        await benchDetached(boxBin, boxEnv);
      }
    }

    // ---- ns-exec ----
    const nsRows = ["ns-exec --pid --mount --uts --ipc --net", "ns-exec ... (NODE_EXTRA_CA_CERTS unset)"];
    if (!existsSync(join(repo, "packages", "ns-exec", "dist", "bin.js"))) {
      for (const r of nsRows) na(r, "packages/ns-exec is not built: pnpm build");
    } else {
      const argv = [join(repo, "packages", "ns-exec", "bin", "ns-exec"), "--pid", "--mount", "--uts", "--ipc", "--net", "--root", rootfs, "--", "/bin/true"];
      await bench(nsRows[0], () => argv);
      if (nec) await bench(nsRows[1], () => argv, { env: envUnset });
      else na(nsRows[1], "NODE_EXTRA_CA_CERTS is not set here; same as the row above");
    }

    // ---- runc and crun, one OCI bundle ----
    const runc = which("runc");
    const crun = which("crun");
    if (!runc) na("runc run", "runc is not installed: apt-get install runc");
    if (!crun) na("crun run", "crun is not installed: apt-get install crun");
    if (runc || crun) {
      const spec = exec([runc ?? crun, "spec"], { cwd: bundle });
      if (spec.failure) {
        const why = `${runc ? "runc" : "crun"} spec failed: ${spec.failure}`;
        log(describeFailure([runc ?? crun, "spec"], spec));
        if (runc) rows.push({ name: "runc run", failed: why });
        if (crun) rows.push({ name: "crun run", failed: why });
      } else {
        const cfgPath = join(bundle, "config.json");
        const cfg = JSON.parse(readFileSync(cfgPath, "utf8"));
        cfg.process.terminal = false;
        cfg.process.args = ["/bin/true"];
        cfg.root.readonly = false;
        writeFileSync(cfgPath, `${JSON.stringify(cfg, null, 2)}\n`);
        let seq = 0;
        for (const [name, bin] of [["runc run", runc], ["crun run", crun]]) {
          if (!bin) continue;
          const rt = bin.split("/").pop();
          cleanups.push(() => removeContainers(bin));
          const ids = [];
          // runc is the baseline; crun is a peer worth seeing but known to refuse some hosts
          // (crun 1.8 rejects cgroup v1 "hybrid" hosts with controllers left in the v2 tree).
          await bench(name, () => {
            const id = `${ID_PREFIX}${rt}-${seq++}`;
            ids.push(id);
            return [bin, "run", "-b", bundle, id];
          }, {
            // A failed run can leave its container created; remove it so the next id starts clean.
            after: (_i, r) => {
              if (r.failure) spawnSync(bin, ["delete", "-f", ids[ids.length - 1]], { stdio: "ignore" });
            },
            failAsNa: name.startsWith("crun"),
          });
        }
      }
    }

    // ---- podman ----
    const podman = which("podman");
    if (!podman) na("podman --runtime runc run --rm", "podman is not installed: apt-get install podman");
    else if (!runc) na("podman --runtime runc run --rm", "runc is not installed");
    else {
      cleanups.push(() => {
        if (podmanImported) spawnSync(podman, ["rmi", "-f", PODMAN_IMAGE], { stdio: "ignore" });
      });
      // podman's default network has netavark add iptables-nft tables (ip nat, ip filter) and
      // leave them behind, empty: the ones this bench brought into being go with it.
      const tablesBefore = nftTables();
      cleanups.push(() => {
        for (const t of nftTables()) {
          if (tablesBefore.includes(t)) continue;
          const body = spawnSync("nft", ["list", "table", ...t.split(" ")], { encoding: "utf8" }).stdout ?? "";
          if (/NETAVARK/.test(body)) spawnSync("nft", ["delete", "table", ...t.split(" ")], { stdio: "ignore" });
        }
      });
      const imp = exec([podman, "import", "--quiet", tar, PODMAN_IMAGE]);
      if (imp.failure) {
        log(`podman: ${describeFailure(["podman", "import", tar, PODMAN_IMAGE], imp)}`);
        rows.push({ name: "podman --runtime runc run --rm", failed: `podman import failed: ${imp.failure}` });
      } else {
        podmanImported = true;
        await bench("podman --runtime runc run --rm", () => [
          podman, "--runtime", runc, "run", "--rm", "--network", "none",
          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", PODMAN_IMAGE, "true",
        ]);
        // podman's default network, to set against box's bridge row.
        await bench("podman --runtime runc run --rm (default network)", () => [
          podman, "--runtime", runc, "run", "--rm",
          "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", PODMAN_IMAGE, "true",
        ], { failAsNa: true });
      }
    }

    // ---- the kernel floor ----
    const unshare = which("unshare");
    const chroot = which("chroot");
    if (!unshare || !chroot) na("unshare + chroot (kernel floor)", "unshare or chroot missing: util-linux, coreutils");
    else await bench("unshare + chroot (kernel floor)", () => [unshare, "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", chroot, rootfs, "/bin/true"]);

    // ---- node's own start-up ----
    await bench(`node -e 0 (${nec ? "NODE_EXTRA_CA_CERTS set" : "NODE_EXTRA_CA_CERTS not set"})`, () => [node, "-e", "0"]);
    if (nec) await bench("node -e 0 (NODE_EXTRA_CA_CERTS unset)", () => [node, "-e", "0"], { env: envUnset });
    else na("node -e 0 (NODE_EXTRA_CA_CERTS unset)", "not set here; same as the row above");

    // ---- report ----
    const find = (prefix) => rows.find((r) => r.name.startsWith(prefix));
    const runcRow = find("runc run");
    const podmanRow = find("podman ");
    console.log("");
    printTable(runcRow, podmanRow);
    console.log("");
    console.log("targets (median against median):");
    target("ns-exec <= 3x runc", find("ns-exec --pid"), runcRow, 3);
    target("box run <= 5x runc", find("box run --rm"), runcRow, 5);
    target("box run <= 0.5x podman", find("box run --rm"), podmanRow, 0.5);
    const bridge = find("box run --rm busybox true (bridge)");
    const none = find("box run --rm --network none");
    if (bridge?.median !== undefined && none?.median !== undefined)
      console.log(`  bridge setup adds ${(bridge.median - none.median).toFixed(1)} ms to a run (target <= 15 ms)`);
    // The same targets without the CA bundle, which node parses at every start when it is set.
    if (nec) {
      console.log("  with NODE_EXTRA_CA_CERTS unset:");
      target("ns-exec <= 3x runc", find("ns-exec ..."), runcRow, 3, "    ");
      target("box run <= 5x runc", find("box run ..."), runcRow, 5, "    ");
      target("box run <= 0.5x podman", find("box run ..."), podmanRow, 0.5, "    ");
    }
  } finally {
    for (const c of cleanups.reverse()) {
      try {
        c();
      } catch (e) {
        log(`cleanup: ${e.message}`);
      }
    }
    try {
      unmountUnder(work);
      rmSync(work, { recursive: true, force: true });
    } catch (e) {
      log(`cleanup: remove ${work}: ${e.message}`);
    }
  }
}

// ---- detached containers: resident memory kept per container, and box ps ------------------------

/**
 * Start DETACHED containers with `box run -d`, sum the resident memory of every
 * process box keeps for them (their box-monitor; the containers' own processes
 * excluded), time `box ps` over them, and remove them all.
 */
async function benchDetached(boxBin, boxEnv, count = Number(process.env.BENCH_DETACHED ?? 20)) {
  const ids = [];
  try {
    for (let i = 0; i < count; i++) {
      const r = exec([boxBin, "run", "-d", "--network", "none", "busybox", "sleep", "600"], { env: boxEnv });
      if (r.failure) {
        log(`box run -d: ${describeFailure([boxBin, "run", "-d"], r)}`);
        rows.push({ name: "box-monitor RSS per container", failed: r.failure });
        return;
      }
      ids.push(r.stdout.trim());
    }
    let rssKb = 0;
    let monitors = 0;
    for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
      try {
        const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
        if (!cmd.includes("box-monitor") || !ids.some((id) => cmd.includes(id))) continue;
        const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
        if (m) {
          rssKb += Number(m[1]);
          monitors++;
        }
      } catch {
        // gone meanwhile
      }
    }
    console.log(`# ${count} detached containers: ${monitors} box-monitor processes, ${(rssKb / 1024).toFixed(1)} MB RSS in all, ${(rssKb / 1024 / count).toFixed(2)} MB per container (target <= 5 MB)`);
    await bench(`box ps (${count} running containers)`, () => [boxBin, "ps"], { env: boxEnv });
  } finally {
    if (ids.length) spawnSync(boxBin, ["rm", "-f", ...ids], { env: boxEnv, stdio: "ignore" });
  }
}

// `node bench.mjs pull` runs only the image pull section, `node bench.mjs build` only the build one.
const only = { pull: benchPull, build: benchBuild }[process.argv[2]];
(only ? only() : main().then(benchPull).then(benchBuild)).catch((e) => {
  log(e.message);
  process.exitCode = 1;
});

// ---- image pull: box vs skopeo copy + umoci unpack vs podman pull ----------------------------------

/**
 * Pull and unpack one multi-layer image (busybox plus three 20 MB layers of random bytes, so gzip
 * cannot shrink them: over 60 MB on the wire) from a docker-registry on 127.0.0.1, once per tool,
 * each into an empty store. Everything (registry, stores, the podman image) is removed after.
 */
async function benchPull() {
  const registryBin = which("docker-registry");
  const tools = { skopeo: which("skopeo"), umoci: which("umoci"), podman: which("podman") };
  console.log("");
  console.log("# image pull: one multi-layer image (> 60 MB) from docker-registry on 127.0.0.1, one run each");
  if (!registryBin) {
    console.log("  n/a: docker-registry is not installed");
    return;
  }
  const work = mkdtempSync(join(tmpdir(), "boxbench-pull-"));
  let registry;
  const podmanRef = [];
  try {
    const { spawn } = await import("node:child_process");
    const { createServer } = await import("node:net");
    const port = await new Promise((resolve, reject) => {
      const s = createServer();
      s.once("error", reject);
      s.listen(0, "127.0.0.1", () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    writeFileSync(
      join(work, "registry.yml"),
      `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(work, "registry")}\nhttp:\n  addr: 127.0.0.1:${port}\n`,
    );
    registry = spawn(registryBin, ["serve", join(work, "registry.yml")], { stdio: "ignore" });
    const ref = `127.0.0.1:${port}/bench/multi:1`;

    // The image: umoci builds an OCI layout layer by layer, skopeo pushes it.
    const tar = join(work, "busybox.tar");
    const steps = [
      [join(repo, "integration", "images", "busybox.sh"), tar],
      ["umoci", "init", "--layout", join(work, "src")],
      ["umoci", "new", "--image", `${join(work, "src")}:t`],
    ];
    for (let i = 0; i <= 3; i++) {
      const b = join(work, `bundle${i}`);
      steps.push(["umoci", "unpack", "--image", `${join(work, "src")}:t`, b]);
      if (i === 0) steps.push(["tar", "-xf", tar, "-C", join(b, "rootfs")]);
      else steps.push(["sh", "-c", `mkdir -p ${b}/rootfs/data${i} && for f in 1 2 3 4; do head -c 5M /dev/urandom > ${b}/rootfs/data${i}/r$f; done`]);
      steps.push(["umoci", "repack", "--history.created_by", `bench layer ${i}`, "--image", `${join(work, "src")}:t`, b]);
      steps.push(["rm", "-rf", b]);
    }
    steps.push(["umoci", "config", "--image", `${join(work, "src")}:t`, "--config.cmd", "sh"]);
    for (const argv of steps) {
      const r = exec(argv);
      if (r.failure) throw new Error(`build the bench image: ${describeFailure(argv, r)}`);
    }
    for (let i = 0; ; i++) {
      const r = exec(["skopeo", "copy", "--dest-tls-verify=false", `oci:${join(work, "src")}:t`, `docker://${ref}`]);
      if (!r.failure) break;
      if (i > 20) throw new Error(`push the bench image: ${describeFailure(["skopeo", "copy"], r)}`);
      await new Promise((res) => setTimeout(res, 250));
    }

    const results = [];
    const time = (name, argvs, env) => {
      let ms = 0;
      for (const argv of argvs) {
        const r = exec(argv, { env });
        ms += r.ms;
        if (r.failure) {
          log(`${name}: ${describeFailure(argv, r)}`);
          results.push({ name, failed: r.failure });
          return;
        }
      }
      results.push({ name, ms });
    };
    const boxBin = join(repo, "packages", "box", "bin", "box");
    if (!existsSync(join(repo, "packages", "box", "dist", "bin.js"))) results.push({ name: "box pull", failed: "packages/box is not built: pnpm build" });
    else time("box pull", [[boxBin, "pull", "-q", ref]], { ...process.env, BOX_ROOT: join(work, "box-root"), BOX_RUN: join(work, "box-run") });
    if (tools.skopeo && tools.umoci) {
      time("skopeo copy + umoci unpack", [
        ["skopeo", "copy", "--src-tls-verify=false", `docker://${ref}`, `oci:${join(work, "skopeo")}:t`],
        ["umoci", "unpack", "--image", `${join(work, "skopeo")}:t`, join(work, "umoci-bundle")],
      ]);
    } else results.push({ name: "skopeo copy + umoci unpack", failed: "skopeo or umoci is not installed" });
    if (tools.podman) {
      // podman pull into a private store, so the machine's images are left alone.
      const store = ["--root", join(work, "podman-root"), "--runroot", join(work, "podman-run"), "--storage-driver", "overlay"];
      podmanRef.push(store);
      time("podman pull", [["podman", ...store, "pull", "-q", "--tls-verify=false", ref]]);
    } else results.push({ name: "podman pull", failed: "podman is not installed" });

    const box = results.find((r) => r.name === "box pull");
    const w = Math.max(...results.map((r) => r.name.length));
    console.log(`${"name".padEnd(w)} |   wall ms | box is`);
    console.log(`${"-".repeat(w)}-|-----------|-------`);
    for (const r of results) {
      const ratio = r.ms !== undefined && box?.ms !== undefined && r !== box ? `${(r.ms / box.ms).toFixed(2)}x faster` : r === box ? "-" : "n/a";
      console.log(`${r.name.padEnd(w)} | ${(r.ms !== undefined ? r.ms.toFixed(0) : r.failed).padStart(9)} | ${ratio}`);
    }
    for (const other of results.filter((r) => r !== box)) {
      const verdict = box?.ms === undefined || other.ms === undefined ? "n/a" : box.ms < other.ms ? "PASS" : "MISS";
      console.log(`  box pull faster than ${other.name}: ${verdict}`);
    }
  } finally {
    for (const store of podmanRef) {
      spawnSync("podman", [...store, "rmi", "-a", "-f"], { stdio: "ignore" });
      spawnSync("podman", [...store, "system", "reset", "-f"], { stdio: "ignore" });
    }
    if (registry && registry.exitCode === null) {
      const gone = new Promise((r) => registry.once("exit", r));
      registry.kill("SIGKILL");
      await gone;
    }
    unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- image build: box build vs buildah bud ---------------------------------------------------------

/**
 * Build one Dockerfile (FROM busybox, a RUN, COPY of a few files, ENV, CMD) with box build and with
 * buildah bud --layers, cold (--no-cache) and then fully cached, one run each. Each tool has a store
 * of its own that holds busybox beforehand, untimed: box imports the rootfs, buildah pulls the
 * docker-archive that `box save` writes (no registry), and box's BOX_RUN has its compiled seccomp
 * profile, as after any `box run`. RUN steps get no network in either, so
 * buildah makes no netns, netavark or firewall state. Everything is removed after.
 */
async function benchBuild() {
  const dockerfile = `FROM busybox
RUN echo built > /built.txt && mkdir -p /app/cache && echo warm > /app/cache/state
COPY a.txt b.txt c.txt /app/
COPY lib /app/lib
ENV APP=/app GREETING=hello
CMD ["cat", "/built.txt"]
`;
  console.log("");
  console.log("# image build: FROM busybox, RUN, COPY of 8 files, ENV, CMD; cold (--no-cache), then fully cached; one run each");
  const boxBin = join(repo, "packages", "box", "bin", "box");
  const mkrootBin = join(repo, "packages", "mkroot", "bin", "mkroot");
  if (!existsSync(join(repo, "packages", "box", "dist", "bin.js")) || !existsSync(join(repo, "packages", "mkroot", "dist", "bin.js"))) {
    console.log("  n/a: packages/box or packages/mkroot is not built: pnpm build");
    return;
  }
  const buildah = which("buildah");
  const runc = which("runc");
  const work = mkdtempSync(join(tmpdir(), "boxbench-build-"));
  const boxEnv = { ...process.env, BOX_ROOT: join(work, "box-root"), BOX_RUN: join(work, "box-run") };
  const bh = ["--root", join(work, "buildah-root"), "--runroot", join(work, "buildah-run"), "--storage-driver", "overlay"];
  const nftTables = () => new Set((spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout ?? "").split("\n").filter(Boolean));
  const tablesBefore = nftTables();
  let buildahUsed = false;
  const results = [];
  try {
    const ctx = join(work, "context");
    mkdirSync(join(ctx, "lib"), { recursive: true });
    writeFileSync(join(ctx, "Dockerfile"), dockerfile);
    for (const f of ["a", "b", "c"]) writeFileSync(join(ctx, `${f}.txt`), `${f}\n`);
    for (let i = 1; i <= 5; i++) writeFileSync(join(ctx, "lib", `f${i}`), Buffer.alloc(64 << 10, i));
    const tar = join(work, "busybox.tar");
    const setup = [
      [[join(repo, "integration", "images", "busybox.sh"), tar]],
      [[mkrootBin, "import", "--change", 'CMD ["sh"]', "busybox:latest", tar], boxEnv],
      [[boxBin, "save", "-o", join(work, "busybox-save.tar"), "busybox:latest"], boxEnv],
      // Compiles the seccomp profile into BOX_RUN once, as any box run since boot has done.
      [[boxBin, "run", "--rm", "--network", "none", "busybox", "true"], boxEnv],
    ];
    for (const [argv, env] of setup) {
      const r = exec(argv, { env });
      if (r.failure) throw new Error(`build bench setup: ${describeFailure(argv, r)}`);
    }

    /** Time the cold build then the cached one; `cachedOk` checks that the second built nothing. */
    const time = (name, argvFor, env, cachedOk) => {
      const row = { name };
      for (const phase of ["cold", "cached"]) {
        const argv = argvFor(phase === "cold");
        const r = exec(argv, { env });
        if (r.failure) {
          log(`${name} (${phase}): ${describeFailure(argv, r)}`);
          row.failed = `${phase}: ${r.failure}`;
          break;
        }
        if (phase === "cached" && !cachedOk(`${r.stdout}${r.stderr}`)) {
          log(`${name}: the second build was not all from cache:\n${r.stderr}${r.stdout}`);
          row.failed = "cached: not all steps came from the cache";
          break;
        }
        row[phase] = r.ms;
      }
      results.push(row);
    };
    // Three steps make layers (RUN, COPY, COPY): all three CACHED the second time.
    time("box build", (cold) => [boxBin, "build", "--progress", "plain", ...(cold ? ["--no-cache"] : []), "-t", "bench-build:1", ctx], boxEnv,
      (out) => (out.match(/^#\d+ CACHED$/gm) ?? []).length === 3);

    if (!buildah) results.push({ name: "buildah bud --layers", failed: "buildah is not installed: apt-get install buildah" });
    else if (!runc) results.push({ name: "buildah bud --layers", failed: "runc is not installed" });
    else {
      buildahUsed = true;
      const pull = [buildah, ...bh, "pull", "-q", `docker-archive:${join(work, "busybox-save.tar")}`];
      const r = exec(pull);
      if (r.failure) {
        log(`buildah: ${describeFailure(pull, r)}`);
        results.push({ name: "buildah bud --layers", failed: `buildah pull docker-archive failed: ${r.failure}` });
      } else {
        // runc, as the other rows: Debian's crun refuses this host's hybrid cgroups.
        time("buildah bud --layers", (cold) => [
          buildah, ...bh, "bud", "--runtime", runc, "--isolation", "oci", "--layers", ...(cold ? ["--no-cache"] : []),
          "--pull-never", "--network", "none", "-t", "bench-build:1", ctx,
        ], process.env, (out) => (out.match(/Using cache/g) ?? []).length >= 5);
      }
    }
  } finally {
    if (buildahUsed) {
      // buildah may leave working containers (and their overlay mounts) after a failed step.
      spawnSync(buildah, [...bh, "rm", "--all"], { stdio: "ignore" });
      spawnSync(buildah, [...bh, "rmi", "--all", "--force"], { stdio: "ignore" });
      for (const t of nftTables()) {
        if (tablesBefore.has(t) || !/netavark|cni/i.test(t)) continue;
        log(`removing ${t}, left by buildah`);
        spawnSync("nft", ["delete", ...t.split(" ").slice(1)], { stdio: "ignore" });
      }
    }
    unmountUnder(work);
    rmSync(work, { recursive: true, force: true });
  }

  const w = Math.max(4, ...results.map((r) => r.name.length));
  const cell = (x) => (x === undefined ? "-" : x.toFixed(0)).padStart(8);
  console.log(`${"name".padEnd(w)} |  cold ms | cached ms | vs box (cold, cached)`);
  console.log(`${"-".repeat(w)}-|----------|-----------|----------------------`);
  const box = results.find((r) => r.name === "box build");
  const vs = (r) => (r === box || r.failed || box?.failed ? "-" : `${(r.cold / box.cold).toFixed(2)}x, ${(r.cached / box.cached).toFixed(2)}x`);
  for (const r of results) console.log(`${r.name.padEnd(w)} | ${cell(r.cold)} | ${cell(r.cached).padStart(9)} | ${r.failed ? `failed: ${r.failed}` : vs(r)}`);
  const other = results.find((r) => r.name.startsWith("buildah"));
  let verdict;
  if (!box || box.failed) verdict = `n/a (box build: ${box?.failed ?? "not run"})`;
  else if (!other || other.failed) verdict = `n/a (buildah: ${other?.failed ?? "not run"})`;
  else {
    const c = box.cold / other.cold;
    const k = box.cached / other.cached;
    verdict = `${c < 1 && k < 1 ? "PASS" : "MISS"} (cold ${c.toFixed(2)}x, cached ${k.toFixed(2)}x of buildah)`;
  }
  console.log(`  ${"box build faster than buildah (cold and cached)".padEnd(34)} ${verdict}`);
}
