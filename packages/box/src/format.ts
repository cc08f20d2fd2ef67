/** Docker's human forms: sizes in SI units, times as "3 minutes ago", aligned tables. */
export function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  // %.3g as go-units: trailing zeros go after a decimal point only ("100kB", not "1kB").
  return `${i === 0 ? v : v.toPrecision(3).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "")}${units[i]}`;
}

export function humanAgo(iso: string | undefined, nowMs = Date.now()): string {
  if (!iso) return "N/A";
  const s = Math.max(0, Math.floor((nowMs - Date.parse(iso)) / 1000));
  if (s < 1) return "Less than a second ago";
  if (s < 60) return s === 1 ? "1 second ago" : `${s} seconds ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return m === 1 ? "About a minute ago" : `${m} minutes ago`;
  const h = Math.floor(m / 60);
  if (h < 48) return h === 1 ? "About an hour ago" : `${h} hours ago`;
  const d = Math.floor(h / 24);
  if (d < 14) return `${d} days ago`;
  if (d < 60) return `${Math.floor(d / 7)} weeks ago`;
  if (d < 730) return `${Math.floor(d / 30)} months ago`;
  return `${Math.floor(d / 365)} years ago`;
}

export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join("").trimEnd()).join("\n") + "\n";
}

