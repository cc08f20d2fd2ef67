/**
 * An in-memory cgroupfs for unit tests: directories, files, and a log of
 * every write, mkdir and rmdir. `files(dir)` says which files a new directory
 * gets (the kernel's interface files); `onWrite` may refuse a write as the
 * kernel would, by throwing an IoError.
 */
import { type Io, IoError } from "../io.js";

export type Op = ["write", string, string] | ["mkdir", string] | ["rmdir", string];

export interface FakeIo extends Io {
  dirs: Set<string>;
  data: Map<string, string>;
  ops: Op[];
  /** Only the writes, as [file, value]. */
  writes(): [string, string][];
}

export function errno(op: string, path: string, code: string): IoError {
  const desc: Record<string, string> = {
    EINVAL: "invalid argument",
    EBUSY: "device or resource busy",
    ENOENT: "no such file or directory",
    EEXIST: "file exists",
    ENODEV: "no such device",
    ESRCH: "no such process",
  };
  return new IoError(op, path, code, desc[code] ?? code.toLowerCase());
}

export function fakeIo(opts: {
  dirs?: string[];
  files?: Record<string, string>;
  newDir?: (dir: string) => Record<string, string>;
  onWrite?: (file: string, value: string, io: FakeIo) => void;
}): FakeIo {
  const io: FakeIo = {
    dirs: new Set(opts.dirs ?? []),
    data: new Map(Object.entries(opts.files ?? {})),
    ops: [],
    writes() {
      return this.ops.filter((o): o is ["write", string, string] => o[0] === "write").map((o) => [o[1], o[2]]);
    },
    read(file) {
      const v = io.data.get(file);
      if (v === undefined) throw errno("read", file, "ENOENT");
      return v;
    },
    write(file, value) {
      if (!io.data.has(file)) throw errno("open", file, "ENOENT");
      opts.onWrite?.(file, value, io);
      io.ops.push(["write", file, value]);
      if (!file.endsWith("/cgroup.procs") && !file.endsWith("/cgroup.subtree_control")) io.data.set(file, value);
    },
    exists(path) {
      return io.dirs.has(path) || io.data.has(path);
    },
    mkdir(dir) {
      if (io.exists(dir)) throw errno("mkdir", dir, "EEXIST");
      if (!io.dirs.has(dir.slice(0, dir.lastIndexOf("/")))) throw errno("mkdir", dir, "ENOENT");
      io.dirs.add(dir);
      io.ops.push(["mkdir", dir]);
      for (const [f, v] of Object.entries(opts.newDir?.(dir) ?? {})) io.data.set(`${dir}/${f}`, v);
    },
    rmdir(dir) {
      if (!io.dirs.has(dir)) throw errno("rmdir", dir, "ENOENT");
      if (io.subdirs(dir).length) throw errno("rmdir", dir, "EBUSY");
      io.dirs.delete(dir);
      for (const k of [...io.data.keys()]) if (k.startsWith(`${dir}/`)) io.data.delete(k);
      io.ops.push(["rmdir", dir]);
    },
    subdirs(dir) {
      if (!io.dirs.has(dir)) throw errno("readdir", dir, "ENOENT");
      return [...io.dirs].filter((d) => d.startsWith(`${dir}/`) && !d.slice(dir.length + 1).includes("/")).map((d) => d.slice(dir.length + 1));
    },
  };
  return io;
}
