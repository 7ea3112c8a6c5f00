#!/usr/bin/env bash
# Runs larder-disk-bench on a fresh ext4 file system: a sparse image made with mkfs.ext4 and
# loop-mounted for this run only (root needed), removed afterwards. On the machine's own file
# system, create and rename costs swing several-fold with its history (ext4 skips inodes
# deleted in the last seconds when it allocates, and earlier runs delete tens of thousands),
# so put figures there compare two designs under different conditions from one run to the
# next; on a fresh file system both designs start from the same state every time.
#
#   bench/fresh_ext4.sh [BUILD_DIR] [larder-disk-bench arguments...]
#
# Exits 77 (skipped) when it cannot make or mount the file system.
set -euo pipefail
build=${1:-build}
shift || true
bench="$build/bench/larder-disk-bench"
[ -x "$bench" ] || { echo "no $bench: build first" >&2; exit 2; }
command -v mkfs.ext4 >/dev/null || { echo "mkfs.ext4 is not installed (e2fsprogs)" >&2; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/larder-ext4.XXXXXX")
mounted=""
cleanup() {
  [ -n "$mounted" ] && umount "$work/mnt" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
truncate -s 6G "$work/fs.img"
mkfs.ext4 -q -F "$work/fs.img"
mkdir "$work/mnt"
if ! mount -o loop "$work/fs.img" "$work/mnt" 2>"$work/mount.err"; then
  echo "cannot loop-mount a fresh ext4 here ($(cat "$work/mount.err")): skipped" >&2
  exit 77
fi
mounted=yes
echo "# fresh ext4 ($(uname -r)), 6 GiB sparse image on $(df --output=source "$work" | tail -1)"
"$bench" --dir "$work/mnt" "$@"
