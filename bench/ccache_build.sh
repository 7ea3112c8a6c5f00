#!/bin/bash
# ccache 4.7.5 building a real C code base (a Debian source package, GNU bash by default)
# with its remote storage on larder-server, against the same with nginx + WebDAV (ccache's
# documented HTTP backend) and against ccache's own local cache. Each timed build is a
# second build: all hits, from the server (fresh local cache, CCACHE_REMOTE_ONLY) or from
# the populated local cache. Rounds alternate larder, nginx, local; medians are reported.
#   bench/ccache_build.sh [BUILD_DIR]   (env: ROUNDS=5 PKG=bash JOBS=2 SRC=<unpacked tree>)
# Every object of every timed build is compared with an uncached compile's (byte-identical),
# and each server's directory size is printed (larder-server bounded by --max-size).
# Installs ccache, nginx-light, curl, dpkg-dev and bc when missing; the source comes from `apt-get source $PKG` (a
# deb-src entry for bookworm is added under /etc/apt/sources.list.d when there is none).
set -euo pipefail
build=$(realpath "${1:-build}")
server="$build/lib/tools/server/larder-server"
rounds=${ROUNDS:-5}
pkg=${PKG:-bash}
jobs=${JOBS:-2}
# What it runs, from Debian's archive, installed when missing.
missing=()
for p in ccache nginx-light curl dpkg-dev bc make gcc; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x "$server" ] || { echo "ccache_build: no $server (build larder first)" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/larder-ccache-build-XXXXXX")
lpid=
cleanup() {
  [ -n "$lpid" ] && kill -TERM "$lpid" 2>/dev/null && wait "$lpid" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill -QUIT "$(cat "$work/nginx.pid")" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
log() { printf '==> %s\n' "$*" >&2; }

# The source tree: fetched once and kept in the user's cache directory.
if [ -z "${SRC:-}" ]; then
  cache="${XDG_CACHE_HOME:-$HOME/.cache}/larder-bench/src-$pkg"
  if [ ! -d "$cache" ] || [ -z "$(ls -d "$cache"/*/ 2>/dev/null)" ]; then
    if ! grep -rqs '^Types: deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
      log "adding a deb-src entry for bookworm"
      printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        >/etc/apt/sources.list.d/larder-bench-src.sources
      apt-get update -qq
    fi
    mkdir -p "$cache"
    log "apt-get source $pkg"
    (cd "$cache" && apt-get source -qq "$pkg" >/dev/null 2>&1)
  fi
  SRC=$(ls -d "$cache"/*/ | head -n 1)
fi
tree="$work/tree"
cp -a "$SRC" "$tree"
log "configuring $(basename "$SRC")"
(cd "$tree" && ./configure CC=gcc >/dev/null 2>&1)

objects() { (cd "$tree" && find . -name '*.o' | sort); }
make_all() { (cd "$tree" && make -s -j"$jobs" "$@" >/dev/null 2>&1); }

# The reference: an uncached build. Its objects are what every hit must reproduce.
log "reference build (no ccache)"
make_all CC=gcc
mkdir -p "$work/ref"
(cd "$tree" && objects | tar -cf - -T -) | (cd "$work/ref" && tar -xf -)
count=$(objects | wc -l)
log "$count objects"

# larder-server: memory over disk, a 1 GiB bound.
"$server" --listen 127.0.0.1:0 --dir "$work/larder" --port-file "$work/port" --max-size 1G \
  2>"$work/larder.log" &
lpid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
lport=$(cat "$work/port")

# nginx + WebDAV, as ccache's documentation configures it.
nport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/dav" "$work/nginx-tmp"
chmod 755 "$work"
chmod 777 "$work/dav" "$work/nginx-tmp"
cat >"$work/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
daemon on;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx-tmp;
  client_max_body_size 64m;
  server {
    listen 127.0.0.1:$nport;
    root $work/dav;
    location / {
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:rw all:r;
    }
  }
}
NGINX
nginx -c "$work/nginx.conf"
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$nport/" && break; sleep 0.05; done

remote_of() { case $1 in larder) echo "http://127.0.0.1:$lport/ccache|layout=subdirs" ;;
  nginx) echo "http://127.0.0.1:$nport/ccache|layout=subdirs" ;; esac; }

# ccache_build LOCAL_DIR MODE: one build of the whole tree through ccache. MODE larder or
# nginx: remote only (every hit from the server); local: the local cache only.
ccache_build() {
  local dir=$1 mode=$2
  make_all clean
  local env=(CCACHE_DIR="$dir" CCACHE_CONFIGPATH=/dev/null CCACHE_NOHASHDIR=1 CCACHE_BASEDIR="$tree")
  if [ "$mode" != local ]; then env+=(CCACHE_REMOTE_ONLY=1 CCACHE_REMOTE_STORAGE="$(remote_of "$mode")"); fi
  env "${env[@]}" ccache -z >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  env "${env[@]}" make -s -C "$tree" -j"$jobs" CC="ccache gcc" >/dev/null 2>&1
  t1=$(date +%s.%N)
  env "${env[@]}" ccache --print-stats >"$dir.stats"
  echo "$t1 - $t0" | bc
}
stat_of() { awk -v k="$2" -F'\t' '$1 == k { print $2 }' "$1"; }
# Every object byte-identical to the reference's.
verify() {
  local bad=0 o
  while read -r o; do cmp -s "$tree/$o" "$work/ref/$o" || bad=$((bad + 1)); done < <(cd "$work/ref" && find . -name '*.o')
  echo $bad
}

log "populating: larder, nginx and the local cache (cold builds)"
for mode in larder nginx local; do ccache_build "$work/cold-$mode" "$mode" >/dev/null; done

declare -A times
failures=0
for r in $(seq "$rounds"); do
  for mode in larder nginx local; do
    if [ "$mode" = local ]; then dir="$work/cold-local"; else dir="$work/warm-$mode-$r"; fi
    t=$(ccache_build "$dir" "$mode")
    hits=$([ "$mode" = local ] && stat_of "$dir.stats" local_storage_hit || stat_of "$dir.stats" remote_storage_hit)
    misses=$([ "$mode" = local ] && stat_of "$dir.stats" local_storage_miss || stat_of "$dir.stats" remote_storage_miss)
    bad=$(verify)
    log "round $r $mode: ${t}s, hits ${hits:-0}, misses ${misses:-0}, objects differing $bad"
    [ "${misses:-0}" -ne 0 ] || [ "$bad" -ne 0 ] && failures=$((failures + 1))
    times[$mode]+="$t "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
ml=$(echo "${times[larder]}" | median)
mn=$(echo "${times[nginx]}" | median)
mc=$(echo "${times[local]}" | median)
printf '\n%s: %s objects, %s rounds, make -j%s, second build (all hits)\n' "$(basename "$SRC")" "$count" "$rounds" "$jobs"
printf '| client storage | median s | each round (s) |\n|---|---|---|\n'
printf '| larder-server | %s | %s|\n' "$ml" "${times[larder]}"
printf '| nginx WebDAV | %s | %s|\n' "$mn" "${times[nginx]}"
printf '| ccache local | %s | %s|\n' "$mc" "${times[local]}"
printf 'larder-server / nginx: %.2fx; larder-server / local cache: %.2fx\n' \
  "$(echo "$ml / $mn" | bc -l)" "$(echo "$ml / $mc" | bc -l)"
printf 'server directories: larder %s bytes (bound 1 GiB), nginx %s bytes (no bound)\n' \
  "$(du -sb "$work/larder" | cut -f1)" "$(du -sb "$work/dav" | cut -f1)"
printf 'builds with a miss or a differing object: %s\n' "$failures"
[ "$failures" -eq 0 ]
