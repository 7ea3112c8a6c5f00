#!/usr/bin/env bash
# larder-bench --backend redis against redis-benchmark, GET and SET, same value size and the
# same number of requests in flight (the depth) over the same connections: from depth 2,
# redis-benchmark with 2 connections pipelining DEPTH/2 each (-c 2 -P DEPTH/2) and
# larder-bench with DEPTH coroutines on 2 threads, pipelined on redis_store's 2
# connections; at depth 1 one connection and one coroutine. One redis-server is
# started here on a free port of 127.0.0.1 with its own directory, stopped at the end.
#
#   bench/redis_compare.sh [BUILD_DIR] [VALUE_SIZE] [REQUESTS] [DEPTHS]
#
# DEPTHS defaults to "1 128". Prints both throughputs and larder's ratio per operation
# and depth (issue 16's bar at depth 128: put 0.6x, get 0.8x), then where the server's
# time went during larder's runs at the last depth (INFO commandstats: calls and
# microseconds per call). The set and get rows compare like with like: a plain SET
# against a put without a time to live. The set-px row compares SET ... PX against a put
# on a store with a time to live, which also keeps the expiry bookkeeping of the prefix
# index (docs/redis.md).
set -euo pipefail
build=${1:-build}
size=${2:-1024}
requests=${3:-100000}
depths=${4:-"1 128"}
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
rb_conns() { if [ "$clients" -lt 2 ]; then echo 1; else echo 2; fi; }
rb() {
  local c; c=$(rb_conns)
  redis-benchmark -p "$port" -t "$1" -n "$requests" -c "$c" -P $((clients / c)) -d "$size" \
    -r 10000 --csv | awk -F'"' -v t="$(echo "$1" | tr a-z A-Z)" '$2 == t {print $4}'
}
# SET with a 30-minute expiry, as larder-bench's store with --redis-ttl 1800.
rb_px() {
  local value c; c=$(rb_conns)
  value=$(head -c "$size" /dev/zero | tr '\0' x)
  redis-benchmark -p "$port" -n "$requests" -c "$c" -P $((clients / c)) -r 10000 --csv \
    SET 'key:__rand_int__' "$value" PX 1800000 | awk -F'"' 'NR == 2 {print $4}'
}
# larder-bench: ops/s from its JSON report.
lb() {
  local threads=2 inflight=$((clients / 2))
  if [ "$clients" -lt 2 ]; then threads=1 inflight=1; fi
  "$bench" --backend redis --redis "redis://127.0.0.1:$port" --threads "$threads" \
    --inflight "$inflight" --keys 10000 --value-size "$size" --distribution uniform \
    --mix "$1" --ops "$requests" --redis-ttl "${2:-0}" --warmup 20000 --flush-every 0 \
    --json --quiet |
    python3 -c 'import json,sys; print(round(json.load(sys.stdin)["runs"][0]["ops_per_second"]))'
}

printf '%-6s %6s %16s %16s %8s\n' op depth redis-benchmark larder-bench ratio
stats=""
for clients in $depths; do
  for op in set get set-px; do
    case $op in
      set) base=$(rb set) ;;
      get) base=$(rb get) ;;
      set-px) base=$(rb_px) ;;
    esac
    redis-cli -p "$port" config resetstat >/dev/null
    case $op in
      set) mine=$(lb put=100) ;;
      get) mine=$(lb get=100) ;;
      set-px) mine=$(lb put=100 1800) ;;
    esac
    stats+="# larder $op at depth $clients:"$'\n'
    stats+=$(redis-cli -p "$port" info commandstats | tr -d '\r' |
      awk -F'[:,=]' '/^cmdstat_/ && $3 > 1000 {printf "  %-24s calls %9d  usec/call %6.2f\n", $1, $3, $7}')
    stats+=$'\n'
    python3 -c "b,m=float('$base'),float('$mine'); print(f'{\"$op\":<6} {$clients:6d} {b:16.0f} {m:16.0f} {m/b:7.2f}x')"
  done
done
echo "value $size bytes, $requests requests per run, depths: $depths"
printf '%s' "$stats"
