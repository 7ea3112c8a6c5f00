#!/bin/bash
# compile_cache: what a hit costs as the cache grows (issue 17, point 2). One small source is
# compiled once through compile_cache (a miss that stores it), then the same compile is
# repeated ROUNDS times (all hits), with the cache holding the object alone and with SIZES
# other entries beside it (4 KiB entries put by larder-bench through the disk backend).
# Prints the median wall time and CPU time per hit at each size, and their ratio to the
# smallest cache.
#   bench/compile_cache_hits.sh [BUILD_DIR] (default: build); SIZES="0 30000", ROUNDS=21
set -euo pipefail
build=${1:-build}
cc_bin="$build/examples/compile_cache"
bench_bin="$build/bench/larder-bench"
for b in "$cc_bin" "$bench_bin"; do
  [ -x "$b" ] || { echo "missing $b: build with -Dexamples=enabled -Dbench=enabled" >&2; exit 2; }
done
sizes=${SIZES:-"0 30000"}
rounds=${ROUNDS:-21}
cc=$(command -v gcc)
work=$(mktemp -d "${TMPDIR:-/tmp}/larder-cc-hits-XXXXXX")
trap 'rm -rf "$work"' EXIT
cat > "$work/unit.c" <<'C'
#include <stdio.h>
int unit(int x) { printf("%d\n", x); return x * 3; }
C

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
printf '%-10s %14s %14s %10s %10s\n' "entries" "wall ms/hit" "cpu ms/hit" "wall x" "cpu x"
first_wall= first_cpu=
for n in $sizes; do
  dir="$work/cache-$n"
  mkdir -p "$dir"
  if [ "$n" -gt 0 ]; then
    "$bench_bin" --backend disk --dir "$dir/objects" --keys "$n" --distribution uniform \
      --ops $((n * 3)) --mix put=100 --value-size 4KiB --disk-capacity 16GiB --flush-every 0 \
      --warmup 0 --quiet >/dev/null
  fi
  LARDER_COMPILE_CACHE_DIR="$dir" "$cc_bin" "$cc" -O2 -c "$work/unit.c" -o "$work/unit.o"
  walls=() cpus=()
  for _ in $(seq "$rounds"); do
    start=$(date +%s%N)
    # user+sys of the child, from bash's own accounting.
    t=$( { TIMEFORMAT='%U %S'; time LARDER_COMPILE_CACHE_DIR="$dir" \
          "$cc_bin" "$cc" -O2 -c "$work/unit.c" -o "$work/unit.o"; } 2>&1 )
    end=$(date +%s%N)
    walls+=("$(( (end - start) / 1000 ))")
    cpus+=("$(awk '{ printf "%d", ($1 + $2) * 1000000 }' <<<"$t")")
  done
  wall=$(printf '%s\n' "${walls[@]}" | median)
  cpu=$(printf '%s\n' "${cpus[@]}" | median)
  held=$(( $(find "$dir/objects" -name '*.bin' | wc -l) ))
  first_wall=${first_wall:-$wall} first_cpu=${first_cpu:-$cpu}
  awk -v e="$held" -v w="$wall" -v c="$cpu" -v fw="$first_wall" -v fc="$first_cpu" \
    'BEGIN { printf "%-10d %14.2f %14.2f %10.2f %10.2f\n", e, w / 1000, c / 1000, w / fw, (fc ? c / fc : 0) }'
done
