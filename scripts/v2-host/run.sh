#!/bin/bash
# run.sh: on a cgroup v2 host, unpack what pack.sh made (DIR, default .devtree) and run
# the cgroup, user namespace and ns-exec tests; the log goes to $OUT/log too. FILES picks the
# test files, T bounds their time in seconds.
set -u
DIR=${DIR:-.devtree}
OUT=${OUT:-/tmp/devout}; mkdir -p "$OUT"
exec > >(tee "$OUT/log") 2>&1
echo "== probe"; uname -a; cat /etc/os-release | head -2
# xz may be missing there; python3's lzma stands in.
unxz_() { if command -v xz >/dev/null; then xz -dc "$1"; else python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"; fi; }
mkdir -p /tmp/nb && unxz_ $DIR/node.xz > /tmp/nb/node && chmod +x /tmp/nb/node
export PATH=/tmp/nb:$PATH
node --version
unxz_ $DIR/tree.tar.xz | tar -x
cp $DIR/busybox /tmp/busybox-static && export BUSYBOX=/tmp/busybox-static
echo "cgroup: $(cat /proc/self/cgroup)"; mount | grep cgroup
own=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
echo "root controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"; echo "root subtree: $(cat /sys/fs/cgroup/cgroup.subtree_control)"
echo "own $own controllers: $(cat $own/cgroup.controllers 2>&1)"; echo "own procs: $(wc -l < $own/cgroup.procs)"
for t in ip nft useradd usermod unshare nsenter tar python3 file mknod flock find; do printf '%s=%s ' $t "$(command -v $t || echo MISSING)"; done; echo
grep -E '^(Uid|CapEff)' /proc/self/status; cat /proc/sys/user/max_user_namespaces 2>&1
echo "== cgset smoke"; packages/cgset/bin/cgset info
packages/cgset/bin/cgset create --memory 64m --pids-limit 20 box/devprobe && packages/cgset/bin/cgset stats --json box/devprobe; packages/cgset/bin/cgset rm --parents box/devprobe; echo "cgset rc=$?"
echo "== tests"
timeout ${T:-420} node node_modules/vitest/vitest.mjs run --reporter=verbose ${FILES:-integration/cgset.test.ts integration/box-cgroups.test.ts integration/userns.test.ts integration/ovl-mount.test.ts integration/ns-exec.test.ts packages/cgset} 2>&1
echo "vitest rc=$?"
echo "== after"; find /sys/fs/cgroup -name 'box*' | head; grep -c boxtest /proc/self/mountinfo
