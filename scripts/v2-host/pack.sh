#!/bin/bash
# pack.sh [DIR]: pack what the cgroup v2 checks need on a host without Node or
# network (a cgroup v2 machine to try box on): this Node, the built tree with a
# trimmed node_modules, and a static busybox. Run `pnpm build` first; then copy
# the repository with DIR (default .devtree) to the host and run
# scripts/v2-host/run.sh there from the repository's root.
set -euo pipefail
dir=${1:-.devtree}
cd "$(dirname "$0")/../.."
[[ -e packages/box/dist/box.cjs ]] || { echo "pack.sh: run pnpm build first" >&2; exit 1; }
mkdir -p "$dir"
xz -T0 -6 -c "$(command -v node)" > "$dir/node.xz"
cp "${BUSYBOX:-/bin/busybox}" "$dir/busybox"
# koffi ships a build for every platform (84 MB): keep this one's.
koffi=$(echo node_modules/.pnpm/koffi@*/node_modules/koffi/build/koffi)
plat=$(node -p '`${process.platform}_${process.arch}`')
excl=()
for d in "$koffi"/*; do [[ $(basename "$d") == "$plat" ]] || excl+=(--exclude="$d"); done
tar -cJf "$dir/tree.tar.xz" "${excl[@]}" \
  --exclude='node_modules/.pnpm/typescript@*' --exclude='node_modules/.pnpm/@turbo+*' \
  --exclude='node_modules/.pnpm/turbo@*' --exclude='node_modules/.pnpm/@types+*' --exclude='*.tsbuildinfo' \
  node_modules packages/*/node_modules packages/*/dist
du -sh "$dir"
