#!/bin/sh
# Installs the build in BUILD_DIR into a staging prefix, then builds test/consumer/main.cpp
# against that installation twice, as a packager's user would: with pkg-config and with
# the CMake package. Both programs must round-trip a value through a real cache directory.
#   check.sh SOURCE_ROOT BUILD_DIR
set -eu
src=$1
build=$2
work=$(mktemp -d "${LARDER_TEST_TMP:-/tmp}/consumer.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

meson install -C "$build" --no-rebuild --quiet --destdir "$work/stage" >/dev/null
# --destdir stages under the configured prefix; move that prefix's content to our own.
configured=$(meson introspect --buildoptions "$build" |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"][0])')
mv "$work/stage$configured" "$prefix"
libdir=$(meson introspect --buildoptions "$build" |
  python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"][0])')
export PKG_CONFIG_PATH="$prefix/$libdir/pkgconfig"
# The .pc file names the configured prefix; point it at the staging one.
sed -i "s|^prefix=.*|prefix=$prefix|" "$PKG_CONFIG_PATH/larder.pc"

static=
[ -e "$prefix/$libdir/liblarder.a" ] && static=--static
cxx=${CXX:-c++}
# shellcheck disable=SC2046
$cxx -std=c++20 -o "$work/consumer-pc" "$src/test/consumer/main.cpp" \
  $(pkg-config --cflags larder) $(pkg-config --libs $static larder)
LD_LIBRARY_PATH="$prefix/$libdir" "$work/consumer-pc" "$work/cache-pc"

if command -v cmake >/dev/null; then
  cmake -S "$src/test/consumer" -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" \
    -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/cmake" >/dev/null
  LD_LIBRARY_PATH="$prefix/$libdir" "$work/cmake/consumer" "$work/cache-cmake"
else
  echo "cmake not installed: the CMake package was not checked" >&2
  exit 77
fi
