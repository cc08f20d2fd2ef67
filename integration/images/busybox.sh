#!/usr/bin/env bash
# busybox.sh OUT.tar: build the small busybox rootfs that box's tests and benchmarks run.
#
# The tar is deterministic: the same busybox binary gives the same bytes (sorted entries, mtime 0,
# numeric owners, fixed modes), so a cached copy can be keyed by the binary alone.
# BUSYBOX=/path overrides the binary (default /bin/busybox, Debian's busybox-static).
set -euo pipefail

prog=busybox.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

[[ $# -eq 1 && $1 != -* ]] || { printf 'usage: %s OUT.tar\n' "$prog" >&2; exit 2; }
out=$1
busybox=${BUSYBOX:-/bin/busybox}

[[ -e $busybox ]] || die "$busybox is missing: install busybox-static (apt-get install busybox-static)"
[[ -x $busybox ]] || die "$busybox is not executable"
# A dynamically linked busybox would need the host's libc inside the image.
if command -v file >/dev/null && file -L "$busybox" | grep -q 'dynamically linked'; then
  die "$busybox is dynamically linked: install busybox-static"
fi
applets=$("$busybox" --list) || die "\`$busybox --list\` failed"
[[ -n $applets ]] || die "\`$busybox --list\` printed no applets"

stage=$(mktemp -d /tmp/box-busybox-XXXXXX)
trap 'rm -rf "$stage"' EXIT
umask 022
r=$stage/rootfs
mkdir -p "$r"/{bin,etc,root,tmp,home/app,var,proc,sys,dev}
cp "$busybox" "$r/bin/busybox"
while IFS= read -r applet; do
  case $applet in busybox | */* | '') continue ;; esac
  ln -s busybox "$r/bin/$applet"
done <<<"$applets"

cat >"$r/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PASSWD
cat >"$r/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
GROUP

# Modes are set here, not inherited, so the host's umask and filesystem do not leak into the tar.
find "$r" -type d -exec chmod 0755 {} +
find "$r" -type f -exec chmod 0644 {} +
chmod 0755 "$r/bin/busybox"
chmod 1777 "$r/tmp"
chmod 0700 "$r/root"

# GNU tar's --owner/--group apply to a whole invocation, so the archive is written in three
# appends split around home/app, keeping one global name order and needing no chown (no root).
cd "$r"
find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort >"$stage/list"
grep -qx 'home/app' "$stage/list" || die "internal: home/app missing from the staging tree"
awk '$0 == "home/app" { exit } { print }' "$stage/list" >"$stage/before"
awk 'after { print } $0 == "home/app" { after = 1 }' "$stage/list" >"$stage/after"
echo home/app >"$stage/app"

tarc() { # tarc MODE LIST UID GID
  tar "$1" -f "$stage/out.tar" --format=ustar --no-recursion --sort=name --mtime=@0 --numeric-owner \
    --owner="$3" --group="$4" --verbatim-files-from -T "$2"
}
tarc -c "$stage/before" 0 0
tarc -r "$stage/app" 1000 1000
tarc -r "$stage/after" 0 0
cd - >/dev/null

# Rename into place so a reader never sees a half-written tar.
tmp_out=$out.tmp.$$
cp "$stage/out.tar" "$tmp_out"
mv -f "$tmp_out" "$out"
