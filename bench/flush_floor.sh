#!/usr/bin/env bash
# The floor for flush (issue 14, point 5): fio's best rate of making fresh 4 KiB files
# durable, side by side with larder's flush of as many fresh 4 KiB entries, on the same file
# system (DIR, default $TMPDIR or /tmp). fio runs numjobs 16, 64 and 256 (the files split
# between the jobs, each going through its files one after another), creating the files in
# the timed run and with them laid out first; larder-disk-bench's flush section times the
# flush alone (its puts come first), median of 3. Prints files made durable per second and
# larder's share of each of fio's best rates.
#   bench/flush_floor.sh [BUILD_DIR] [ENTRIES] [DIR]
set -euo pipefail
build=${1:-build}
entries=${2:-50000}
parent=${3:-${TMPDIR:-/tmp}}
bench="$build/bench/larder-disk-bench"
[ -x "$bench" ] || { echo "no $bench: build first" >&2; exit 2; }
command -v fio >/dev/null || { echo "fio is not installed" >&2; exit 77; }
work=$(mktemp -d "$parent/larder-flush-floor.XXXXXX")
trap 'rm -rf "$work"' EXIT

# fio's rate in files per second: `extra` empty creates each file in the timed run; "layout"
# has fio lay the files out first, so the timed run opens, overwrites, fdatasyncs and closes
# existing files: the same work as a flush of files already written.
fio_rate() {  # JOBS MODE
  local jobs=$1 mode=$2 create=1
  [ "$mode" = layout ] && create=0
  rm -rf "$work/fio" && mkdir "$work/fio"
  sync
  fio --name=floor --directory="$work/fio" --rw=write --bs=4k --filesize=4k \
    --nrfiles=$((entries / jobs)) --numjobs="$jobs" --openfiles=1 --file_service_type=sequential \
    --fdatasync=1 --create_on_open=$create --group_reporting --output-format=json 2>/dev/null |
    python3 -c 'import json, sys; print("%.0f" % json.load(sys.stdin)["jobs"][0]["write"]["iops"])'
}
best_create=0 best_layout=0
for jobs in 16 64 256; do
  rate=$(fio_rate "$jobs" create)
  echo "fio numjobs=$jobs: $rate files/s (create, write 4 KiB, fdatasync, close)"
  [ "$rate" -gt "$best_create" ] && best_create=$rate
  rate=$(fio_rate "$jobs" layout)
  echo "fio numjobs=$jobs: $rate files/s (files laid out first: open, write 4 KiB, fdatasync, close)"
  [ "$rate" -gt "$best_layout" ] && best_layout=$rate
done
rm -rf "$work/fio"
sync
ms=$("$bench" --dir "$work" --sections flush --flush-entries "$entries" --larder-only |
  awk '/^larder / { print $2 }')
awk -v ms="$ms" -v n="$entries" -v c="$best_create" -v l="$best_layout" 'BEGIN {
  rate = n / (ms / 1000.0)
  printf "larder flush of %d fresh entries: %.1f ms, %.0f files/s\n", n, ms, rate
  printf "  %.2fx fio'"'"'s best with files laid out first (%d files/s)\n", rate / l, l
  printf "  %.2fx fio'"'"'s best creating them (%d files/s)\n", rate / c, c }'
