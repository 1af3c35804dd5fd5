#!/usr/bin/env bash
# Crash test of the monitor (issue 4, "Each cycle" step 5): kill -9 at random
# points during a long replay (50k entries) and during delivery (a slow exec
# sink), many times, restarting each time; at the end the alerts (by id), the
# outbox (no duplicates), the stored checkpoint and compact range, the label
# index and history, and the watch list must equal those of an uninterrupted
# run. Delivery is at least once, so a sink may see an alert twice; the set
# it saw must be complete. With KTA_CRASH_COMMIT_EVERY=N (see
# test_monitor_crash_chunked.sh) both runs commit the replay every N entries
# (ktaudit.conf(5) commit_every), and the kills land in any chunk. With
# KTA_CRASH_SHARD=K/N both runs audit one shard of the labels
# (ktaudit.conf(5) shard). With KTA_CRASH_EXCLUSIVE=1 (see
# test_monitor_crash_exclusive.sh) every other run of the trials holds the
# state alone (`--once --exclusive`, a rollback journal), so that a run
# killed in either mode is resumed in the other.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

N=${KTA_CRASH_ENTRIES:-50000}
KILLS=${KTA_CRASH_KILLS:-20}    # kill -9 this many runs...
BUDGET=${KTA_CRASH_SECONDS:-45} # ...but start no run after this long (bounded time)
CE=${KTA_CRASH_COMMIT_EVERY:-0}  # commit_every; 0: one transaction (the default at 50k)
SH=${KTA_CRASH_SHARD:-}          # K/N: audit shard K of N; empty: every label
EX=${KTA_CRASH_EXCLUSIVE:-0}     # 1: every other run with --exclusive
# the unauthorized updates (of user-0..user-9) the audited labels get
MIN=$(python3 -c '
import hashlib, sys
k, n = (map(int, sys.argv[1].split("/")) if sys.argv[1] else (0, 1))
print(sum(int.from_bytes(hashlib.sha256(b"user-%d" % i).digest()[:8], "big") % n == k
          for i in range(10)))' "$SH")

$K keygen --name example.com/crash --out "$T/crash.log.key" >"$T/crash.log.vkey"
# N entries; every 5000th updates an earlier label without authorization
$MKLOG gen "$T/crash.srv" example.com/crash "$N" 5000
$K sign --key "$T/crash.log.key" --out "$T/crash.srv/checkpoint" "$T/crash.srv/checkpoint.txt"
serve "$T/crash.srv"
# an exec sink that records what it got, slowly, so that kills land in delivery
printf 'cat >>"$1"\nsleep 0.2\n' >"$T/rec.sh"
for run in ref crash; do
  LOG=crash mkconf "$run" "$URL" "watch user-0 tofu"
  sed -i "s|^sink file .*|sink exec /bin/sh $T/rec.sh $T/$run.rec|" "$T/$run.conf"
  sed -i "1i commit_every $CE" "$T/$run.conf"
  # the smallest cache: SQLite's pages spill into the database mid-chunk, so
  # a kill in an --exclusive run leaves a journal that must be rolled back
  [ "$EX" != 1 ] || sed -i "1i index_cache 8" "$T/$run.conf"
  [ -z "$SH" ] || echo "shard $SH" >>"$T/$run.conf" # the log section is last
done

ms() { date +%s%3N; }

# lines FILE: its line count (0 if absent)
lines() {
  if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# hot: the state has a hot rollback journal (in exclusive locking mode a
# finished transaction zeroes the journal's header instead of deleting it)
hot() {
  [ -s "$T/crash.state/state.db-journal" ] &&
    [ "$(head -c1 "$T/crash.state/state.db-journal" | od -An -tu1 | tr -d ' ')" != 0 ]
}

# replayed ERR REC N0: the run logging to ERR has finished its replay. In
# one transaction the findings are logged after the commit; in chunks they
# are logged after each chunk, so there the sign is the delivery (REC has
# more than N0 lines).
replayed() {
  if [ "$CE" -eq 0 ]; then grep -q "ALERT:" "$1"; else [ "$(lines "$2")" -gt "$3" ]; fi
}

# the uninterrupted run; span: how long its replay took (from the
# "replaying" line to its end, `replayed`)
$K monitor --config "$T/ref.conf" --once >"$T/out" 2>"$T/err" &
pid=$!
BGPIDS="$BGPIDS $pid"
t0=0
span=0
while kill -0 "$pid" 2>/dev/null; do
  [ "$t0" -eq 0 ] && grep -q "replaying entries" "$T/err" && t0=$(ms)
  [ "$t0" -ne 0 ] && [ "$span" -eq 0 ] && replayed "$T/err" "$T/ref.rec" 0 && span=$(($(ms) - t0))
  sleep 0.01
done
rc=0
wait "$pid" || rc=$?
[ "$span" -gt 0 ] || span=1000
ok '[ "$rc" -eq 1 ]' "uninterrupted run finds the unauthorized updates (exit $rc)"
nref=$($ALERTS count "$T/ref.rec")
ok '[ "$nref" -ge "$MIN" ] && [ "$MIN" -ge 3 ]' "reference: $nref alerts delivered (at least $MIN)"
[ -z "$SH" ] || ok 'grep -q "auditing the labels of shard $SH" "$T/err"' "the runs audit shard $SH"

# check_trial: the state and what the sink saw equal the uninterrupted run's
check_trial() {
  $ALERTS state "$T/crash.state/state.db" >"$T/crash.dump"
  ok 'cmp -s "$T/ref.dump" "$T/crash.dump"' "trial $trial: state equals the uninterrupted run's"
  $ALERTS ids "$T/crash.rec" >"$T/crash.ids"
  ok 'cmp -s "$T/ref.ids" "$T/crash.ids"' "trial $trial: the sink saw the same alerts (at least once)"
  for cmd in "watch list" "history user-0"; do
    $K $cmd --config "$T/crash.conf" >"$T/crash.out"
    ok 'cmp -s "$T/ref.$cmd" "$T/crash.out"' "trial $trial: $cmd: same output"
  done
}
$ALERTS state "$T/ref.state/state.db" >"$T/ref.dump"
$ALERTS ids "$T/ref.rec" >"$T/ref.ids"
ok 'grep -q "^logs example.com/crash|$N|" "$T/ref.dump"' "the stored checkpoint has size $N"
ok 'grep -qx "alerts-count $nref $nref" "$T/ref.dump"' "outbox: $nref alerts, no id twice"
ok '! grep -q "^pending " "$T/ref.dump"' "no catch-up left pending"
for cmd in "watch list" "history user-0"; do
  $K $cmd --config "$T/ref.conf" >"$T/ref.$cmd"
  ok '[ -s "$T/ref.$cmd" ]' "reference: $cmd"
done

# The same, killed with kill -9 and restarted, again and again. A trial
# starts from an empty state: its first 1-3 runs are killed at a random
# point of the replay (after the "replaying" line, before the commit), the
# next 1-3 in the middle of the delivery (just after the sink received an
# alert), and then a run finishes on its own; the outcome is compared with
# the uninterrupted run. The kill points follow the run's own progress, not
# the clock, so a slow or loaded machine changes nothing.
killed=0
xruns=0   # runs with --exclusive
xkilled=0 # ... killed
xk_replay=0 # ... in the replay
xhot=0      # ... leaving a hot journal
resumed=0 # runs that went on from a chunk an earlier, killed run committed
k_replay=0
k_delivery=0
trial=1
rounds=0
tk=0                      # kills in this trial
kr=$((1 + RANDOM % 3))    # ... in the replay
kd=$((kr + 1 + RANDOM % 3)) # ... in all
start=$(ms)
while [ "$killed" -lt "$KILLS" ] && [ $(($(ms) - start)) -lt $((BUDGET * 1000)) ]; do
  rounds=$((rounds + 1))
  n0=$(lines "$T/crash.rec")
  x=
  if [ "$EX" = 1 ] && [ $((rounds % 2)) -eq 1 ]; then
    x=--exclusive
    xruns=$((xruns + 1))
  fi
  $K monitor --config "$T/crash.conf" --once $x >/dev/null 2>"$T/crash.err" &
  pid=$!
  BGPIDS="$BGPIDS $pid"
  if [ "$tk" -ge "$kd" ]; then
    # this trial has had its kills: let the run finish
    while kill -0 "$pid" 2>/dev/null; do sleep 0.01; done
  elif [ "$tk" -lt "$kr" ]; then
    # in the replay: a random point of it
    while kill -0 "$pid" 2>/dev/null && ! grep -q "replaying entries" "$T/crash.err"; do sleep 0.01; done
    if [ -n "$x" ] && [ "$xhot" -eq 0 ]; then
      # until a kill has left a hot journal, an --exclusive run is killed
      # as soon as it has one (random points leave one about half the time)
      while kill -0 "$pid" 2>/dev/null && ! hot && ! replayed "$T/crash.err" "$T/crash.rec" "$n0"; do
        sleep 0.005
      done
    else
      d=$((RANDOM * span / 32768))
      t0=$(ms)
      while kill -0 "$pid" 2>/dev/null && [ $(($(ms) - t0)) -lt "$d" ] &&
        ! replayed "$T/crash.err" "$T/crash.rec" "$n0"; do sleep 0.01; done
    fi
  else
    # in the delivery: just after the sink got one more alert
    while kill -0 "$pid" 2>/dev/null && [ "$(lines "$T/crash.rec")" -le "$n0" ]; do sleep 0.01; done
    sleep "0.0$((RANDOM % 10))"
  fi
  if kill -9 "$pid" 2>/dev/null; then
    killed=$((killed + 1))
    [ -z "$x" ] || xkilled=$((xkilled + 1))
    tk=$((tk + 1))
    wait "$pid" 2>/dev/null || true
    grep -q "resuming the interrupted catch-up" "$T/crash.err" && resumed=$((resumed + 1))
    # the findings are logged after the commit, before the delivery
    if replayed "$T/crash.err" "$T/crash.rec" "$n0" || ! grep -q "replaying entries" "$T/crash.err"; then
      k_delivery=$((k_delivery + 1))
    else
      k_replay=$((k_replay + 1))
      if [ -n "$x" ]; then
        xk_replay=$((xk_replay + 1))
        # a hot journal: the next run must roll it back
        if hot; then xhot=$((xhot + 1)); fi
      fi
      # the next replay kill lands a little earlier if this one was late
      [ "$span" -gt 50 ] && span=$((span * 9 / 10))
    fi
    continue
  fi
  rc=0
  wait "$pid" || rc=$?
  grep -q "resuming the interrupted catch-up" "$T/crash.err" && resumed=$((resumed + 1))
  ok '[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]' "trial $trial: a run that was not killed finishes (exit $rc)"
  check_trial
  rm -rf "$T/crash.state" "$T/crash.rec"
  trial=$((trial + 1))
  tk=0
  kr=$((1 + RANDOM % 3))
  kd=$((kr + 1 + RANDOM % 3))
done
ok '[ "$k_replay" -ge 1 ] && [ "$k_delivery" -ge 1 ]' "killed during the replay ($k_replay) and during the delivery ($k_delivery)"
[ "$EX" != 1 ] || ok '[ "$xhot" -ge 1 ] && [ "$((killed - xkilled))" -ge 1 ]' \
  "runs killed with --exclusive ($xkilled, $xk_replay in the replay, $xhot leaving a hot journal) and without ($((killed - xkilled)))"
if [ "$CE" -eq 0 ]; then
  ok '[ "$resumed" -eq 0 ]' "one transaction: nothing to resume"
else
  ok '[ "$resumed" -ge 1 ]' "runs resumed an interrupted catch-up ($resumed)"
fi
# finish the last trial without a kill (held alone when runs may be)
rc=0
x=
[ "$EX" != 1 ] || x=--exclusive
$K monitor --config "$T/crash.conf" --once $x >/dev/null 2>"$T/crash.err" || rc=$?
ok '[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ]' "last trial: finishes (exit $rc)"
check_trial
echo "crash test: $killed kills ($k_replay in the replay, $k_delivery in the delivery) in $rounds rounds, $trial trials of $N entries, commit_every $CE, shard ${SH:-none}, $resumed resumed, $xruns runs with --exclusive ($xkilled killed, $xk_replay in the replay, $xhot hot journals)"
finish
