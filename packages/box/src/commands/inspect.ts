/** box inspect [-f TEMPLATE] CONTAINER...: Docker-shaped JSON, an array of one object per container. */
import { join } from "node:path";
import { parseArgs, str, UsageError, describeChain } from "@box/cli";
import type { BoxPaths } from "../paths.js";
import { boxPaths, containerDir } from "../paths.js";
import { volumeData } from "../container/volumes.js";
import { getContainer, type Ctr } from "../container/ops.js";
import { parseVolume } from "../run/spec.js";
import { stateWord } from "./ps.js";
import { renderTemplate } from "../template.js";
import { endpointsById, portsObject, type AttachmentView, type EndpointView } from "../run/endpoint.js";
import { loadSpec } from "../container/state.js";

/** Docker's name for the default network is "bridge". */
function networkName(mode: string): string {
  return mode === "box0" || mode === "default" ? "bridge" : mode;
}

function networkSettings(c: Ctr, ep: EndpointView | undefined, connected: string[]): Record<string, unknown> {
  const { rec, state: s } = c;
  const mode = rec.HostConfig.NetworkMode;
  const live = s.Running && ep !== undefined;
  const addrOf = (v: AttachmentView | undefined) => ({
    IPAddress: v?.ip ?? "",
    IPPrefixLen: v?.prefixLen ?? 0,
    Gateway: v?.gateway ?? "",
    MacAddress: v?.mac ?? "",
  });
  const addr = addrOf(live ? ep : undefined);
  const name = live ? networkName(ep.network) : networkName(mode);
  // The network it was run on first, then those of box network connect: live
  // ones with their addresses, recorded ones (a stopped container) without.
  const entry = (network: string, v: AttachmentView | undefined) => ({ NetworkID: v ? network : "", Aliases: v?.aliases.length ? v.aliases : null, ...addrOf(v) });
  const networks: Record<string, unknown> = { [name]: entry(live ? ep.network : mode, live ? ep : undefined) };
  for (const n of connected) networks[networkName(n)] = entry(n, live ? ep.attachments.find((a) => a.network === n) : undefined);
  return {
    Bridge: "",
    SandboxKey: s.Running ? `/proc/${s.Pid}/ns/net` : "",
    Ports: live ? portsObject(ep.publish) : {},
    ...addr,
    Networks: mode === "none" || mode === "host" || mode.startsWith("container:") ? { [mode]: { IPAddress: "", Gateway: "", MacAddress: "" } } : networks,
  };
}

/** The networks of box network connect, as recorded with the container's spec. */
function connectedOf(p: BoxPaths, id: string): string[] {
  try {
    return (loadSpec(p, id).net?.connected ?? []).map((x) => x.network);
  } catch {
    return [];
  }
}

export function inspectObject(c: Ctr, eps: Map<string, EndpointView> = endpointsById(), connected: string[] = []): Record<string, unknown> {
  const { rec, state: s } = c;
  return {
    Id: rec.Id,
    Created: rec.Created,
    Path: rec.Path,
    Args: rec.Args,
    State: {
      Status: stateWord(s),
      Running: s.Running,
      Paused: s.Paused,
      Restarting: s.Restarting,
      OOMKilled: s.OOMKilled,
      Dead: false,
      Pid: s.Running ? s.Pid : 0,
      ExitCode: s.ExitCode,
      Error: s.Error,
      StartedAt: s.StartedAt || "0001-01-01T00:00:00Z",
      FinishedAt: s.FinishedAt || "0001-01-01T00:00:00Z",
    },
    Image: rec.Image,
    LogPath: rec.LogPath ?? "",
    Name: rec.Name,
    RestartCount: s.RestartCount,
    Driver: "overlay2",
    HostConfig: {
      ...rec.HostConfig,
      RestartPolicy: rec.HostConfig.RestartPolicy ?? { Name: "no", MaximumRetryCount: 0 },
      LogConfig: rec.HostConfig.LogConfig ?? { Type: "json-file", Config: {} },
    },
    GraphDriver: { Name: "overlay2", Data: null as unknown },
    Mounts: rec.HostConfig.Binds.map((b) => {
      const v = parseVolume(b);
      if (v.volume) return { Type: "volume", Name: v.volume, Source: volumeData(boxPaths(), v.volume), Destination: v.target, Driver: "local", Mode: v.readonly ? "ro" : "", RW: !v.readonly, Propagation: "" };
      return { Type: "bind", Source: v.source, Destination: v.target, Mode: v.readonly ? "ro" : "", RW: !v.readonly, Propagation: "rprivate" };
    }),
    Config: { ...rec.Config, StopSignal: rec.StopSignal },
    NetworkSettings: networkSettings(c, eps.get(c.id), connected),
  };
}

export async function inspectCommand(p: BoxPaths, argv: string[]): Promise<number> {
  const a = parseArgs(argv, { string: ["format", "type"], boolean: ["size"], alias: { f: "format", s: "size" } });
  if (a.rest.length === 0) throw new UsageError('"box inspect" requires at least 1 argument');
  const type = str(a, "type");
  if (type !== undefined && type !== "container") throw new UsageError(`box inspect --type ${type}: only containers are supported`);
  const out: Record<string, unknown>[] = [];
  let code = 0;
  for (const ref of a.rest) {
    try {
      const c = getContainer(p, ref);
      const o = inspectObject(c, undefined, connectedOf(p, c.id));
      (o.GraphDriver as { Data: unknown }).Data = {
        UpperDir: join(containerDir(p, c.id), "upper"),
        WorkDir: join(containerDir(p, c.id), "work"),
        MergedDir: join(containerDir(p, c.id), "rootfs"),
      };
      out.push(o);
    } catch (e) {
      process.stderr.write(`box: Error: ${describeChain(e)}\n`);
      code = 1;
    }
  }
  const format = str(a, "format");
  if (format !== undefined) {
    for (const o of out) process.stdout.write(renderTemplate(format, o) + "\n");
  } else {
    process.stdout.write(JSON.stringify(out, null, 4) + "\n");
  }
  return code;
}
