#!/bin/bash
# larder-server against nginx + WebDAV (ccache's documented HTTP backend) under wrk: the same
# keys, the same artifact sizes, a GET-only and a 90/10 GET/PUT mix, p50/p99 latency.
#   bench/server_compare.sh [BUILD_DIR]   (env: CONNS="64 256" SIZES="4096 1048576" SECS=10
#                                          KEYS=1000 THREADS=2 NGINX_WORKERS=1)
# Needs wrk, nginx-light (Debian) and curl. Both servers run one worker (larder-server runs on
# one io_context thread), on 127.0.0.1, with their data in a fresh temporary directory.
set -euo pipefail
build=${1:-build}
server="$build/lib/tools/server/larder-server"
conns=${CONNS:-"64 256"}
sizes=${SIZES:-"4096 1048576"}
secs=${SECS:-10}
keys=${KEYS:-1000}
threads=${THREADS:-2}
workers=${NGINX_WORKERS:-1}
for t in wrk nginx curl; do command -v $t >/dev/null || { echo "needs $t"; exit 1; }; done
work=$(mktemp -d "${TMPDIR:-/tmp}/larder-server-bench-XXXXXX")
lpid=
cleanup() {
  [ -n "$lpid" ] && kill -TERM "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

"$server" --listen 127.0.0.1:0 --dir "$work/larder" --port-file "$work/port" --max-size 16G \
  --memory-size 1G --max-body 8M 2>"$work/larder.log" &
lpid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
lport=$(cat "$work/port")

nport=$(free_port)
mkdir -p "$work/dav" "$work/nginx-tmp"
# nginx's workers run as an unprivileged user when started by root: let them write.
chmod 755 "$work"
chmod 777 "$work/dav" "$work/nginx-tmp"
cat > "$work/nginx.conf" <<NGINX
worker_processes $workers;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
daemon on;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp;
  client_max_body_size 8m;
  server {
    listen 127.0.0.1:$nport;
    root $work/dav;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf" -p "$work"
sleep 0.3

cat > "$work/get.lua" <<LUA
math.randomseed(42)
request = function()
  return wrk.format("GET", "/bench/k" .. math.random(1, $keys))
end
LUA
echo "machine: $(nproc) cores, shared with other work; wrk $threads threads, ${secs}s per run"
printf '%-13s %-8s %-6s %-8s %12s %10s %10s %8s\n' server size conns mix req/s p50 p99 errors
for size in $sizes; do
  head -c "$size" /dev/urandom > "$work/body"
  for port in $lport $nport; do
    for k in $(seq 1 "$keys"); do
      echo "url = \"http://127.0.0.1:$port/bench/k$k\""
      echo 'output = "/dev/null"'
    done > "$work/urls"
    curl -sf --no-progress-meter -X PUT --data-binary @"$work/body" --parallel --parallel-max 16 \
      -K "$work/urls"
  done
  cat > "$work/mix.lua" <<LUA
math.randomseed(7)
local f = io.open("$work/body", "rb"); local body = f:read("*a"); f:close()
request = function()
  local k = "/bench/k" .. math.random(1, $keys)
  if math.random(1, 10) == 1 then return wrk.format("PUT", k, nil, body) end
  return wrk.format("GET", k)
end
LUA
  for c in $conns; do
    for mix in get mix; do
      for who in larder-server nginx-dav; do
        port=$lport; [ $who = nginx-dav ] && port=$nport
        out=$(wrk -t"$threads" -c"$c" -d"${secs}s" --latency -s "$work/$mix.lua" \
          "http://127.0.0.1:$port/")
        rps=$(awk '/^Requests\/sec/ {print $2}' <<<"$out")
        p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
        p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
        errs=$(awk '/Non-2xx/ {print $5}' <<<"$out")
        printf '%-13s %-8s %-6s %-8s %12s %10s %10s %8s\n' $who "$size" "$c" $mix "$rps" \
          "$p50" "$p99" "${errs:-0}"
      done
    done
  done
done
