#!/usr/bin/env node
// netns-bridge benchmark: createEndpoint+removeEndpoint in-process, and HTTP throughput of a
// busybox httpd over the bridge (netns to netns) vs over host loopback, fetched by busybox wget.
// Run as root after `pnpm build`: node integration/bench/netns-bridge.mjs [N]
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const base = mkdtempSync(join(tmpdir(), "nbbench-"));
process.env.BOX_ROOT = join(base, "root");
process.env.BOX_RUN = join(base, "run");
process.env.BOX_NFT_TABLE = `nbbench${process.pid}`;
process.env.BOX_BRIDGE_PREFIX = "nbb";
const { createEndpoint, removeEndpoint, createNetwork, removeNetwork } = await import("../../packages/netns-bridge/dist/index.js");
const N = Number(process.argv[2] ?? 50);
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const BB = process.env.BUSYBOX ?? "/bin/busybox";

let subnet;
for (let i = 0; i < 50 && !subnet; i++) {
  const s = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0/24`;
  if (!execFileSync("ip", ["-4", "route"], { encoding: "utf8" }).includes(s.split("/")[0].replace(/\.0$/, "."))) subnet = s;
}
createNetwork({ name: "bench", subnet });
const procs = [];
try {
  const create = [];
  const remove = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await createEndpoint({ name: `e${i}`, network: "bench" });
    const t1 = performance.now();
    removeEndpoint(`e${i}`);
    create.push(t1 - t0);
    remove.push(performance.now() - t1);
  }
  console.log(`createEndpoint  median ${median(create).toFixed(1)} ms  (n=${N})`);
  console.log(`removeEndpoint  median ${median(remove).toFixed(1)} ms  (n=${N})`);
  const tp = [];
  for (let i = 0; i < N; i++) {
    const t0 = performance.now();
    await createEndpoint({ name: `p${i}`, network: "bench", publish: [`${20000 + i}:80`] });
    tp.push(performance.now() - t0);
    removeEndpoint(`p${i}`);
  }
  console.log(`createEndpoint with -p  median ${median(tp).toFixed(1)} ms  (n=${N})`);

  // Throughput: a 256 MiB file in tmpfs, served by busybox httpd, fetched 3 times by busybox wget.
  const www = join("/dev/shm", `nbbench-${process.pid}`);
  mkdirSync(www);
  execFileSync("dd", ["if=/dev/zero", `of=${www}/big`, "bs=1M", "count=256", "status=none"]);
  const srv = await createEndpoint({ name: "srv", network: "bench" });
  const cli = await createEndpoint({ name: "cli", network: "bench" });
  const start = (args) => {
    const p = spawn(args[0], args.slice(1), { stdio: "ignore" });
    procs.push(p);
    return p;
  };
  start(["nsenter", `--net=${srv.netnsPath}`, BB, "httpd", "-f", "-p", "80", "-h", www]);
  start([BB, "httpd", "-f", "-p", "127.0.0.1:18777", "-h", www]);
  await new Promise((r) => setTimeout(r, 500));
  const fetch = (pre, url) => {
    const t0 = performance.now();
    execFileSync(pre[0] ?? BB, [...pre.slice(1), ...(pre.length ? [BB] : []), "wget", "-q", "-O", "/dev/null", url]);
    return 256 / ((performance.now() - t0) / 1000);
  };
  const runs = (pre, url) => median([0, 1, 2].map(() => fetch(pre, url)));
  const bridge = runs(["nsenter", `--net=${cli.netnsPath}`], `http://${srv.ip}:80/big`);
  const loop = runs([], "http://127.0.0.1:18777/big");
  console.log(`HTTP 256 MiB, busybox wget: bridge ${bridge.toFixed(0)} MiB/s, loopback ${loop.toFixed(0)} MiB/s (${((bridge / loop) * 100).toFixed(0)} %)`);
  rmSync(www, { recursive: true });
} finally {
  for (const p of procs) if (p.pid) process.kill(p.pid, "SIGKILL");
  await new Promise((r) => setTimeout(r, 100));
  for (const n of ["srv", "cli"]) removeEndpoint(n);
  removeNetwork("bench");
  rmSync(base, { recursive: true, force: true });
}
