# Shared by scripts/demo and scripts/test: install what is missing, configure, build.
# Sourced, not run. Every step is skipped when it is already done.

LARDER_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Debian bookworm packages the build, the tests and the tools need (LMDB and RocksDB: the
# disk bench's peers).
LARDER_PACKAGES=(
  g++ meson ninja-build pkg-config python3
  libasio-dev liburing-dev catch2 libconcurrentqueue-dev librust-blake3-dev libabsl-dev
  libcli11-dev libhiredis-dev redis-server nlohmann-json3-dev libsqlite3-dev
  libssl-dev openssl libhttp-parser-dev
  strace fio cmake ccache
  liblmdb-dev librocksdb-dev
)

larder_log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

larder_install_packages() {
  local missing=() p
  for p in "${LARDER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  larder_log "installing Debian packages: ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

# larder_configure DIR [meson options...]: configure DIR once (reconfigure when the options
# change). LARDER_TARGETS (optional, space-separated ninja targets) limits larder_build.
larder_configure() {
  local dir=$1
  shift
  # Debian ships BLAKE3's official C sources in librust-blake3-dev (no libblake3 package).
  local b3
  b3=$(ls -d /usr/share/cargo/registry/blake3-*/c 2>/dev/null | sort -V | tail -n 1)
  [ -n "$b3" ] && set -- "-Dblake3_c_dir=$b3" "$@"
  local stamp="$LARDER_ROOT/$dir/.larder-options" wanted="$*"
  if [ ! -f "$LARDER_ROOT/$dir/build.ninja" ]; then
    larder_log "configuring $dir ($wanted)"
    meson setup "$LARDER_ROOT/$dir" "$LARDER_ROOT" --wrap-mode=nodownload "$@" >/dev/null
  elif [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    larder_log "reconfiguring $dir ($wanted)"
    meson configure "$LARDER_ROOT/$dir" "$@" >/dev/null
  fi
  echo "$wanted" >"$stamp"
}

# larder_build DIR [meson options...]: configure, then build everything.
larder_build() {
  larder_configure "$@"
  larder_log "building $1"
  ninja -C "$LARDER_ROOT/$1" >/dev/null || ninja -C "$LARDER_ROOT/$1"
}

# larder_build_suite DIR SUITE [meson options...]: configure, then build only what the tests
# of SUITE run (ThreadSanitizer builds are slow; CI time counts).
larder_build_suite() {
  local dir=$1 suite=$2
  shift 2
  larder_configure "$dir" "$@"
  # After `meson configure`, the introspection data is the old configuration's until the
  # build files are regenerated: regenerate first, or new tests are missing from the list.
  ninja -C "$LARDER_ROOT/$dir" build.ninja >/dev/null
  local targets
  targets=$(cd "$LARDER_ROOT/$dir" && meson introspect --tests | python3 -c '
import json, os, sys
suite = sys.argv[1]
for t in json.load(sys.stdin):
    if any(s.endswith(":" + suite) or s == suite for s in t["suite"]):
        print(os.path.relpath(t["cmd"][0]))
' "$suite" | sort -u)
  larder_log "building $dir (the $suite suite)"
  # shellcheck disable=SC2086
  ninja -C "$LARDER_ROOT/$dir" $targets >/dev/null || ninja -C "$LARDER_ROOT/$dir" $targets
}
