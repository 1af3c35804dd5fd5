#!/usr/bin/env bash
# Installs ktaudit's build and test dependencies on Debian 12 when missing
# (idempotent; needs root for apt-get). Used by the README commands and CI.
set -euo pipefail

pkgs=(build-essential cmake pkg-config libssl-dev libcurl4-openssl-dev libjansson-dev
      libcmocka-dev libsqlite3-dev sqlite3 python3 openssl ca-certificates clang
      libclang-rt-14-dev curl libxml2-utils python3-yaml git groff-base)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages and not root; install them: apt-get install ${missing[*]}" >&2
    exit 3
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
