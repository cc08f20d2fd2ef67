/**
 * `box build`: a Dockerfile's stages, step by step, into the image store.
 *
 * Each RUN runs in a sandbox (sandbox.ts) over the stage's layers and a fresh upper dir; COPY,
 * ADD and WORKDIR write into an overlay of the stage mounted on the host for the length of the
 * step (unmounted in `finally`). Either way the upper dir becomes one layer through ovl-mount's
 * writeDiff and mkroot's addLayer, and the image is made at the end by mkroot's Store.commit, so
 * a failed build leaves no image, no mount and no scratch directory: only the cache of the
 * steps that succeeded.
 *
 * The cache: a step's key is sha256 of the previous step's key and what the step does (its
 * history text, which holds expanded values, build args in scope and, for COPY/ADD, a hash of
 * the files' names, modes and contents, or of what a URL served; for RUN, its mounts and the
 * files a bind mount shows). $BOX_ROOT/builder/cache/KEY.json keeps the layer it made and when;
 * a hit whose layer is still stored is reused (CACHED). RUN --mount=type=cache dirs live in
 * $BOX_ROOT/builder/cache/mounts, so `box builder prune` removes them with the records.
 */
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, unlinkSync, writeFileSync, createWriteStream, openSync, readSync, closeSync, utimesSync } from "node:fs";
import { basename, dirname, join, posix, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { Readable } from "node:stream";
import { ExitError } from "@box/cli";
import { NoSuchImageError, Store, unpackLayer, type CommitLayer, type HealthConfig, type ImageConfig } from "@box/mkroot";
import { mountOverlay, umountOverlay } from "@box/ovl-mount";
import { resolveIdentity, type BindMount, type TmpfsMount } from "@box/ns-exec";
import { DockerfileError, execForm, keyValues, parseDockerfile, parseTrigger, processWord, processWords, type Dockerfile, type Instruction } from "./dockerfile.js";
import { IgnoreMatcher } from "./ignore.js";
import { copyEntry, findSources, hashSources, lstatOrNull, resolveInRoot, type Source } from "./files.js";
import { Progress, type ProgressMode, type Step } from "./progress.js";
import { startStep, type RunningStep } from "./sandbox.js";
import { remapSetting, resolveRemap, type Remap } from "../run/remap.js";
import type { IdMap } from "@box/ns-exec";
import { sourceDateEpoch, storeUpper } from "./layer.js";
import { parseMount, pathChain, pruneMountStubs, type RunMount } from "./mounts.js";
import { cacheMountDir } from "./cachemount.js";

export interface BuildOptions {
  context: string;
  /** Path of the Dockerfile; default CONTEXT/Dockerfile. */
  file?: string;
  tags: string[];
  buildArgs: Map<string, string>;
  target?: string;
  noCache: boolean;
  pull: boolean;
  progress: ProgressMode;
  network: "none" | "host";
}

const DEFAULT_SHELL = ["/bin/sh", "-c"];
const NOP = "/bin/sh -c #(nop) ";

interface Stage {
  index: number;
  name?: string;
  from: Instruction;
  body: Instruction[];
}

interface State {
  /** The image this stage's chain starts from (null: scratch). */
  parentId: string | null;
  /** Its layer dirs, top first. */
  baseDirs: string[];
  /** The layers and history made since. */
  steps: CommitLayer[];
  newDirs: string[];
  config: ImageConfig;
  key: string;
  /** ARGs declared in this stage: name -> value (undefined: declared without one). */
  args: Map<string, string | undefined>;
  cmdSet: boolean;
  lastCreated?: string;
}

interface Download {
  url: string;
  path: string;
  /** The file's name in a directory destination: the URL's last path element. */
  name: string;
  digest: string;
  /** From Last-Modified. */
  mtime?: Date;
}

interface CacheRecord {
  diffId: string | null;
  created: string;
}

/** A failure of one step: the message names file and line. */
class StepError extends ExitError {
  constructor(df: Dockerfile, ins: Instruction, message: string, cause?: unknown) {
    super(`${df.file}:${ins.line}: ${ins.original.split("\n")[0]}: ${message}`, 1, cause !== undefined ? { cause } : undefined);
  }
}

function sha(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

function dirsOf(s: State): string[] {
  return [...s.newDirs, ...s.baseDirs];
}

function envLookup(s: State, extra?: Map<string, string | undefined>): (name: string) => string | undefined {
  return (name) => {
    for (const e of s.config.Env ?? []) {
      const i = e.indexOf("=");
      if (e.slice(0, i) === name) return e.slice(i + 1);
    }
    if (s.args.has(name)) return s.args.get(name);
    return extra?.get(name);
  };
}

function setEnv(c: ImageConfig, k: string, v: string): void {
  const env = [...(c.Env ?? [])];
  const i = env.findIndex((e) => e.slice(0, e.indexOf("=")) === k);
  if (i >= 0) env[i] = `${k}=${v}`;
  else env.push(`${k}=${v}`);
  c.Env = env;
}

/** Go's time.ParseDuration for HEALTHCHECK flags, in nanoseconds. */
function duration(s: string): number {
  const units: Record<string, number> = { ns: 1, us: 1e3, "µs": 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/y;
  let pos = 0;
  while (pos < s.length) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (!m) throw new Error(`invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * (units[m[2] as string] as number);
    pos = re.lastIndex;
  }
  if (s === "") throw new Error("invalid duration \"\"");
  return Math.round(total);
}

function isoOf(epoch: number | undefined): string | undefined {
  return epoch !== undefined ? new Date(epoch * 1000).toISOString() : undefined;
}

export class Builder {
  private readonly store: Store;
  private readonly cacheDir: string;
  private readonly tmpRoot: string;
  private df!: Dockerfile;
  private ignore!: IgnoreMatcher;
  private progress!: Progress;
  private readonly epoch: number | undefined;
  /** BOX_USERNS_REMAP: RUN steps run as the remapped root, as dockerd's builder does. */
  private readonly remap: Remap | undefined;
  private readonly globalArgs = new Map<string, string | undefined>();
  private readonly usedArgs = new Set<string>();
  private readonly stageStates = new Map<number, State>();
  private readonly mounts: string[] = [];
  private running: RunningStep | undefined;
  private interrupted = false;
  private stageCount = 0;

  constructor(
    private readonly boxRoot: string,
    private readonly o: BuildOptions,
  ) {
    this.store = new Store(boxRoot);
    this.cacheDir = join(boxRoot, "builder", "cache");
    this.tmpRoot = join(boxRoot, "builder", "tmp", `${process.pid}-${randomBytes(6).toString("hex")}`);
    this.epoch = sourceDateEpoch();
    const remapWith = remapSetting(undefined, undefined);
    this.remap = remapWith !== undefined ? resolveRemap(remapWith, boxRoot) : undefined;
  }

  /** Build; resolves to the image ID. */
  async build(): Promise<string> {
    const contextDir = resolve(this.o.context);
    const st = lstatOrNull(contextDir);
    if (st === null || !st.isDirectory()) throw new ExitError(`unable to prepare context: path ${JSON.stringify(this.o.context)} not found`, 1);
    const file = this.o.file !== undefined ? resolve(this.o.file) : join(contextDir, "Dockerfile");
    const fileName = this.o.file !== undefined ? basename(this.o.file) : "Dockerfile";
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new ExitError(`failed to read dockerfile: open ${file}: no such file or directory`, 1);
    }
    // Validate, then act: parse errors, stage references and base images, before anything is made.
    try {
      this.df = parseDockerfile(text, fileName);
    } catch (e) {
      if (e instanceof DockerfileError) throw new ExitError(e.message, 1);
      throw e;
    }
    const { stages, globals } = this.splitStages();
    for (const a of globals) this.declareArg(a, this.globalArgs, undefined);
    const target = this.targetStage(stages);
    this.checkMounts(stages);
    const needed = this.neededStages(stages, target);
    const ignoreFile = existsSync(`${file}.dockerignore`) ? `${file}.dockerignore` : join(contextDir, ".dockerignore");
    this.ignore = new IgnoreMatcher(existsSync(ignoreFile) ? readFileSync(ignoreFile, "utf8") : "");
    this.progress = new Progress(this.o.progress);
    this.stageCount = stages.length;

    const p1 = this.progress.step(`[internal] load build definition from ${fileName}`);
    p1.done([`transferring dockerfile: ${Buffer.byteLength(text)}B done`]);
    const p2 = this.progress.step("[internal] load .dockerignore");
    p2.done();
    await this.resolveBases(stages, needed);

    const onSignal = () => {
      this.interrupted = true;
      this.running?.kill();
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    let ok = false;
    try {
      mkdirSync(this.tmpRoot, { recursive: true, mode: 0o700 });
      for (const s of stages) {
        if (!needed.has(s.index)) continue;
        await this.runStage(s, stages, contextDir);
      }
      const final = this.stageStates.get(target.index) as State;
      const id = await this.export(final);
      ok = true;
      const unused = [...this.o.buildArgs.keys()].filter((k) => !this.usedArgs.has(k));
      if (unused.length) process.stderr.write(`[Warning] One or more build-args [${unused.join(" ")}] were not consumed\n`);
      return id;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      for (const m of this.mounts.splice(0).reverse()) {
        try {
          umountOverlay(m);
        } catch {
          // already gone
        }
      }
      rmSync(this.tmpRoot, { recursive: true, force: true });
      this.progress.end(ok);
    }
  }

  // ---- planning ---------------------------------------------------------------------------------

  private splitStages(): { stages: Stage[]; globals: Instruction[] } {
    const stages: Stage[] = [];
    const globals: Instruction[] = [];
    for (const ins of this.df.instructions) {
      if (ins.cmd === "FROM") {
        const words = ins.args.split(/\s+/);
        let name: string | undefined;
        if (words.length === 3 && words[1]?.toLowerCase() === "as") name = (words[2] as string).toLowerCase();
        else if (words.length !== 1) throw new ExitError(`${this.df.file}:${ins.line}: FROM requires either one or three arguments`, 1);
        if (name !== undefined && !/^[a-z][a-z0-9-_.]*$/.test(name)) throw new ExitError(`${this.df.file}:${ins.line}: invalid name for build stage: "${name}", name can't start with a number or contain symbols`, 1);
        if (name !== undefined && stages.some((s) => s.name === name)) throw new ExitError(`${this.df.file}:${ins.line}: duplicate stage name "${name}"`, 1);
        stages.push({ index: stages.length, ...(name !== undefined ? { name } : {}), from: ins, body: [] });
      } else if (stages.length === 0) {
        if (ins.cmd !== "ARG") throw new ExitError(`${this.df.file}:${ins.line}: no build stage in current context`, 1);
        globals.push(ins);
      } else {
        (stages[stages.length - 1] as Stage).body.push(ins);
      }
    }
    if (stages.length === 0) throw new ExitError(`${this.df.file}: the Dockerfile has no FROM instruction`, 1);
    return { stages, globals };
  }

  private targetStage(stages: Stage[]): Stage {
    if (this.o.target === undefined) return stages[stages.length - 1] as Stage;
    const t = stages.find((s) => s.name === this.o.target?.toLowerCase());
    if (!t) throw new ExitError(`failed to reach build target ${this.o.target} in Dockerfile`, 1);
    return t;
  }

  /** A stage named by --from or FROM: by name or index, among the stages before `before`. */
  private stageRef(stages: Stage[], ref: string, before: number): Stage | undefined {
    const r = ref.toLowerCase();
    return stages.find((s) => s.index < before && (s.name === r || String(s.index) === r));
  }

  /** The target and the stages it needs (FROM stage, COPY --from=stage), as BuildKit builds only those. */
  private neededStages(stages: Stage[], target: Stage): Set<number> {
    const need = new Set<number>();
    const visit = (s: Stage) => {
      if (need.has(s.index)) return;
      need.add(s.index);
      const base = this.stageRef(stages, this.fromRef(s), s.index);
      if (base) visit(base);
      for (const ins of s.body) {
        for (const from of this.fromRefs(ins)) {
          const dep = this.stageRef(stages, from, s.index);
          if (dep) visit(dep);
          else if (stages.some((x) => x.name === from.toLowerCase())) throw new ExitError(`${this.df.file}:${ins.line}: ${ins.cmd} --${ins.cmd === "RUN" ? "mount=from" : "from"}=${from}: stage ${from} comes after this one (circular reference)`, 1);
        }
      }
    };
    visit(target);
    return need;
  }

  /** The stages or images an instruction reads from: COPY --from, RUN --mount=from=. */
  private fromRefs(ins: Instruction): string[] {
    if (ins.cmd === "COPY") return ins.flags.get("from")?.slice(-1) ?? [];
    if (ins.cmd !== "RUN") return [];
    return (ins.flags.get("mount") ?? []).flatMap((m) => parseMount(m).from ?? []);
  }

  /** Validate, then act: every RUN --mount must read before the first step runs. */
  private checkMounts(stages: Stage[]): void {
    for (const ins of stages.flatMap((s) => s.body)) {
      if (ins.cmd !== "RUN") continue;
      for (const m of ins.flags.get("mount") ?? []) {
        try {
          parseMount(m);
        } catch (e) {
          throw new ExitError(`${this.df.file}:${ins.line}: RUN --mount=${m}: ${(e as Error).message}`, 1);
        }
      }
    }
  }

  private fromRef(s: Stage): string {
    const word = s.from.args.split(/\s+/)[0] as string;
    const lookup = (n: string) => {
      if (this.globalArgs.has(n)) this.usedArgs.add(n);
      return this.globalArgs.get(n);
    };
    try {
      return processWord(word, lookup, this.df.escape);
    } catch (e) {
      throw new ExitError(`${this.df.file}:${s.from.line}: ${(e as Error).message}`, 1);
    }
  }

  /** Every base image and --from image must be there (pulled if absent, or with --pull) before the first step. */
  private async resolveBases(stages: Stage[], needed: Set<number>): Promise<void> {
    const refs: Array<{ ref: string; ins: Instruction }> = [];
    for (const s of stages) {
      if (!needed.has(s.index)) continue;
      const ref = this.fromRef(s);
      if (ref === "" ) throw new ExitError(`${this.df.file}:${s.from.line}: base name (${s.from.args}) should not be blank`, 1);
      if (ref !== "scratch" && !this.stageRef(stages, ref, s.index)) refs.push({ ref, ins: s.from });
      for (const ins of s.body) {
        for (const from of this.fromRefs(ins)) if (!this.stageRef(stages, from, s.index)) refs.push({ ref: from, ins });
      }
    }
    for (const { ref, ins } of refs) {
      let have = true;
      try {
        await this.store.get(ref);
      } catch (e) {
        if (!(e instanceof NoSuchImageError)) throw new ExitError(`${this.df.file}:${ins.line}: ${ref}`, 1, { cause: e });
        have = false;
      }
      if (have && !this.o.pull) continue;
      const step = this.progress.step(`[internal] load metadata for ${ref}`);
      try {
        const r = await this.store.pull(ref);
        step.done([`resolve ${r.canonical}@${r.digest}${r.updated ? "" : " (up to date)"}`]);
      } catch (e) {
        step.error("pull failed");
        if (have) throw new ExitError(`${this.df.file}:${ins.line}: pull ${ref}`, 1, { cause: e });
        const what =
          ins.cmd === "FROM" ? `FROM ${ref}: no such image, and pulling it failed` : `${ins.cmd} --${ins.cmd === "RUN" ? "mount=from" : "from"}=${ref}: no build stage or image named ${ref}`;
        throw new ExitError(`${this.df.file}:${ins.line}: ${what}`, 1, { cause: e });
      }
    }
    // Validate, then act: a base image's triggers must parse before the first step runs.
    for (const { ref, ins } of refs) if (ins.cmd === "FROM") this.triggers((await this.store.get(ref)).config.config, ins);
  }

  /** A base image's ONBUILD triggers as instructions; errors name the FROM's line. */
  private triggers(config: ImageConfig, from: Instruction): Instruction[] {
    try {
      return (config.OnBuild ?? []).map((t) => parseTrigger(t, this.df.file, from.line));
    } catch (e) {
      if (e instanceof DockerfileError) throw new ExitError(e.message, 1);
      throw e;
    }
  }

  private declareArg(ins: Instruction, into: Map<string, string | undefined>, st: State | undefined): void {
    for (const w of ins.args.trim().split(/\s+(?=(?:[^"']|"[^"]*"|'[^']*')*$)/)) {
      const eq = w.indexOf("=");
      const name = eq < 0 ? w : w.slice(0, eq);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new ExitError(`${this.df.file}:${ins.line}: ARG names can not be blank or contain symbols: ${name}`, 1);
      let value: string | undefined;
      if (eq >= 0) {
        const lookup = st ? envLookup(st) : (n: string) => this.globalArgs.get(n);
        value = processWord(w.slice(eq + 1), lookup, this.df.escape);
      } else if (st !== undefined && this.globalArgs.has(name)) {
        // ARG NAME inside a stage takes the global ARG's value (Docker's scoping).
        value = this.globalArgs.get(name);
      }
      if (this.o.buildArgs.has(name)) {
        value = this.o.buildArgs.get(name);
        this.usedArgs.add(name);
      }
      into.set(name, value);
    }
  }

  // ---- stages and steps ------------------------------------------------------------------------

  private stageLabel(s: Stage, k: number, n: number): string {
    if (s.name !== undefined) return `[${s.name} ${k}/${n}]`;
    return this.stageCount > 1 ? `[stage-${s.index} ${k}/${n}]` : `[${k}/${n}]`;
  }

  private async runStage(s: Stage, stages: Stage[], contextDir: string): Promise<void> {
    const ref = this.fromRef(s);
    let state: State;
    const base = ref === "scratch" ? undefined : this.stageRef(stages, ref, s.index);
    if (ref === "scratch") {
      state = { parentId: null, baseDirs: [], steps: [], newDirs: [], config: {}, key: sha("scratch"), args: new Map(), cmdSet: false };
    } else if (base !== undefined) {
      const b = this.stageStates.get(base.index) as State;
      state = { ...b, steps: [...b.steps], newDirs: [...b.newDirs], config: structuredClone(b.config), args: new Map(), cmdSet: false };
    } else {
      const img = await this.store.get(ref);
      state = { parentId: img.id, baseDirs: img.layers, steps: [], newDirs: [], config: structuredClone(img.config.config), key: sha(`FROM ${img.id}`), args: new Map(), cmdSet: false };
    }
    // The base's ONBUILD triggers run first, as instructions of this stage; the image made here
    // does not inherit them (Docker).
    const triggers = this.triggers(state.config, s.from);
    delete state.config.OnBuild;
    const body = [...triggers, ...s.body];
    const fsSteps = body.filter((i) => ["RUN", "COPY", "ADD", "WORKDIR"].includes(i.cmd)).length + 1;
    let k = 1;
    const label = () => this.stageLabel(s, k, fsSteps);
    this.progress.step(`${label()} FROM ${ref}`).done();
    for (const ins of body) {
      const fs = ["RUN", "COPY", "ADD", "WORKDIR"].includes(ins.cmd);
      if (fs) k++;
      try {
        await this.step(s, stages, state, ins, fs ? label() : undefined, contextDir);
      } catch (e) {
        if (e instanceof ExitError && /^\S+:\d+: /.test(e.message)) throw e;
        throw new StepError(this.df, ins, e instanceof Error ? e.message : String(e), e instanceof Error ? e.cause : undefined);
      }
      if (this.interrupted) throw new ExitError("build interrupted", 130);
    }
    this.stageStates.set(s.index, state);
  }

  private created(cached?: CacheRecord): string {
    return isoOf(this.epoch) ?? cached?.created ?? new Date().toISOString();
  }

  private readCache(key: string): CacheRecord | undefined {
    if (this.o.noCache) return undefined;
    try {
      const r = JSON.parse(readFileSync(join(this.cacheDir, `${key}.json`), "utf8")) as CacheRecord;
      if (r.diffId !== null && !existsSync(this.store.layerDir(r.diffId))) return undefined;
      return r;
    } catch {
      return undefined;
    }
  }

  private writeCache(key: string, r: CacheRecord): void {
    mkdirSync(this.cacheDir, { recursive: true, mode: 0o700 });
    const tmp = join(this.cacheDir, `.${key}.${process.pid}`);
    writeFileSync(tmp, JSON.stringify(r));
    renameSync(tmp, join(this.cacheDir, `${key}.json`));
  }

  /** A metadata-only step: history without a layer; its key still chains. */
  private meta(state: State, createdBy: string): void {
    state.key = sha(`${state.key}\n${createdBy}`);
    const cached = this.readCache(state.key);
    const created = this.created(cached);
    if (!cached || cached.created !== created) this.writeCache(state.key, { diffId: null, created });
    state.steps.push({ emptyLayer: true, createdBy, created });
    state.lastCreated = created;
  }

  /** A step that makes a layer with `make` (given a fresh upper dir) unless the cache has it. */
  private async layered(state: State, createdBy: string, label: string, extraKey: string, make: (step: Step, dirs: { upper: string; work: string; target: string }) => Promise<void>, idmap?: { uid: IdMap[]; gid: IdMap[] }): Promise<void> {
    state.key = sha(`${state.key}\n${createdBy}\n${extraKey}`);
    const step = this.progress.step(label);
    const cached = this.readCache(state.key);
    if (cached) {
      step.cached();
      this.push(state, cached.diffId, createdBy, this.created(cached));
      return;
    }
    const work = join(this.tmpRoot, `step-${randomBytes(4).toString("hex")}`);
    mkdirSync(work);
    const dirs = { upper: join(work, "upper"), work: join(work, "work"), target: join(work, "rootfs") };
    for (const d of Object.values(dirs)) mkdirSync(d);
    try {
      try {
        await make(step, dirs);
      } catch (e) {
        step.error(e instanceof Error ? e.message : String(e));
        throw e;
      }
      let diffId: string | null = null;
      // A remapped RUN's upper holds host ids: the layer gets the container's.
      if (readdirSync(dirs.upper).length > 0) diffId = (await storeUpper(this.store, dirs.upper, this.epoch, idmap)).diffId;
      const created = this.created();
      this.writeCache(state.key, { diffId, created });
      this.push(state, diffId, createdBy, created);
      step.done();
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }

  private push(state: State, diffId: string | null, createdBy: string, created: string): void {
    if (diffId === null) state.steps.push({ emptyLayer: true, createdBy, created });
    else {
      state.steps.push({ diffId, createdBy, created });
      state.newDirs.unshift(this.store.layerDir(diffId));
    }
    state.lastCreated = created;
  }

  /** Mount the stage's overlay (plus `upper`) on `target` for `fn`; always unmounted after. */
  private async withMounted<T>(state: State, dirs: { upper: string; work: string; target: string }, fn: (root: string) => Promise<T> | T): Promise<T> {
    const lower = dirsOf(state);
    if (lower.length === 0) {
      const empty = join(dirname(dirs.upper), "empty");
      mkdirSync(empty, { recursive: true });
      lower.push(empty);
    }
    mountOverlay({ lower, upper: dirs.upper, work: dirs.work, target: dirs.target });
    this.mounts.push(dirs.target);
    try {
      return await fn(dirs.target);
    } finally {
      umountOverlay(dirs.target);
      this.mounts.splice(this.mounts.indexOf(dirs.target), 1);
    }
  }

  /** A read-only view of a stage's or image's root, for COPY --from. */
  private async withSourceRoot<T>(dirs: string[], fn: (root: string) => Promise<T> | T): Promise<T> {
    const target = join(this.tmpRoot, `from-${randomBytes(4).toString("hex")}`);
    mkdirSync(target);
    if (dirs.length === 0) return fn(target);
    mountOverlay({ lower: dirs, target, readonly: true });
    this.mounts.push(target);
    try {
      return await fn(target);
    } finally {
      umountOverlay(target);
      this.mounts.splice(this.mounts.indexOf(target), 1);
    }
  }

  private async step(s: Stage, stages: Stage[], state: State, ins: Instruction, label: string | undefined, contextDir: string): Promise<void> {
    const esc = this.df.escape;
    const lookup = envLookup(state);
    const words = () => processWords(ins.args, lookup, esc);
    const c = state.config;
    switch (ins.cmd) {
      case "ARG":
        this.declareArg(ins, state.args, state);
        return;
      case "ENV": {
        const pairs = keyValues(ins.args, lookup, esc, true);
        for (const [k, v] of pairs) setEnv(c, k, v);
        this.meta(state, `${NOP} ENV ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`);
        return;
      }
      case "LABEL": {
        const pairs = keyValues(ins.args, lookup, esc, true);
        c.Labels = { ...(c.Labels ?? {}) };
        for (const [k, v] of pairs) c.Labels[k] = v;
        this.meta(state, `${NOP} LABEL ${pairs.map(([k, v]) => `${k}=${v}`).join(" ")}`);
        return;
      }
      case "MAINTAINER":
        this.meta(state, `${NOP} MAINTAINER ${ins.args}`);
        return;
      case "CMD":
      case "ENTRYPOINT": {
        const exec = execForm(ins.args);
        const v = exec ?? [...(c.Shell ?? DEFAULT_SHELL), ins.args];
        if (ins.cmd === "CMD") {
          c.Cmd = v;
          state.cmdSet = true;
        } else {
          c.Entrypoint = v;
          // An ENTRYPOINT resets a CMD inherited from the base image (Docker's reference).
          if (!state.cmdSet) delete c.Cmd;
        }
        this.meta(state, `${NOP} ${ins.cmd} ${JSON.stringify(v)}`);
        return;
      }
      case "SHELL": {
        const exec = execForm(ins.args);
        if (!exec || exec.length === 0) throw new Error("SHELL requires the arguments to be in JSON form");
        c.Shell = exec;
        this.meta(state, `${NOP} SHELL ${JSON.stringify(exec)}`);
        return;
      }
      case "USER": {
        const w = words();
        if (w.length !== 1) throw new Error("USER requires exactly one argument");
        c.User = w[0] as string;
        this.meta(state, `${NOP} USER ${c.User}`);
        return;
      }
      case "EXPOSE": {
        c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
        const ports: string[] = [];
        for (const w of words()) {
          const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(w);
          if (!m) throw new Error(`invalid containerPort: ${w}`);
          for (let p = Number(m[1]); p <= Number(m[2] ?? m[1]); p++) {
            const key = `${p}/${(m[3] ?? "tcp").toLowerCase()}`;
            c.ExposedPorts[key] = {};
            ports.push(key);
          }
        }
        this.meta(state, `${NOP} EXPOSE ${ports.join(" ")}`);
        return;
      }
      case "VOLUME": {
        const list = execForm(ins.args) ?? words();
        c.Volumes = { ...(c.Volumes ?? {}) };
        for (const v of list) {
          if (v.trim() === "") throw new Error("VOLUME specified can not be an empty string");
          c.Volumes[v] = {};
        }
        this.meta(state, `${NOP} VOLUME ${JSON.stringify(list)}`);
        return;
      }
      case "STOPSIGNAL": {
        const w = words();
        if (w.length !== 1 || !/^(SIG)?[A-Z0-9+-]+$|^\d+$/i.test(w[0] as string)) throw new Error(`invalid signal: ${ins.args}`);
        c.StopSignal = w[0] as string;
        this.meta(state, `${NOP} STOPSIGNAL ${c.StopSignal}`);
        return;
      }
      case "HEALTHCHECK": {
        const rest = ins.args.trim();
        if (/^none$/i.test(rest)) {
          c.Healthcheck = { Test: ["NONE"] };
        } else {
          const m = /^CMD\s+([\s\S]+)$/i.exec(rest);
          if (!m) throw new Error("HEALTHCHECK requires NONE or CMD [OPTIONS] COMMAND");
          const cmd = m[1] as string;
          const exec = execForm(cmd);
          const h: HealthConfig = { Test: exec ? ["CMD", ...exec] : ["CMD-SHELL", cmd] };
          const f = (n: string) => ins.flags.get(n)?.at(-1);
          if (f("interval") !== undefined) h.Interval = duration(f("interval") as string);
          if (f("timeout") !== undefined) h.Timeout = duration(f("timeout") as string);
          if (f("start-period") !== undefined) h.StartPeriod = duration(f("start-period") as string);
          if (f("start-interval") !== undefined) h.StartInterval = duration(f("start-interval") as string);
          if (f("retries") !== undefined) {
            const r = Number(f("retries"));
            if (!Number.isInteger(r) || r < 0) throw new Error(`invalid --retries: ${f("retries")}`);
            h.Retries = r;
          }
          c.Healthcheck = h;
        }
        this.meta(state, `${NOP} HEALTHCHECK &${JSON.stringify(c.Healthcheck)}`);
        return;
      }
      case "ONBUILD": {
        // The trigger was checked by the parser (parseTrigger).
        c.OnBuild = [...(c.OnBuild ?? []), ins.args];
        this.meta(state, `${NOP} ONBUILD ${ins.args}`);
        return;
      }
      case "WORKDIR": {
        const w = processWord(ins.args.trim(), lookup, esc);
        const dir = posix.resolve(c.WorkingDir || "/", w);
        c.WorkingDir = dir;
        await this.layered(state, `${NOP}WORKDIR ${dir}`, `${label} WORKDIR ${dir}`, "", async (_step, dirs) => {
          if (this.existsInStage(state, dir)) return;
          await this.withMounted(state, dirs, (root) => {
            const at = resolveInRoot(root, dir, { mkdir: true });
            if (lstatOrNull(at) === null) mkdirSync(at, 0o755);
          });
        });
        return;
      }
      case "RUN":
        return this.run(s, stages, state, ins, label as string, contextDir);
      case "COPY":
      case "ADD":
        return this.copy(s, stages, state, ins, label as string, contextDir);
    }
    throw new Error(`unknown instruction: ${ins.cmd}`);
  }

  /** Whether `path` exists in the stage's layers (the topmost layer that has it decides). */
  private existsInStage(state: State, path: string): boolean {
    for (const d of dirsOf(state)) {
      const st = lstatOrNull(join(d, path));
      if (st === null) continue;
      return !(st.isCharacterDevice() && st.rdev === 0);
    }
    return false;
  }

  private async run(s: Stage, stages: Stage[], state: State, ins: Instruction, label: string, contextDir: string): Promise<void> {
    const lookup = envLookup(state);
    const mounts = (ins.flags.get("mount") ?? []).map((spec) => {
      try {
        return parseMount(processWord(spec, lookup, this.df.escape), state.config.WorkingDir || "/");
      } catch (e) {
        throw new Error(`--mount=${spec}: ${(e as Error).message}`);
      }
    });
    const mountKey = (await Promise.all(mounts.map((m) => this.mountKey(s, stages, m, contextDir)))).join("\n");
    const netFlag = ins.flags.get("network")?.at(-1);
    if (netFlag !== undefined && !["none", "host", "default"].includes(netFlag)) throw new Error(`RUN --network=${netFlag}: expected none, host or default`);
    const network = netFlag === "none" ? "none" : netFlag === "host" ? "host" : this.o.network;
    let command: string[];
    const exec = ins.heredocs.length === 0 ? execForm(ins.args) : undefined;
    const shell = state.config.Shell ?? DEFAULT_SHELL;
    if (exec) command = exec;
    else if (ins.heredocs.length === 1 && /^<<-?\s*["']?\w+["']?$/.test(ins.args.trim())) command = [...shell, (ins.heredocs[0]?.content ?? "")];
    else if (ins.heredocs.length > 0) command = [...shell, `${ins.args}\n${ins.heredocs.map((h) => `${h.content}${h.name}\n`).join("")}`];
    else command = [...shell, ins.args];
    // Build args in scope are the command's environment (ENV wins), and part of its history and key.
    const envNames = new Set((state.config.Env ?? []).map((e) => e.slice(0, e.indexOf("="))));
    const args = [...state.args.entries()].filter((e): e is [string, string] => e[1] !== undefined);
    const argEnv = args.filter(([k]) => !envNames.has(k)).map(([k, v]) => `${k}=${v}`);
    const prefix = args.length ? `|${args.length} ${args.map(([k, v]) => `${k}=${v}`).join(" ")} ` : "";
    const createdBy = `RUN ${prefix}${command.join(" ")}`;
    const display = `${label} RUN ${ins.original.replace(/^\S+\s+/, "").split("\n")[0]}`;
    await this.layered(state, createdBy, display, `network=${network}${mountKey ? `\n${mountKey}` : ""}`, async (step, dirs) => {
      const lower = dirsOf(state);
      if (lower.length === 0) {
        const empty = join(dirname(dirs.upper), "empty");
        mkdirSync(empty);
        lower.push(empty);
      }
      const targets = mounts.map((m) => m.target);
      const created = new Set(targets.flatMap(pathChain).filter((p) => !this.existsInStage(state, p)));
      const undo: Array<() => void> = [];
      try {
        const { binds, tmpfs } = await this.prepareMounts(s, stages, mounts, contextDir, dirname(dirs.upper), undo);
        const running = startStep(join(dirname(dirs.upper), "spec.json"), {
          command,
          env: [...(state.config.Env ?? []), ...argEnv],
          ...(state.config.User ? { user: state.config.User } : {}),
          cwd: state.config.WorkingDir || "/",
          network,
          lower,
          upper: dirs.upper,
          work: dirs.work,
          target: dirs.target,
          binds,
          tmpfs,
          ...(this.remap ? { remap: this.remap } : {}),
        }, (chunk) => step.log(chunk));
        this.running = running;
        let code: number;
        try {
          code = await running.done;
        } finally {
          this.running = undefined;
        }
        if (code !== 0) throw new ExitError(`process ${JSON.stringify(command.join(" "))} did not complete successfully: exit code: ${code}`, 1);
      } finally {
        for (const u of undo.reverse()) u();
      }
      pruneMountpoints(dirs.upper, dirsOf(state));
      if (targets.length > 0) pruneMountStubs(dirs.upper, created, targets, (p) => this.lowerStat(state, p));
        }, this.remap ? { uid: this.remap.uidMap, gid: this.remap.gidMap } : undefined);
  }

  /** The topmost layer's entry for `path` (null: absent or deleted). */
  private lowerStat(state: State, path: string): ReturnType<typeof lstatOrNull> {
    for (const d of dirsOf(state)) {
      const st = lstatOrNull(join(d, path));
      if (st === null) continue;
      return st.isCharacterDevice() && st.rdev === 0 ? null : st;
    }
    return null;
  }

  /** What a RUN's mounts add to its cache key: a bind's content (by the context's hash or the stage's key), a cache's name. */
  private async mountKey(s: Stage, stages: Stage[], m: RunMount, contextDir: string): Promise<string> {
    const common = `${m.type} target=${m.target} ro=${m.readonly}`;
    if (m.type === "cache") return `${common} id=${m.id ?? m.target}`;
    if (m.type === "tmpfs") return `${common} size=${m.size ?? ""}`;
    const source = m.source ?? "/";
    if (m.from === undefined) return `${common} context:${hashSources(findSources(contextDir, source, this.ignore), this.ignore)}`;
    const st = this.stageRef(stages, m.from, s.index);
    if (st) return `${common} stage:${(this.stageStates.get(st.index) as State).key}:${source}`;
    return `${common} image:${(await this.store.get(m.from)).id}:${source}`;
  }

  /**
   * The host side of a RUN's mounts, for one step: cache dirs (made on first use), bind sources
   * (the context, filtered by .dockerignore when it has patterns; a stage or image as a read-only
   * overlay; `rw` binds through a throwaway overlay). `undo` gets what unmounts them.
   */
  private async prepareMounts(s: Stage, stages: Stage[], mounts: RunMount[], contextDir: string, scratch: string, undo: Array<() => void>): Promise<{ binds: BindMount[]; tmpfs: TmpfsMount[] }> {
    const binds: BindMount[] = [];
    const tmpfs: TmpfsMount[] = [];
    const hostMount = (spec: Parameters<typeof mountOverlay>[0]) => {
      mountOverlay(spec);
      this.mounts.push(spec.target);
      undo.push(() => {
        umountOverlay(spec.target);
        this.mounts.splice(this.mounts.indexOf(spec.target), 1);
      });
    };
    let n = 0;
    for (const m of mounts) {
      const dir = join(scratch, `mount-${n++}`);
      if (m.type === "tmpfs") {
        tmpfs.push({ target: m.target, options: `mode=1777${m.size !== undefined ? `,size=${m.size}` : ""}` });
        continue;
      }
      if (m.type === "cache") {
        // Named by id (default the target): the same cache for every stage and build that names it.
        const cache = await cacheMountDir(join(this.cacheDir, "mounts", sha(m.id ?? m.target)), m, (release) => undo.push(release));
        binds.push({ source: cache, target: m.target, readonly: m.readonly });
        continue;
      }
      let root: string;
      if (m.from !== undefined) {
        const st = this.stageRef(stages, m.from, s.index);
        const layers = st ? dirsOf(this.stageStates.get(st.index) as State) : (await this.store.get(m.from)).layers;
        root = join(dir, "from");
        mkdirSync(root, { recursive: true });
        if (layers.length > 0) hostMount({ lower: layers, target: root, readonly: true });
      } else if (this.ignore.empty) {
        root = contextDir;
      } else {
        root = join(dir, "context");
        mkdirSync(root, { recursive: true });
        for (const name of readdirSync(contextDir).sort()) {
          const a = join(contextDir, name);
          const st = lstatSync(a);
          if (this.ignore.ignores(name) && !(st.isDirectory() && this.ignore.mayReinclude())) continue;
          copyEntry(a, st, join(root, name), { ignore: this.ignore, rel: name });
        }
      }
      const src = resolveInRoot(root, m.source ?? "/");
      const st = lstatOrNull(src);
      if (st === null) throw new Error(`--mount=type=bind: source "${m.source ?? "/"}" not found${m.from !== undefined ? ` in ${m.from}` : ""}`);
      if (m.readonly) {
        binds.push({ source: src, target: m.target, readonly: true });
      } else if (st.isDirectory()) {
        // rw: writes land in a scratch upper dir that goes with the step (BuildKit discards them).
        const rw = { lower: [src], upper: join(dir, "upper"), work: join(dir, "work"), target: join(dir, "rw") };
        for (const d of [rw.upper, rw.work, rw.target]) mkdirSync(d, { recursive: true });
        hostMount(rw);
        binds.push({ source: rw.target, target: m.target, readonly: false });
      } else {
        const copy = join(dir, "file");
        copyEntry(src, st, copy, {});
        binds.push({ source: copy, target: m.target, readonly: false });
      }
    }
    return { binds, tmpfs };
  }

  private async copy(s: Stage, stages: Stage[], state: State, ins: Instruction, label: string, contextDir: string): Promise<void> {
    const esc = this.df.escape;
    const lookup = envLookup(state);
    const add = ins.cmd === "ADD";
    const exec = execForm(ins.args);
    const operands = exec ? exec.map((w) => processWord(w, lookup, esc)) : processWords(ins.args, lookup, esc);
    if (operands.length < 2) throw new Error(`${ins.cmd} requires at least two arguments, but only one was provided. Destination could not be determined`);
    const destRaw = operands.pop() as string;
    const wd = state.config.WorkingDir || "/";
    const dest = posix.resolve(wd, destRaw) + (destRaw.endsWith("/") || destRaw === "." ? "/" : "");
    const fromRef = ins.flags.get("from")?.at(-1);
    const chown = ins.flags.get("chown")?.at(-1);
    const chmodFlag = ins.flags.get("chmod")?.at(-1);
    let mode: number | undefined;
    if (chmodFlag !== undefined) {
      if (!/^[0-7]{3,4}$/.test(chmodFlag)) throw new Error(`invalid chmod parameter: ${chmodFlag}`);
      mode = parseInt(chmodFlag, 8);
    }
    // Heredoc operands (`COPY <<EOF /dst`) are files written from the Dockerfile itself.
    const heredocs = new Map(ins.heredocs.map((h) => [h.name, h]));
    const inline: Array<{ name: string; content: string }> = [];
    const paths: string[] = [];
    for (const op of operands) {
      const h = /^<<-?["']?(\w+)["']?$/.exec(op);
      const doc = h ? heredocs.get(h[1] as string) : undefined;
      if (doc) inline.push({ name: doc.name, content: doc.expand ? processWord(doc.content.replace(/"/g, '\\"').replace(/'/g, "\\'"), lookup, esc) : doc.content });
      else paths.push(op);
    }
    const urls = add ? paths.filter((p) => /^https?:\/\//.test(p)) : [];
    const local = paths.filter((p) => !urls.includes(p));
    const checksum = ins.flags.get("checksum")?.at(-1);
    if (checksum !== undefined) {
      if (local.length > 0 || inline.length > 0 || urls.length !== 1) throw new Error("checksum can't be specified for multiple sources or non-HTTP(S) sources");
      if (!/^sha256:[0-9a-f]{64}$/.test(checksum)) throw new Error(`invalid checksum ${checksum}: expected sha256:<64 hex digits>`);
    }

    // Where the files come from: the context, another stage, or an image.
    let sourceDirs: string[] | undefined;
    let sourceKey = "";
    if (fromRef !== undefined) {
      const st = this.stageRef(stages, fromRef, s.index);
      if (st) {
        const ss = this.stageStates.get(st.index) as State;
        sourceDirs = dirsOf(ss);
        sourceKey = `stage:${ss.key}`;
      } else {
        const img = await this.store.get(fromRef);
        sourceDirs = img.layers;
        sourceKey = `image:${img.id}`;
      }
    }
    const kind = (srcs: Source[]) => (srcs.length + inline.length + urls.length !== 1 ? "multi" : srcs[0]?.st.isDirectory() ? "dir" : "file");
    const plan = (root: string, isContext: boolean) => {
      const srcs: Source[] = [];
      for (const p of local) srcs.push(...findSources(root, p, isContext ? this.ignore : undefined, isContext));
      const count = srcs.length + inline.length + urls.length;
      if (count > 1 && !dest.endsWith("/")) throw new Error(`When using ${ins.cmd} with more than one source file, the destination must be a directory and end with a /`);
      return srcs;
    };
    const run = async (srcRoot: string, isContext: boolean, downloads: Download[]) => {
      const srcs = plan(srcRoot, isContext);
      const hash = isContext ? hashSources(srcs, this.ignore) : sha(`${sourceKey}\n${local.join("\n")}`);
      const fetched = downloads.map((d) => [d.url, d.digest, d.mtime?.toISOString() ?? ""]);
      const extra = sha(JSON.stringify([hash, inline, fetched, chown ?? "", chmodFlag ?? ""]));
      const createdBy = `${NOP}${ins.cmd} ${kind(srcs)}:${extra} in ${dest.length > 1 ? dest.replace(/\/$/, "") : dest} `;
      const display = `${label} ${ins.cmd} ${ins.original.replace(/^\S+\s+/, "").split("\n")[0]}`;
      await this.layered(state, createdBy.trimEnd(), display, "", async (_step, dirs) => {
        await this.withMounted(state, dirs, async (root) => {
          const owner = chown !== undefined ? this.owner(root, chown) : ([0, 0] as [number, number]);
          const intoDir = dest.endsWith("/");
          const place = (name: string): string => {
            const destDirHost = resolveInRoot(root, dest, { mkdir: true });
            if (intoDir) {
              if (lstatOrNull(destDirHost) === null) mkdirSync(destDirHost, 0o755);
              return join(destDirHost, name);
            }
            const st = lstatOrNull(destDirHost);
            if (st?.isDirectory()) return join(destDirHost, name);
            return destDirHost;
          };
          for (const src of srcs) {
            if (add && src.st.isFile() && isArchive(src.abs)) {
              await this.extractInto(src.abs, resolveDir(root, dest), chown !== undefined ? owner : undefined);
              continue;
            }
            if (src.st.isDirectory()) {
              const d = resolveDir(root, dest);
              for (const n of readdirSync(src.abs).sort()) {
                const rel = src.rel ? `${src.rel}/${n}` : n;
                if (isContext && this.ignore.ignores(rel)) continue;
                const a = join(src.abs, n);
                copyEntry(a, lstatSync(a), join(d, n), { owner, ...(mode !== undefined ? { mode } : {}), ...(isContext ? { ignore: this.ignore, rel } : {}) });
              }
              continue;
            }
            copyEntry(src.abs, src.st, place(posix.basename(src.rel || "/")), { owner, ...(mode !== undefined ? { mode } : {}) });
          }
          for (const f of inline) {
            const tmp = join(dirname(dirs.upper), `heredoc-${f.name}`);
            writeFileSync(tmp, f.content, { mode: 0o644 });
            copyEntry(tmp, lstatSync(tmp), place(f.name), { owner, ...(mode !== undefined ? { mode } : {}) });
          }
          for (const d of downloads) copyEntry(d.path, lstatSync(d.path), place(d.name), { owner, mode: mode ?? 0o600 });
        });
      });
    };
    // URLs are fetched before the cache is asked: what they serve is part of the step's key.
    const downloads: Download[] = [];
    try {
      for (const u of urls) downloads.push(await this.download(u, checksum));
      if (sourceDirs !== undefined) await this.withSourceRoot(sourceDirs, (root) => run(root, false, downloads));
      else await run(contextDir, true, downloads);
    } finally {
      for (const d of downloads) rmSync(d.path, { force: true });
    }
  }

  /** --chown=USER[:GROUP], names looked up in the image's own /etc/passwd and /etc/group. */
  private owner(root: string, spec: string): [number, number] {
    const [u, g] = spec.split(":");
    const read = (p: string) => {
      try {
        return readFileSync(resolveInRoot(root, p), "utf8");
      } catch {
        return null;
      }
    };
    try {
      const id = resolveIdentity(u || "0", g, read("/etc/passwd"), read("/etc/group"));
      return [id.uid, g === undefined && !/^\d+$/.test(u ?? "") ? id.gid : id.gid];
    } catch (e) {
      throw new Error(`unable to convert uid/gid chown string to host mapping: ${(e as Error).message}`);
    }
  }

  /** ADD of a local tar: unpacked by mkroot's hardened extractor, then copied in keeping owners. */
  private async extractInto(archive: string, destDir: string, owner: [number, number] | undefined): Promise<void> {
    const stage = join(this.tmpRoot, `add-${randomBytes(4).toString("hex")}`);
    const out = join(stage, "x");
    mkdirSync(stage);
    try {
      await unpackLayer(createReadStream(archive), out, join(stage, "blob"), { sync: false });
      for (const n of readdirSync(out).sort()) copyEntry(join(out, n), lstatSync(join(out, n)), join(destDir, n), owner ? { owner } : {});
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }

  /**
   * ADD URL: fetched by box on the host (a RUN step's network does not apply), into the build's
   * scratch dir; the file gets Last-Modified as its mtime when the server sends one (Docker).
   */
  private async download(url: string, checksum: string | undefined): Promise<Download> {
    let name = posix.basename(new URL(url).pathname) || "index.html";
    const path = join(this.tmpRoot, `download-${randomBytes(4).toString("hex")}`);
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(30_000), redirect: "follow" });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new Error(`${url}: the URL is not reachable (${cause?.code ?? cause?.message ?? (e as Error).message})`);
    }
    if (!res.ok || res.body === null) throw new Error(`failed to GET ${url} with status ${res.status} ${res.statusText}`.trimEnd());
    // A redirect names the file after where it ended (Docker: the final URL's last path element).
    if (res.url && res.url !== url) name = posix.basename(new URL(res.url).pathname) || name;
    const h = createHash("sha256");
    const body = Readable.fromWeb(res.body as import("node:stream/web").ReadableStream);
    const hashed = async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        h.update(c);
        yield c;
      }
    };
    try {
      await pipeline(body, hashed, createWriteStream(path, { mode: 0o600 }));
    } catch (e) {
      throw new Error(`${url}: reading the response`, { cause: e });
    }
    const digest = `sha256:${h.digest("hex")}`;
    if (checksum !== undefined && checksum !== digest) throw new Error(`digest mismatch ${checksum}: ${digest}`);
    const lm = res.headers.get("last-modified");
    const when = lm !== null ? new Date(lm) : undefined;
    const mtime = when !== undefined && !Number.isNaN(when.getTime()) ? when : undefined;
    if (mtime !== undefined) utimesSync(path, mtime, mtime);
    return { url, path, name, digest, ...(mtime !== undefined ? { mtime } : {}) };
  }

  // ---- the image ---------------------------------------------------------------------------------

  private async export(final: State): Promise<string> {
    const step = this.progress.step("exporting to image");
    const created = isoOf(this.epoch) ?? final.lastCreated ?? new Date().toISOString();
    const img = await this.store.commit({ parent: final.parentId, layers: final.steps, config: final.config, tags: this.o.tags, created });
    step.done([`writing image ${img.id} done`, ...this.o.tags.map((t) => `naming to ${t} done`)]);
    return img.id;
  }
}

function resolveDir(root: string, dest: string): string {
  const d = resolveInRoot(root, dest, { mkdir: true });
  if (lstatOrNull(d) === null) mkdirSync(d, 0o755);
  return d;
}

/** gzip or a tar header: what ADD unpacks (xz and bzip2 are copied as they are). */
function isArchive(path: string): boolean {
  const fd = openSync(path, "r");
  try {
    const b = Buffer.alloc(512);
    const n = readSync(fd, b, 0, 512, 0);
    if (n >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    return n >= 262 && b.subarray(257, 262).toString("latin1") === "ustar";
  } finally {
    closeSync(fd);
  }
}

/**
 * ns-exec makes mount points in the root for what it mounts (/etc/hosts, /etc/resolv.conf,
 * /etc/hostname, /proc, /sys, /dev): empty ones that no lower layer has are not the step's work,
 * and stay out of its layer, as a container runtime's do out of `docker diff`.
 */
export function pruneMountpoints(upper: string, lowers: string[]): void {
  const inLowers = (rel: string) => lowers.some((l) => lstatOrNull(join(l, rel)) !== null);
  let touchedEtc = false;
  for (const f of ["etc/hosts", "etc/resolv.conf", "etc/hostname"]) {
    const st = lstatOrNull(join(upper, f));
    if (st?.isFile() && st.size === 0 && !inLowers(f)) {
      unlinkSync(join(upper, f));
      touchedEtc = true;
    }
  }
  for (const d of ["proc", "sys", "dev", ...(touchedEtc ? ["etc"] : [])]) {
    const p = join(upper, d);
    const st = lstatOrNull(p);
    if (!st?.isDirectory() || readdirSync(p).length > 0) continue;
    if (d === "etc" || !inLowers(d)) {
      try {
        rmdirSync(p);
      } catch {
        // kept
      }
    }
  }
}
