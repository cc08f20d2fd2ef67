/**
 * Mount data for the classic mount(2) call, used only where the kernel lacks
 * fsconfig "lowerdir+" (before Linux 6.8).
 */

/**
 * mount(2) copies at most one page of data (copy_mount_options), and a longer
 * string is cut short without an error. 4096 is the smallest page size Linux
 * runs with, so it is safe everywhere; the terminating NUL counts.
 */
export const MOUNT_DATA_MAX = 4096;

/**
 * overlayfs splits its options on "," and lowerdir on ":", and takes a
 * backslash as the escape for both (fs/overlayfs/params.c, ovl_next_opt and
 * ovl_parse_param_split_lowerdirs).
 */
export function escapeOption(p: string): string {
  return p.replace(/[\\:,]/g, (c) => "\\" + c);
}

/** The options overlayfs gets besides the layers; the same on both APIs. */
export function extraOptions(hasUpper: boolean): [string, string][] {
  // index=off as Docker's overlay2 sets it: with index=on the upper remembers
  // its lowers and a remount over other lowers fails with ESTALE.
  const opts: [string, string][] = [["index", "off"]];
  if (hasUpper) {
    // The upper must be a layer that a plain walk can turn into a tar.
    // redirect_dir=on stores a renamed directory as a pointer into the lower,
    // and metacopy=on copies up metadata without the data; both leave the
    // upper meaningless without its lowers. With them off, renaming a lower
    // directory fails with EXDEV and mv(1) falls back to copy and delete.
    opts.push(["redirect_dir", "off"], ["metacopy", "off"]);
  }
  return opts;
}

export interface DataParts {
  lower: string[];
  upper?: string;
  work?: string;
}

export function buildData({ lower, upper, work }: DataParts): string {
  const parts = [`lowerdir=${lower.map(escapeOption).join(":")}`];
  if (upper !== undefined) parts.push(`upperdir=${escapeOption(upper)}`);
  if (work !== undefined) parts.push(`workdir=${escapeOption(work)}`);
  for (const [k, v] of extraOptions(upper !== undefined)) parts.push(`${k}=${v}`);
  return parts.join(",");
}

export function fits(data: string): boolean {
  return Buffer.byteLength(data) + 1 <= MOUNT_DATA_MAX;
}
