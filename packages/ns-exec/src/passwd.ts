/**
 * Resolve USER[:GROUP] as Docker does: names from the image's /etc/passwd and
 * /etc/group, numbers as they are, supplementary groups from /etc/group.
 */
import { ExitError } from "@box/cli";

export interface Identity {
  uid: number;
  gid: number;
  groups: number[];
  home: string;
}

interface PasswdEntry { name: string; uid: number; gid: number; home: string }
interface GroupEntry { name: string; gid: number; members: string[] }

export function parsePasswd(text: string | null): PasswdEntry[] {
  if (!text) return [];
  return text.split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 7 || line.startsWith("#")) return [];
    return [{ name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), home: f[5]! }];
  });
}

export function parseGroup(text: string | null): GroupEntry[] {
  if (!text) return [];
  return text.split("\n").flatMap((line) => {
    const f = line.split(":");
    if (f.length < 4 || line.startsWith("#")) return [];
    return [{ name: f[0]!, gid: Number(f[2]), members: f[3]!.split(",").filter(Boolean) }];
  });
}

const isNum = (s: string) => /^\d+$/.test(s);

export function resolveIdentity(user: string | undefined, group: string | undefined, passwdText: string | null, groupText: string | null): Identity {
  const passwd = parsePasswd(passwdText);
  const groups = parseGroup(groupText);
  let uid = 0;
  let gid = 0;
  let home = "/root";
  let name: string | undefined = "root";
  const u = user ?? "0";
  if (isNum(u)) {
    uid = Number(u);
    const e = passwd.find((p) => p.uid === uid);
    gid = e?.gid ?? 0;
    home = e?.home ?? "/";
    name = e?.name;
  } else {
    const e = passwd.find((p) => p.name === u);
    if (!e) throw new ExitError(`unable to find user ${u}: no matching entries in passwd file`, 1);
    uid = e.uid;
    gid = e.gid;
    home = e.home;
    name = e.name;
  }
  if (group !== undefined) {
    if (isNum(group)) gid = Number(group);
    else {
      const g = groups.find((x) => x.name === group);
      if (!g) throw new ExitError(`unable to find group ${group}: no matching entries in group file`, 1);
      gid = g.gid;
    }
  }
  const supp = name === undefined ? [] : groups.filter((g) => g.members.includes(name!)).map((g) => g.gid);
  return { uid, gid, groups: [...new Set([gid, ...supp])], home };
}
