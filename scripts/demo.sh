#!/usr/bin/env bash
# ktaudit's main job in one command (docs/demo.md). On a fresh Debian 12
# machine, as root: installs what is missing (scripts/setup.sh), builds
# build/plain/ktaudit if it is missing or stale (KTAUDIT=/path/to/ktaudit uses
# that binary instead: then nothing is installed or built, only python3 is
# needed), then, in a temporary directory removed at exit:
#   - the reference publisher (`ktaudit dir`) builds a key directory of
#     10,000 users whose key rotations are signed by their owners (auth lines),
#     served over HTTP on loopback, with a second URL for a second view;
#   - auditor A (`ktaudit monitor --config demo.conf`) watches alice and bob;
#     auditor B, alice's own auditor, reads the second URL; the two cosign what
#     they verify and read each other's cosigned checkpoint (gossip);
#   - the provider attacks, one step at a time, each step waiting (bounded)
#     until an auditor has raised it: A1 alice's keys swapped, A2 a ghost
#     device for bob, A11 an unsigned change to carol (watched by nobody),
#     A3/A4 another history of the same size shown to auditor B only;
#   - every alert is printed as it fires, every evidence bundle is checked
#     offline with `ktaudit verify evidence`, and a summary ends the run.
# Exit 0 only if every expected alert fired, nothing else fired, and every
# evidence bundle verified; otherwise 1 with a message saying what is missing.
# Environment: KTAUDIT (a binary to use), KTAUDIT_BUILD_DIR (default
# build/plain), KTAUDIT_DEMO_KEEP=1 (keep the work directory, to look
# around: e.g. `ktaudit history alice@example.org --config DIR/demo.conf`),
# NO_COLOR (no colours even on a terminal).
set -eEuo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
EX=$ROOT/examples/demo
ORIGIN=keys.example.org/demo
STEP_TIMEOUT=30 # seconds an attack may take to be noticed (a bound, not a wait)
POLL=0.2        # seconds between looks at the alert files

now_ms() {
  local t=${EPOCHREALTIME//[!0-9]/}
  echo $((t / 1000))
}
secs() { # secs MS: "1.2 s"
  printf '%d.%d s' $(($1 / 1000)) $(($1 % 1000 / 100))
}
T0=$(now_ms)

if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then
  BOLD=$'\033[1m' GREEN=$'\033[1;32m' RED=$'\033[1;31m' OFF=$'\033[0m' COLOR=--color
else
  BOLD='' GREEN='' RED='' OFF='' COLOR=''
fi
section() { printf '\n%s== %s%s\n' "$BOLD" "$*" "$OFF"; }
say() { printf '  %s\n' "$*"; }
join() { # join SEP [WORD...]
  local sep=$1 out='' w
  shift
  for w in "$@"; do out+=${out:+$sep}$w; done
  printf '%s' "$out"
}
fail() {
  printf '\n%sdemo: FAILED: %s%s\n' "$RED" "$*" "$OFF" >&2
  exit 1
}

# ---- children and the work directory: always cleaned up --------------------
W=''
PIDS=()
alive() { # alive PID: running (not exited, not a zombie)
  local st
  [ -r "/proc/$1/stat" ] || return 1
  read -r _ _ st _ <"/proc/$1/stat" 2>/dev/null || return 1
  [ "$st" != Z ]
}
stop() { # stop PID...: SIGTERM, up to 5 s to exit, then SIGKILL
  local p any
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    any=0
    for p in "$@"; do alive "$p" && any=1; done
    [ "$any" -eq 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do kill -KILL "$p" 2>/dev/null || true; done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  # shellcheck disable=SC2046 # jobs -p: one PID per word
  stop "${PIDS[@]}" $(jobs -p)
  wait 2>/dev/null
  if [ -n "$W" ] && [ "${KTAUDIT_DEMO_KEEP:-}" = 1 ]; then
    echo "demo: kept $W (configurations, state, alerts, logs)" >&2
  elif [ -n "$W" ]; then
    rm -rf "$W"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'fail "line $LINENO: \"$BASH_COMMAND\" failed (exit $?)"' ERR
trap 'echo; echo "demo: interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

printf '%sktaudit demo: a key directory provider attacks its users; two auditors notice%s\n' \
  "$BOLD" "$OFF"

# The data is thrown away at exit: put it in memory when there is room.
# `dir publish` makes its files durable (syncfs), which costs seconds on a
# disk that other work keeps busy and nothing on tmpfs.
base=${TMPDIR:-/tmp}
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ] &&
  [ "$(df -Pk /dev/shm 2>/dev/null | awk 'NR == 2 { print $4 }')" -gt 262144 ] 2>/dev/null; then
  base=/dev/shm
fi
W=$(mktemp -d "$base/ktaudit-demo.XXXXXX")
if [ "${KTAUDIT_DEMO_KEEP:-}" = 1 ]; then
  say "work directory $W (kept: KTAUDIT_DEMO_KEEP=1)"
else
  say "work directory $W (removed at exit)"
fi

# ---- set-up: packages, binary ------------------------------------------------
section "setting up"
if [ -n "${KTAUDIT:-}" ]; then
  # A given binary needs nothing built: only python3 (the provider's data,
  # the HTTP server), as in a package build's test run with no root.
  command -v python3 >/dev/null || fail "python3 is needed: apt-get install python3"
  say "packages: not checked (a binary is given; python3 is present)"
  K=$KTAUDIT
  [ -x "$K" ] || fail "KTAUDIT=$K is not an executable file"
  say "ktaudit: $K (from KTAUDIT; not building)"
else
  "$ROOT/scripts/setup.sh" || fail "scripts/setup.sh could not install the packages"
  say "packages: present (scripts/setup.sh)"
  BUILD=${KTAUDIT_BUILD_DIR:-$ROOT/build/plain}
  K=$BUILD/ktaudit
  t=$(now_ms)
  before=$(stat -c %Y "$K" 2>/dev/null || echo none)
  if [ ! -f "$BUILD/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$W/build.log" 2>&1 ||
      { tail -n 20 "$W/build.log" >&2; fail "cmake could not configure $BUILD"; }
  fi
  cmake --build "$BUILD" --target ktaudit_cli -j"$(nproc 2>/dev/null || echo 2)" \
    >>"$W/build.log" 2>&1 || { tail -n 30 "$W/build.log" >&2; fail "the build failed"; }
  if [ "$before" = "$(stat -c %Y "$K" 2>/dev/null || echo none)" ]; then
    say "ktaudit: $K (up to date)"
  else
    say "ktaudit: $K (built in $(secs $(($(now_ms) - t))))"
  fi
fi
TD=$(now_ms) # the demo proper starts here

# ---- the provider's directory ------------------------------------------------
t=$(now_ms)
mkdir "$W/gen" "$W/a.pub" "$W/b.pub"
python3 "$EX/provider.py" "$W/gen" || fail "examples/demo/provider.py failed"
# shellcheck source=/dev/null
. "$W/gen/provider.env"
"$K" keygen --name "$ORIGIN" --out "$W/log.key" >"$W/log.vkey"
"$K" keygen --witness --name auditor-a.example --out "$W/auditor-a.key" >"$W/auditor-a.vkey"
"$K" keygen --witness --name auditor-b.example --out "$W/auditor-b.key" >"$W/auditor-b.vkey"
LOGVK=$(cat "$W/log.vkey")
KD=$W/keys
"$K" dir init "$KD" --origin "$ORIGIN" --key "$W/log.key" >/dev/null
"$K" dir add "$KD" --from "$W/gen/base.jsonl" >/dev/null
pub=$("$K" dir publish "$KD")
say "provider: directory $ORIGIN, $N_USERS users, $N_BASE entries ($((N_BASE - N_USERS)) key"
say "  rotations signed by their owners), ${pub##*, } in $(secs $(($(now_ms) - t)))"
# The second view starts as a copy of the first (the state and checkpoint
# copied, the tiles and lookups hard-linked: the publisher only ever replaces
# files by renaming new ones into place, docs/publisher.md).
KD2=$W/keys2
mkdir "$KD2"
cp -a "$KD/.ktaudit" "$KD/checkpoint" "$KD2/"
cp -al "$KD/tile" "$KD/lookup" "$KD2/"

python3 "$EX/serve.py" "$W/port" keys="$KD" keys2="$KD2" auditor-a="$W/a.pub" \
  auditor-b="$W/b.pub" 2>"$W/server.log" &
SRV=$!
PIDS+=("$SRV")
for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.1; done
[ -s "$W/port" ] || fail "the HTTP server did not start ($(cat "$W/server.log"))"
HTTP=http://127.0.0.1:$(cat "$W/port")
PUBPATH=${ORIGIN//\//_} # publish_dir/<section name, / as _>/checkpoint
say "served over HTTP: $HTTP/keys/, and a second URL $HTTP/keys2/"

# daemon_check: fails if a daemon has exited.
daemon_check() {
  local p n
  for p in "$PIDA:A:a" "$PIDB:B:b"; do
    alive "${p%%:*}" && continue
    n=${p#*:}
    tail -n 20 "$W/${n#*:}.log" >&2
    fail "auditor ${n%%:*}'s daemon exited (its log is above)"
  done
}

# ---- the auditors -------------------------------------------------------------
# mkconf NAME URL PEER_NAME [WATCH_LINE...]: the configuration of auditor NAME
# ($W/NAME.conf; $W/NAME.boot.conf without the peer, for its first run).
mkconf() {
  local name=$1 url=$2 peer=$3 l
  shift 3
  {
    echo "# ktaudit demo: auditor ${name^^} (generated by scripts/demo.sh)"
    echo "state_dir $W/$name.state"
    echo "sink file $W/$name.alerts"
    echo "witness_key $W/auditor-$name.key"
    echo "publish_dir $W/$name.pub"
    echo "log $ORIGIN"
    echo "url $url"
    echo "key $LOGVK"
    echo "poll 1"
    for l in "$@"; do echo "$l"; done
  } >"$W/$name.boot.conf"
  cp "$W/$name.boot.conf" "$W/$name.conf"
  echo "peer $HTTP/auditor-$peer/$PUBPATH/ $(cat "$W/auditor-$peer.vkey")" >>"$W/$name.conf"
}
mkconf a "$HTTP/keys/" b "watch $ALICE $ALICE_KEYS" "watch $BOB $BOB_KEYS"
mv "$W/a.conf" "$W/demo.conf"
mkconf b "$HTTP/keys2/" a "watch $ALICE $ALICE_KEYS"
# First runs, one cycle each without the peer (whose cosigned checkpoint does
# not exist yet): trust the current checkpoint, replay every entry, cosign.
for a in a b; do
  t=$(now_ms)
  rc=0
  "$K" monitor --config "$W/$a.boot.conf" --once 2>"$W/$a.boot.log" || rc=$?
  if [ "$rc" -ne 0 ]; then
    tail -n 20 "$W/$a.boot.log" >&2
    fail "auditor ${a^^}'s first run exited $rc, want 0 (an honest directory)"
  fi
  ms=$(($(now_ms) - t))
  [ -s "$W/$a.pub/$PUBPATH/checkpoint" ] ||
    fail "auditor ${a^^} did not publish its cosigned checkpoint in $W/$a.pub/$PUBPATH/"
  if [ "$a" = a ]; then
    say "auditor A (demo.conf): watches $ALICE and $BOB (pinned keys) at /keys/;"
  else
    say "auditor B: alice's own auditor, watches $ALICE at the second URL /keys2/;"
  fi
  say "  first run replayed all $N_BASE entries, checked every auth line: no alert ($(secs $ms))"
done
"$K" monitor --config "$W/demo.conf" 2>"$W/a.log" &
PIDA=$!
"$K" monitor --config "$W/b.conf" 2>"$W/b.log" &
PIDB=$!
PIDS+=("$PIDA" "$PIDB")
for _ in $(seq 1 100); do
  grep -q "monitor started" "$W/a.log" && grep -q "monitor started" "$W/b.log" && break
  sleep 0.1
done
daemon_check
say "daemons: ktaudit monitor --config demo.conf (pid $PIDA), auditor B (pid $PIDB);"
say "  each polls every second, cosigns what it verified and reads the other's (gossip)"
say "alerts below: [auditor] SEVERITY kind label version: detail"

# ---- watching the alert files ---------------------------------------------------
SEEN=$W/seen
EXPECTED=$W/expected
: >"$SEEN"
: >"$EXPECTED"
sizes() { { stat -c %s "$W/a.alerts" "$W/b.alerts" 2>/dev/null || true; } | tr '\n' ' '; }
LAST_SIZES=''
pump() { # prints the alerts written since the last call
  local s
  s=$(sizes)
  [ "$s" = "$LAST_SIZES" ] && return 0
  LAST_SIZES=$s
  python3 "$EX/alerts.py" new "$W/offsets" "$SEEN" $COLOR A="$W/a.alerts" B="$W/b.alerts"
}
# await NAME "AUDITOR KIND LABEL"...: waits (at most STEP_TIMEOUT s) until
# each alert has been seen, printing alerts as they fire.
DETECT=()
await() {
  local name=$1 t deadline e missing
  shift
  printf '%s\n' "$@" >>"$EXPECTED"
  t=$(now_ms)
  deadline=$((t + STEP_TIMEOUT * 1000))
  while :; do
    pump
    missing=()
    for e in "$@"; do grep -qxF -- "$e" "$SEEN" || missing+=("$e"); done
    if [ ${#missing[@]} -eq 0 ]; then
      say "${GREEN}detected${OFF} after $(secs $(($(now_ms) - t)))"
      DETECT+=("$name $(secs $(($(now_ms) - t)))")
      return 0
    fi
    daemon_check
    if [ "$(now_ms)" -gt "$deadline" ]; then
      tail -n 15 "$W/a.log" | sed 's/^/  A: /' >&2
      tail -n 15 "$W/b.log" | sed 's/^/  B: /' >&2
      fail "$name: no alert after ${STEP_TIMEOUT} s: missing ${missing[*]}"
    fi
    sleep "$POLL"
  done
}
# publish DIR FILE: the provider queues FILE's updates and publishes them;
# PUBLISHED is the publisher's summary ("published N entries: size S").
publish() {
  local out
  "$K" dir add "$1" --from "$2" >/dev/null 2>>"$W/provider.log" ||
    fail "dir add $2 failed: $(tail -n 3 "$W/provider.log")"
  out=$("$K" dir publish "$1" 2>>"$W/provider.log") ||
    fail "dir publish $1 failed: $(tail -n 3 "$W/provider.log")"
  PUBLISHED=${out%%, root *}
}

# ---- the attacks ------------------------------------------------------------------
section "1/4  A1 silent key swap: the provider replaces alice's keys with its own"
publish "$KD" "$W/gen/step1.jsonl"
say "provider: $N_HONEST owner-signed rotations of other users, then alice's new keys,"
say "  with no auth line (the provider does not have her key): $PUBLISHED"
await "A1 key swap" "A key_changed $ALICE" "A unauthorized_update $ALICE"

section "2/4  A2 ghost device: a device the provider controls is added to bob"
publish "$KD" "$W/gen/step2.jsonl"
say "provider: $N_HONEST owner-signed rotations, then bob's keys plus a \"ghost\" device:"
say "  $PUBLISHED"
await "A2 ghost device" "A key_changed $BOB" "A unauthorized_update $BOB"

section "3/4  A11 unauthorized change to a user nobody watches: carol's keys reset"
publish "$KD" "$W/gen/step3.jsonl"
say "provider: $N_HONEST owner-signed rotations, then new keys for carol that none of her"
say "  keys signed: $PUBLISHED"
await "A11 unauthorized change" "A unauthorized_update $CAROL"

section "4/4  A3/A4 forked view: auditor B is shown another history of the same size"
publish "$KD2" "$W/gen/fork.jsonl"
say "provider: at the second URL, the history since size $N_BASE rewritten: the same"
say "  updates without the three attacks: $PUBLISHED"
say "  (alone, B's view is consistent and alice's keys look untouched: only gossip can tell)"
await "A3/A4 forked view" "B fork -" "A fork -"

# ---- evidence, offline ------------------------------------------------------------
section "evidence bundles, checked offline with only the log's public key"
stop $PIDA $PIDB "$SRV"
wait "$PIDA" "$PIDB" "$SRV" 2>/dev/null || true
PIDS=()
pump
say "daemons and HTTP server stopped"
shopt -s nullglob
bundles=("$W"/a.state/evidence/*.json "$W"/b.state/evidence/*.json)
shopt -u nullglob
EV_OK=0
EV_BAD=0
while read -r named; do
  [ -f "$named" ] || { say "MISSING: an alert names $named, which does not exist"; EV_BAD=$((EV_BAD + 1)); }
done < <(python3 "$EX/alerts.py" evidence A="$W/a.alerts" B="$W/b.alerts")
for f in "${bundles[@]}"; do
  rel=${f#"$W"/}
  rc=0
  out=$("$K" verify evidence "$f" --log-key "$LOGVK" 2>&1) || rc=$?
  say "\$ ktaudit verify evidence ${rel%%/*}/evidence/$(basename "$f") --log-key \"\$(cat log.vkey)\""
  if [ "$rc" -eq 0 ]; then
    EV_OK=$((EV_OK + 1))
    say "  ${GREEN}PASS${OFF} (exit 0)"
  else
    EV_BAD=$((EV_BAD + 1))
    say "  ${RED}FAIL${OFF} (exit $rc)"
  fi
  printf '%s\n' "$out" | fold -s -w 88 | sed 's/ *$//; s/^/      /'
done

# ---- summary -----------------------------------------------------------------------
section "summary"
unexpected=$(grep -vxF -f "$EXPECTED" "$SEEN" || true)
for who in A B; do
  counts=$(awk -v w="$who" '$1 == w { print $2 }' "$SEEN" | sort | uniq -c |
    awk '{ printf "%s%d %s", (NR > 1 ? ", " : ""), $1, $2 }')
  say "auditor $who alerts: ${counts:-none}"
done
say "attacks detected: ${#DETECT[@]}/4 ($(join ', ' "${DETECT[@]}"))"
if [ -z "$unexpected" ]; then
  say "alerts: $(wc -l <"$SEEN"), each one expected; none for the $((N_BASE + 3 * N_HONEST)) honest entries"
else
  say "UNEXPECTED alerts: $(echo "$unexpected" | tr '\n' ';')"
fi
say "evidence bundles verified offline: $EV_OK/${#bundles[@]}"
if [ -n "${KTAUDIT:-}" ]; then
  say "time: $(secs $(($(now_ms) - T0)))"
else
  say "time: $(secs $(($(now_ms) - T0))) (of which $(secs $((TD - T0))) checking packages and the build)"
fi
problems=()
[ ${#DETECT[@]} -eq 4 ] || problems+=("not every attack was detected")
[ -z "$unexpected" ] || problems+=("unexpected alerts: $(echo "$unexpected" | tr '\n' ';')")
[ "$EV_BAD" -eq 0 ] || problems+=("$EV_BAD evidence bundle(s) failed or are missing")
[ "$EV_OK" -ge 2 ] || problems+=("want an evidence bundle from each auditor's fork alert, have $EV_OK")
[ ${#problems[@]} -eq 0 ] || fail "$(join '; ' "${problems[@]}")"
printf '\n%sPASS%s: every attack raised its alerts, nothing else did, and every evidence bundle holds\n' \
  "$GREEN" "$OFF"
