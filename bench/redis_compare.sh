#!/usr/bin/env bash
# larder-bench --backend redis against redis-benchmark, GET and SET, same value size and the
# same number of requests in flight: redis-benchmark with CLIENTS connections (one request
# outstanding each, or PIPELINE each with the 5th argument), larder-bench with CLIENTS
# coroutines on 2 threads, pipelined on redis_store's connection. One redis-server is
# started here on a free port of 127.0.0.1 with its own directory, stopped at the end.
#
#   bench/redis_compare.sh [BUILD_DIR] [VALUE_SIZE] [CLIENTS] [REQUESTS] [PIPELINE]
#
# Prints both throughputs and larder's ratio per operation (the bar is 0.7x). The set and
# get rows compare like with like: a plain SET against a put without a time to live. The
# set-px row compares SET ... PX against a put on a store with a time to live, which also
# keeps the expiry bookkeeping of the prefix index (docs/redis.md).
set -euo pipefail
build=${1:-build}
size=${2:-1024}
clients=${3:-32}
requests=${4:-200000}
pipeline=${5:-1}
bench="$build/bench/larder-bench"
[ -x "$bench" ] || { echo "no $bench: build first" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "redis-server is not installed" >&2; exit 2; }

dir=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
  --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'kill "$(cat "$dir/redis.pid")" 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done

# redis-benchmark: requests/s from its CSV line for each test.
rb() {
  redis-benchmark -p "$port" -t "$1" -n "$requests" -c "$clients" -P "$pipeline" -d "$size" \
    -r 10000 --csv | awk -F'"' -v t="$(echo "$1" | tr a-z A-Z)" '$2 == t {print $4}'
}
# SET with a 30-minute expiry, as larder-bench's store with --redis-ttl 1800.
rb_px() {
  local value
  value=$(head -c "$size" /dev/zero | tr '\0' x)
  redis-benchmark -p "$port" -n "$requests" -c "$clients" -P "$pipeline" -r 10000 --csv \
    SET 'key:__rand_int__' "$value" PX 1800000 | awk -F'"' 'NR == 2 {print $4}'
}
# larder-bench: ops/s from its JSON report. Two threads sharing CLIENTS x PIPELINE
# coroutines; the
# store pipelines every coroutine's request on its connection.
lb() {
  "$bench" --backend redis --redis "127.0.0.1:$port" --threads 2 --inflight $((clients * pipeline / 2)) \
    --keys 10000 --value-size "$size" --distribution uniform --mix "$1" --ops "$requests" \
    --redis-ttl "${2:-0}" --warmup 20000 --flush-every 0 --json --quiet |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["runs"][0]["ops_per_second"]))'
}

printf '%-6s %16s %16s %8s\n' op redis-benchmark larder-bench ratio
for op in set get set-px; do
  case $op in
    set) base=$(rb set) mine=$(lb put=100) ;;
    get) base=$(rb get) mine=$(lb get=100) ;;
    set-px) base=$(rb_px) mine=$(lb put=100 1800) ;;
  esac
  python3 -c "import sys; b,m=float('$base'),float('$mine'); print(f'{\"$op\":<6} {b:16.0f} {m:16.0f} {m/b:7.2f}x')"
done
echo "value $size bytes, $clients clients, redis-benchmark -P $pipeline, $requests requests"
