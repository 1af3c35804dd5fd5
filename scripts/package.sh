#!/usr/bin/env bash
# Builds the Debian packages (debian/) with dpkg-buildpackage into build/deb/,
# installs them, smoke-tests the installed ktaudit (the binary, a real signed
# checkpoint, man pages, the systemd unit, the example config, the library
# from a consumer project), then purges them again so the machine is left as
# it was. Re-runnable; needs root (apt-get) on Debian 12. Used by CI after the
# tests. Usage: scripts/package.sh [--check] [--lintian]
#   --check    also run the test suite in the package build (dh_auto_test);
#              by default DEB_BUILD_OPTIONS=nocheck, as CI has run it already.
#   --lintian  also run lintian (installed if missing); fails on errors.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
start=$(date +%s)
check=0
lint=0
for a in "$@"; do
  case $a in
  --check) check=1 ;;
  --lintian) lint=1 ;;
  *)
    echo "usage: scripts/package.sh [--check] [--lintian]" >&2
    exit 2
    ;;
  esac
done
jobs=${KTA_JOBS:-$(nproc 2>/dev/null || echo 2)}
debs=(ktaudit libktaudit0 libktaudit-dev)

if [ "$(id -u)" -ne 0 ]; then
  echo "package: needs root (apt-get install of build dependencies and of the .deb)" >&2
  exit 3
fi

# ---- build dependencies (only what is missing, as scripts/setup.sh) ------
pkgs=(dpkg-dev debhelper fakeroot build-essential cmake pkg-config libssl-dev
      libcurl4-openssl-dev libjansson-dev libsqlite3-dev adduser)
if [ "$check" -eq 1 ]; then
  pkgs+=(libcmocka-dev git libxml2-utils openssl python3 python3-yaml sqlite3)
fi
[ "$lint" -eq 0 ] || pkgs+=(lintian)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "package: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

for p in "${debs[@]}"; do
  if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep 'install ok installed' >/dev/null; then
    echo "package: $p is already installed; the smoke test would replace and then purge it." >&2
    echo "package: remove it first: apt-get purge ${debs[*]}" >&2
    exit 3
  fi
done

version=$(dpkg-parsechangelog -l debian/changelog -S Version)
arch=$(dpkg-architecture -q DEB_HOST_ARCH)
out=$top/build/deb
srcdir=$out/ktaudit-$version

# ---- a clean copy of the source tree -------------------------------------
# dpkg-buildpackage writes its results next to the source directory: build
# from build/deb/ktaudit-VERSION so that they land in build/deb/.
rm -rf "$out"
mkdir -p "$srcdir"
if [ -d .git ] && command -v git >/dev/null; then
  # Tracked and new (not ignored) files, as they are in the working tree.
  git ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    tar --null -T - -cf - | tar -xf - -C "$srcdir"
else
  tar --exclude='./build*' --exclude=./.git --exclude=./out -cf - . | tar -xf - -C "$srcdir"
fi

# ---- build ---------------------------------------------------------------
echo "== dpkg-buildpackage (ktaudit $version, $arch$([ "$check" -eq 1 ] || echo ', nocheck'))"
opts="${DEB_BUILD_OPTIONS:-}"
profiles="${DEB_BUILD_PROFILES:-}"
if [ "$check" -eq 0 ]; then
  opts="nocheck $opts"
  profiles="nocheck $profiles"
fi
if ! (cd "$srcdir" && DEB_BUILD_OPTIONS="$opts" DEB_BUILD_PROFILES="$profiles" \
  dpkg-buildpackage -us -uc -j"$jobs") >"$out/build.log" 2>&1; then
  tail -40 "$out/build.log" >&2
  echo "package: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
fi
rm -rf "$srcdir" # the build tree; the results are next to it
for p in "${debs[@]}"; do
  [ -f "$out/${p}_${version}_$arch.deb" ] || {
    echo "package: $out/${p}_${version}_$arch.deb was not built" >&2
    exit 1
  }
done
if [ "$lint" -eq 1 ]; then
  echo "== lintian"
  lrc=0
  lintian --fail-on error "$out/ktaudit_${version}_$arch.changes" >"$out/lintian.log" 2>&1 || lrc=$?
  grep -v 'running with root privileges' "$out/lintian.log" | sed 's/^/  /' || true
  if [ "$lrc" -ne 0 ]; then
    echo "package: lintian reports errors" >&2
    exit 1
  fi
fi

# ---- install and smoke-test ----------------------------------------------
had_user=0
getent passwd ktaudit >/dev/null && had_user=1
cleanup() {
  local rc=$?
  DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${debs[@]}" >/dev/null 2>&1 || true
  if [ "$had_user" -eq 0 ] && getent passwd ktaudit >/dev/null; then
    deluser --quiet --system ktaudit >/dev/null 2>&1 || true
    delgroup --quiet --system ktaudit >/dev/null 2>&1 || true
  fi
  rm -rf "${tmp:-}"
  exit "$rc"
}
trap cleanup EXIT
tmp=$(mktemp -d)

echo "== apt-get install ./build/deb/{ktaudit,libktaudit0,libktaudit-dev}_${version}_$arch.deb"
if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
  "$out/ktaudit_${version}_$arch.deb" "$out/libktaudit0_${version}_$arch.deb" \
  "$out/libktaudit-dev_${version}_$arch.deb" >"$tmp/apt.log" 2>&1; then
  cat "$tmp/apt.log" >&2
  echo "package: apt-get install of the .deb failed" >&2
  exit 1
fi

PASS=0
FAIL=0
ok() { # ok DESC -- CMD...: CMD must exit 0
  local desc=$1
  shift 2
  if "$@" >"$tmp/out" 2>&1; then
    PASS=$((PASS + 1))
    echo "  ok: $desc"
  else
    FAIL=$((FAIL + 1))
    echo "  FAIL: $desc" >&2
    sed 's/^/    /' "$tmp/out" | head -10 >&2
  fi
}
exits() { # exits CODE DESC -- CMD...: CMD must exit CODE
  local want=$1 desc=$2 got
  shift 3
  set +e
  "$@" >"$tmp/out" 2>&1
  got=$?
  set -e
  if [ "$got" -eq "$want" ]; then
    PASS=$((PASS + 1))
    echo "  ok: $desc"
  else
    FAIL=$((FAIL + 1))
    echo "  FAIL: $desc: exit $got, want $want" >&2
    sed 's/^/    /' "$tmp/out" | head -10 >&2
  fi
}
listed() { # listed PACKAGE PATH: dpkg -L PACKAGE lists PATH
  dpkg -L "$1" | grep -xF "$2" >/dev/null
}

echo "== smoke tests"
E=$top/testdata/example-log
VKEY=$(cat "$E/log.vkey")
ok "ktaudit is /usr/bin/ktaudit" -- test "$(command -v ktaudit)" = /usr/bin/ktaudit
ok "ktaudit --version prints $version" -- sh -c "ktaudit --version | grep -F 'ktaudit $version'"
exits 0 "verify checkpoint (example log, Ed25519) exits 0" -- /usr/bin/ktaudit verify checkpoint \
  "$E/checkpoint" --log-key "$VKEY" --origin example.com/testdata
sed '3s/^r/R/' "$E/checkpoint" >"$tmp/forged.cp"
exits 1 "a checkpoint altered after signing exits 1" -- /usr/bin/ktaudit verify checkpoint \
  "$tmp/forged.cp" --log-key "$VKEY" --origin example.com/testdata
exits 0 "verify inclusion (leaf 3 in 15) exits 0" -- /usr/bin/ktaudit verify inclusion \
  --proof "$E/inclusion-3-in-15.json" --entry "$E/entries/03" --checkpoint "$E/checkpoint" \
  --log-key "$VKEY" --origin example.com/testdata
ok "the packaged example config passes --check-config" -- /usr/bin/ktaudit monitor \
  --config /usr/share/doc/ktaudit/examples/ktaudit.conf --check-config
for m in /usr/share/man/man1/ktaudit.1.gz /usr/share/man/man5/ktaudit.conf.5.gz; do
  ok "dpkg -L ktaudit lists $m" -- listed ktaudit "$m"
done
# Only when man-db is there and dpkg did not drop the manuals (path-exclude).
if command -v man >/dev/null && [ -f /usr/share/man/man1/ktaudit.1.gz ]; then
  ok "man -w ktaudit" -- test "$(man -w ktaudit)" = /usr/share/man/man1/ktaudit.1.gz
  ok "man -w 5 ktaudit.conf" -- test "$(man -w 5 ktaudit.conf)" = /usr/share/man/man5/ktaudit.conf.5.gz
fi
unit=/lib/systemd/system/ktaudit.service
ok "the unit is installed" -- test -f "$unit"
ok "the unit runs /usr/bin/ktaudit" -- grep -q '^ExecStart=/usr/bin/ktaudit monitor ' "$unit"
ok "the unit is not enabled (the operator writes the config first)" -- \
  test ! -e /etc/systemd/system/multi-user.target.wants/ktaudit.service
ok "the unit's Documentation= file is packaged" -- listed ktaudit /usr/share/doc/ktaudit/operating.md
ok "the system user ktaudit exists" -- getent passwd ktaudit
ok "dpkg -L ktaudit lists the example config" -- listed ktaudit /usr/share/doc/ktaudit/examples/ktaudit.conf
ok "no /etc/ktaudit/ktaudit.conf is shipped" -- test ! -e /etc/ktaudit/ktaudit.conf
ok "dpkg -L libktaudit0 lists libktaudit.so.0" -- listed libktaudit0 "/usr/lib/$(dpkg-architecture -q DEB_HOST_MULTIARCH)/libktaudit.so.0"
ok "dpkg -L libktaudit-dev lists the headers" -- listed libktaudit-dev /usr/include/ktaudit/merkle.h
ok "pkg-config --modversion ktaudit is $version" -- test "$(pkg-config --modversion ktaudit)" = "$version"
consumer=$top/tests/install/consumer
want="inclusion of leaf 5 in 8 (3 hashes): ok"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
ok "a pkg-config consumer builds and verifies an inclusion proof" -- sh -c \
  "cc -std=c11 -Wall -Wextra -Werror '$consumer/main.c' -o '$tmp/pc' \$(pkg-config --cflags --libs ktaudit) && '$tmp/pc' | grep -qxF '$want'"
ok "a find_package(ktaudit) consumer builds and verifies an inclusion proof" -- sh -c \
  "cmake -S '$consumer' -B '$tmp/cm' && cmake --build '$tmp/cm' && '$tmp/cm/consumer' | grep -qxF '$want'"

echo "== apt-get purge ${debs[*]}"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${debs[@]}" >"$tmp/apt.log" 2>&1 || {
  cat "$tmp/apt.log" >&2
  FAIL=$((FAIL + 1))
}
ok "ktaudit is gone after the purge" -- test ! -e /usr/bin/ktaudit

echo
echo "== summary"
for f in "$out"/*.deb "$out"/*.dsc "$out"/*.tar.* "$out"/*.changes; do
  [ -f "$f" ] && printf '  build/deb/%-46s %8d bytes\n' "${f##*/}" "$(stat -c %s "$f")"
done
echo "  smoke tests: $PASS passed, $FAIL failed; $(($(date +%s) - start)) s"
[ "$FAIL" -eq 0 ]
