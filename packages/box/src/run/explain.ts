/**
 * `box run --explain`: the same container as a shell pipeline of the
 * separate tools. The ns-exec words come from the very config box would run.
 */
import { hostId, toArgv, type NsExecOptions } from "@box/ns-exec";
import type { BoxPaths } from "../paths.js";
import type { NetPlan } from "./spec.js";
import { cgroupPathOf } from "../container/cgroup.js";

export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** `netns-bridge create ...` for a bridge-mode container, the same endpoint box makes. */
function bridgeCreate(id: string, plan: NetPlan): string | undefined {
  if (plan.mode.kind !== "bridge") return undefined;
  const q = shellQuote;
  const a = ["netns-bridge", "create", id, "--network", plan.mode.network];
  if (plan.ip) a.push("--ip", plan.ip);
  for (const m of plan.publish) a.push("-p", `${m.hostIp}:${m.hostPort || ""}:${m.containerPort}/${m.proto}`);
  if (plan.hostname) a.push("--hostname", plan.hostname);
  // host-gateway is resolved by box from the network's gateway.
  for (const h of plan.extraHosts) a.push("--add-host", `${h.host}:${h.ip}`);
  for (const al of plan.aliases) a.push("--alias", al);
  return `${a.map(q).join(" ")} >/dev/null || exit 125`;
}

/** cgset's flags carry Docker's names, so box run's resource flags pass through as given. */
function cgsetLimits(resources: Record<string, string | string[]>): string[] {
  return Object.entries(resources).flatMap(([k, v]) => (Array.isArray(v) ? v : [v]).map((x) => `--${k}=${x}`));
}

export function explain(paths: BoxPaths, id: string, image: string, o: NsExecOptions, plan?: NetPlan, resources: Record<string, string | string[]> = {}, cgroupParent?: string): string {
  const c = `${paths.root}/containers/${id}`;
  const q = shellQuote;
  const ns = toArgv({ ...o, dieWithParent: false }).map(q).join(" ");
  const net = plan ? bridgeCreate(id, plan) : undefined;
  const cg = cgroupPathOf(id, cgroupParent);
  const remap = o.unshare.user ? remapLines(o) : undefined;
  return [
    `# box run, step by step (container ${id.slice(0, 12)})`,
    `export BOX_ROOT=${q(paths.root)}`,
    `c=${q(c)}`,
    `mkdir -p "$c/upper" "$c/work" "$c/rootfs"`,
    ...(remap ?? []),
    `mkroot layers ${q(image)} | ovl-mount ${remap ? '--idmap "/proc/$u/ns/user" ' : ""}--upper "$c/upper" --work "$c/work" --target "$c/rootfs" - >/dev/null`,
    ...(remap ? ['kill "$u"'] : []),
    ...(net ? [net] : []),
    `cgset create ${[...cgsetLimits(resources), "--devices", "default", cg].map(q).join(" ")} >/dev/null || exit 125`,
    `cgset run ${cg} -- ns-exec ${ns.replace(q(`${c}/rootfs`), '"$c/rootfs"')}${o.stdin ? "" : " </dev/null"}`,
    `rc=$?`,
    `cgset rm --force ${cgroupParent ? "" : "--parents "}${cg}`,
    ...(net ? [`netns-bridge rm ${id} >/dev/null`] : []),
    `ovl-mount --umount "$c/rootfs"`,
    `rm -rf "$c"`,
    `exit $rc`,
    "",
  ].join("\n");
}

/**
 * --userns-remap: a user namespace that only holds the maps, for the
 * idmapped layers (box makes it with ns-init; util-linux's unshare does here),
 * and the upper directory owned by the container's root.
 */
function remapLines(o: NsExecOptions): string[] {
  const fmt = (m: NsExecOptions["uidMap"]) => m.map((x) => `${x.inside} ${x.outside} ${x.count}\\n`).join("");
  const gid = o.gidMap.length ? o.gidMap : o.uidMap;
  return [
    `unshare --user sleep infinity & u=$!; sleep 0.1`,
    `printf '${fmt(o.uidMap)}' > /proc/$u/uid_map; printf '${fmt(gid)}' > /proc/$u/gid_map`,
    `chown ${hostId(o.uidMap, 0)}:${hostId(gid, 0)} "$c/upper"`,
  ];
}
