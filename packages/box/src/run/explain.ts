/**
 * `box run --explain`: the same container as a shell pipeline of the
 * separate tools. The ns-exec words come from the very config box would run.
 */
import { toArgv, type NsExecOptions } from "@box/ns-exec";
import type { BoxPaths } from "../paths.js";

export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_\/.,:=@%+-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function explain(paths: BoxPaths, id: string, image: string, o: NsExecOptions): string {
  const c = `${paths.root}/containers/${id}`;
  const q = shellQuote;
  const ns = toArgv({ ...o, dieWithParent: false }).map(q).join(" ");
  return [
    `# box run, step by step (container ${id.slice(0, 12)})`,
    `export BOX_ROOT=${q(paths.root)}`,
    `c=${q(c)}`,
    `mkdir -p "$c/upper" "$c/work" "$c/rootfs"`,
    `mkroot layers ${q(image)} | ovl-mount --upper "$c/upper" --work "$c/work" --target "$c/rootfs" - >/dev/null`,
    `ns-exec ${ns.replace(q(`${c}/rootfs`), '"$c/rootfs"')}${o.stdin ? "" : " </dev/null"}`,
    `rc=$?`,
    `ovl-mount --umount "$c/rootfs"`,
    `rm -rf "$c"`,
    `exit $rc`,
    "",
  ].join("\n");
}
