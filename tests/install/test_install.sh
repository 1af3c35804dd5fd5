#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then: every file a user expects
# is there (binary, shared library, headers, pkg-config file, CMake package,
# man pages, systemd unit, example config), and a project outside the tree
# (tests/install/consumer) builds against it with find_package(ktaudit) and
# with `pkg-config --cflags --libs ktaudit`, runs and prints the expected
# results. Registered in CMakeLists.txt as the ctest test install/consumer.
#
# Usage: test_install.sh BUILD_DIR SOURCE_DIR
# Environment (set by CMakeLists.txt): KTA_CC, KTA_VERSION, KTA_SANITIZE,
# KTA_BINDIR, KTA_LIBDIR, KTA_INCLUDEDIR, KTA_MANDIR, KTA_DOCDIR (the
# GNUInstallDirs values, relative to the prefix).
set -euo pipefail
build=${1:?usage: test_install.sh BUILD_DIR SOURCE_DIR}
src=${2:?usage: test_install.sh BUILD_DIR SOURCE_DIR}
: "${KTA_CC:?}" "${KTA_VERSION:?}" "${KTA_BINDIR:?}" "${KTA_LIBDIR:?}" "${KTA_INCLUDEDIR:?}"
: "${KTA_MANDIR:?}" "${KTA_DOCDIR:?}"

for d in "$KTA_BINDIR" "$KTA_LIBDIR" "$KTA_INCLUDEDIR" "$KTA_MANDIR" "$KTA_DOCDIR"; do
  case $d in
  /*)
    echo "FAIL: install directory $d is absolute; this test installs into a temporary prefix" >&2
    exit 1
    ;;
  esac
done

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$T/prefix
FAIL=0
fail() {
  echo "FAIL: $*" >&2
  FAIL=$((FAIL + 1))
}

# A sanitizer build's library needs the runtime in the executable.
cflags=()
if [ "${KTA_SANITIZE:-OFF}" = ON ]; then
  cflags=("-fsanitize=address,undefined" -fno-omit-frame-pointer)
fi

unset DESTDIR
if ! cmake --install "$build" --prefix "$P" >"$T/install.log" 2>&1; then
  cat "$T/install.log" >&2
  echo "FAIL: cmake --install" >&2
  exit 1
fi

# ---- the installed files ------------------------------------------------
need() { # need FILE DESC
  [ -f "$1" ] || fail "$2 not installed: ${1#"$P"/}"
}
need "$P/$KTA_BINDIR/ktaudit" "the binary"
[ -x "$P/$KTA_BINDIR/ktaudit" ] || fail "bin/ktaudit is not executable"
need "$P/$KTA_LIBDIR/libktaudit.so.$KTA_VERSION" "the shared library"
[ -L "$P/$KTA_LIBDIR/libktaudit.so.0" ] || fail "the SONAME link libktaudit.so.0 is missing"
[ -L "$P/$KTA_LIBDIR/libktaudit.so" ] || fail "the development link libktaudit.so is missing"
need "$P/$KTA_LIBDIR/libktaudit.so.0" "libktaudit.so.0's target"
for a in libktaudit.a libktaudit_static.a; do
  [ ! -e "$P/$KTA_LIBDIR/$a" ] || fail "$a is installed (the static archive is build-internal)"
done
n=0
for h in "$src"/include/ktaudit/*.h; do
  n=$((n + 1))
  i=$P/$KTA_INCLUDEDIR/ktaudit/$(basename "$h")
  if [ ! -f "$i" ]; then
    fail "header not installed: ${i#"$P"/}"
  elif ! cmp -s "$h" "$i"; then
    fail "installed header differs from the source: ${i#"$P"/}"
  fi
done
[ "$n" -gt 0 ] || fail "no headers in $src/include/ktaudit"
pc=$P/$KTA_LIBDIR/pkgconfig/ktaudit.pc
need "$pc" "the pkg-config file"
cm=$P/$KTA_LIBDIR/cmake/ktaudit
need "$cm/ktauditConfig.cmake" "the CMake package"
need "$cm/ktauditConfigVersion.cmake" "the CMake package version file"
need "$cm/ktauditTargets.cmake" "the CMake exported targets"
need "$P/$KTA_MANDIR/man1/ktaudit.1" "ktaudit(1)"
need "$P/$KTA_MANDIR/man5/ktaudit.conf.5" "ktaudit.conf(5)"
unit=$P/lib/systemd/system/ktaudit.service
need "$unit" "the systemd unit"
need "$P/$KTA_DOCDIR/operating.md" "the operating guide (the unit's Documentation=)"
need "$P/$KTA_DOCDIR/install.md" "docs/install.md"
ex=$P/$KTA_DOCDIR/examples/ktaudit.conf
need "$ex" "the example configuration"
[ ! -f "$ex" ] || cmp -s "$ex" "$src/examples/ktaudit.conf" || fail "the example config differs from examples/ktaudit.conf"

# The unit runs the installed binary, by absolute path.
if [ -f "$unit" ]; then
  grep "^ExecStart=" "$unit" | grep -F "ExecStart=$P/$KTA_BINDIR/ktaudit monitor " >/dev/null ||
    fail "the unit's ExecStart is not $P/$KTA_BINDIR/ktaudit: $(grep '^ExecStart=' "$unit")"
  grep "^Documentation=" "$unit" | grep -F "file:$P/$KTA_DOCDIR/operating.md" >/dev/null ||
    fail "the unit's Documentation= does not name $P/$KTA_DOCDIR/operating.md: $(grep '^Documentation=' "$unit")"
  if grep -E '^Exec(Start|StartPre)=' "$unit" | grep -vF "=$P/$KTA_BINDIR/ktaudit " >/dev/null; then
    fail "an Exec line of the unit names another binary: $(grep -E '^ExecStart' "$unit" | tr '\n' ' ')"
  fi
fi

# The library: its SONAME, and only the public kta_ API exported.
so=$P/$KTA_LIBDIR/libktaudit.so.0
if [ -f "$so" ]; then
  soname=$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
  [ "$soname" = libktaudit.so.0 ] || fail "SONAME is \"$soname\", want libktaudit.so.0"
  if [ "${KTA_SANITIZE:-OFF}" != ON ]; then
    other=$(nm -D --defined-only "$so" | awk '$3 !~ /^kta_/ {print $3}')
    [ -z "$other" ] || fail "the library exports non-API symbols: $other"
    nm -D --defined-only "$so" | grep ' kta_merkle_verify_inclusion$' >/dev/null ||
      fail "kta_merkle_verify_inclusion is not exported"
  fi
fi

# The installed binary runs and knows its version.
if out=$("$P/$KTA_BINDIR/ktaudit" --version 2>&1); then
  grep -qF "$KTA_VERSION" <<<"$out" || fail "ktaudit --version does not print $KTA_VERSION: $out"
else
  fail "installed ktaudit --version failed: $out"
fi

# ---- a consumer project ---------------------------------------------------
want="root 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328 matches RFC 6962 vector
inclusion of leaf 5 in 8 (3 hashes): ok
tampered proof: verification failed (exit code 1)
alert kind=key_changed severity=alert log=example.com/dir"

check_output() { # check_output DESC BINARY [ENV...]
  local desc=$1 bin=$2 got
  shift 2
  if ! got=$(env "$@" "$bin" 2>"$T/consumer.err"); then
    fail "$desc: the consumer exited non-zero: $(cat "$T/consumer.err")"
  fi
  if [ "$got" != "$want" ]; then
    fail "$desc: unexpected output"
    diff <(echo "$want") <(echo "$got") >&2 || true
  fi
  readelf -d "$bin" | grep -F '[libktaudit.so.0]' >/dev/null || fail "$desc: not linked with libktaudit.so.0"
}

# 1. find_package(ktaudit) from CMAKE_PREFIX_PATH.
cflags_cmake="${cflags[*]:-}"
if cmake -S "$src/tests/install/consumer" -B "$T/cmake-consumer" -DCMAKE_PREFIX_PATH="$P" \
  -DCMAKE_C_COMPILER="$KTA_CC" -DCMAKE_C_FLAGS="$cflags_cmake" \
  -DCMAKE_EXE_LINKER_FLAGS="$cflags_cmake" >"$T/consumer.log" 2>&1 &&
  cmake --build "$T/cmake-consumer" >>"$T/consumer.log" 2>&1; then
  found=$(sed -n 's/^ktaudit_DIR:PATH=//p' "$T/cmake-consumer/CMakeCache.txt")
  [ "$found" = "$cm" ] || fail "find_package found ktaudit in \"$found\", not in $cm"
  check_output "find_package consumer" "$T/cmake-consumer/consumer"
else
  cat "$T/consumer.log" >&2
  fail "the find_package(ktaudit) consumer did not build"
fi

# 2. The same main.c with pkg-config.
export PKG_CONFIG_PATH=$P/$KTA_LIBDIR/pkgconfig
if [ "$(pkg-config --variable=prefix ktaudit 2>&1)" != "$P" ]; then
  fail "pkg-config: prefix is \"$(pkg-config --variable=prefix ktaudit 2>&1)\", want $P"
fi
[ "$(pkg-config --modversion ktaudit 2>&1)" = "$KTA_VERSION" ] || fail "pkg-config --modversion is not $KTA_VERSION"
pkg-config --print-requires-private ktaudit | grep -x 'sqlite3' >/dev/null || fail "ktaudit.pc lacks Requires.private sqlite3"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
if "$KTA_CC" -std=c11 -Wall -Wextra -Wpedantic -Werror ${cflags[@]+"${cflags[@]}"} \
  "$src/tests/install/consumer/main.c" -o "$T/pc-consumer" \
  $(pkg-config --cflags --libs ktaudit) >"$T/pc.log" 2>&1; then
  check_output "pkg-config consumer" "$T/pc-consumer" LD_LIBRARY_PATH="$P/$KTA_LIBDIR"
else
  cat "$T/pc.log" >&2
  fail "the pkg-config consumer did not build"
fi

if [ "$FAIL" -ne 0 ]; then
  echo "install/consumer: $FAIL failure(s)" >&2
  exit 1
fi
echo "install/consumer: ok ($n headers, find_package and pkg-config consumers)"
