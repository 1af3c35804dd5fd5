#!/usr/bin/env bash
# The monitor as a daemon (issue 4 "Operating it"): polling, heartbeat file
# and hook, Prometheus textfile metrics, SIGHUP reload, backoff on errors,
# SIGTERM (also during a long replay: exit 0, never half a transaction),
# progress on a terminal and plain lines otherwise.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

newdir dmn
B1=$(randkey)
$K dir add "$T/dmn.d" --label alice --key "ed25519:$(randkey):phone" >/dev/null
$K dir add "$T/dmn.d" --label bob --key "ed25519:$B1:phone" >/dev/null
$K dir publish "$T/dmn.d" >/dev/null
serve "$T/dmn.d"
DSRV=$SRV
printf '#!/bin/sh\necho beat >>"%s"\n' "$T/hooked" >"$T/hook.sh"
chmod +x "$T/hook.sh"
mkconf dmn "$URL" "poll 1"
sed -i "1a heartbeat $T/hb\nheartbeat_exec $T/hook.sh\nmetrics $T/metrics.prom" "$T/dmn.conf"
expect 0 "config with heartbeat and metrics" -- $K monitor --config "$T/dmn.conf" --check-config

# the systemd unit: its command lines are valid invocations
U=$KTA_SRCDIR/dist/ktaudit.service
for key in ExecStartPre ExecStart; do
  line=$(sed -n "s|^$key=/usr/local/bin/ktaudit ||p" "$U")
  ok '[ -n "$line" ]' "unit: $key runs ktaudit"
  ok '[[ "$line" == *"--config /etc/ktaudit/ktaudit.conf"* ]]' "unit: $key names the configuration"
done
line=$(sed -n "s|^ExecStartPre=/usr/local/bin/ktaudit ||p" "$U")
expect 0 "unit: ExecStartPre checks the configuration" -- $K ${line//\/etc\/ktaudit\/ktaudit.conf/$T/dmn.conf}
has out "OK:" "unit: check-config verdict"
if command -v systemd-analyze >/dev/null; then
  sed -e "s|/usr/local/bin/ktaudit|$K|" -e '/^Documentation=/d' "$U" >"$T/ktaudit.service"
  expect 0 "unit: systemd-analyze verify" -- systemd-analyze verify "$T/ktaudit.service"
  ok '[ ! -s "$T/err" ] && [ ! -s "$T/out" ]' "unit: no systemd warning"
fi

$K monitor --config "$T/dmn.conf" 2>"$T/dmn.err" &
DPID=$!
BGPIDS="$BGPIDS $DPID"
waitfor '[ -s "$T/hb" ]' "heartbeat file written after a good cycle"
waitfor '[ -s "$T/hooked" ]' "heartbeat_exec ran"
waitfor 'grep -q "^ktaudit_checkpoint_size{log=\"example.com/dmn\"} 2$" "$T/metrics.prom"' "metrics: checkpoint size"
m=$(cat "$T/metrics.prom")
ok '[[ $m == *"ktaudit_alerts_pending 0"* ]]' "metrics: nothing pending"
ok '[[ $m == *"ktaudit_last_error{log=\"example.com/dmn\",error=\"\"} 0"* ]]' "metrics: no error"
ok '[[ $m == *"ktaudit_last_success_timestamp{log=\"example.com/dmn\"} "* ]]' "metrics: last success"
ok '[[ $m == *"# TYPE ktaudit_entries_replayed_total counter"* ]]' "metrics: typed"
ok '[[ $m == *"ktaudit_checkpoint_age_seconds{log=\"example.com/dmn\"} "* ]]' "metrics: age"
ok '[ "$(stat -c %a "$T/metrics.prom")" = 644 ]' "metrics file readable by node_exporter"

# the log grows: the next poll replays it
$K dir add "$T/dmn.d" --label alice --key "ed25519:$(randkey):phone" >/dev/null 2>&1
$K dir publish "$T/dmn.d" >/dev/null
waitfor 'alerts dmn | grep -qx "unauthorized_update alert label=alice version=2 leaf=2"' "daemon: finds the update"
waitfor 'grep -q "^ktaudit_checkpoint_size{log=\"example.com/dmn\"} 3$" "$T/metrics.prom"' "metrics: new size"

# SIGHUP reloads the configuration: a new pin on bob differs from his keys
echo "watch bob ed25519:$(randkey):phone" >>"$T/dmn.conf"
kill -HUP "$DPID"
waitfor 'grep -q "configuration reloaded" "$T/dmn.err"' "SIGHUP: reloaded"
waitfor 'alerts dmn | grep -qx "key_changed alert label=bob version=1 leaf=1"' "reload: the new pin applies at once"
# a broken configuration is refused and the old one kept
echo "frobnicate" >>"$T/dmn.conf"
kill -HUP "$DPID"
waitfor 'grep -q "reload failed: keeping the previous configuration" "$T/dmn.err"' "SIGHUP: bad config refused"
sed -i '$d' "$T/dmn.conf"

# the log goes away: unreachable warning, backoff, no crash
unserve "$DSRV"
waitfor 'alerts dmn | grep -qx "unreachable warning label=- version=- leaf=-"' "daemon: unreachable warning"
waitfor 'grep -q "could not audit (1 in a row): next cycle in 2 s" "$T/dmn.err"' "backoff: 2 s after one failure"
waitfor 'grep -q "could not audit (2 in a row): next cycle in 4 s" "$T/dmn.err"' "backoff: 4 s after two"
waitfor 'grep -q "^ktaudit_last_error{log=\"example.com/dmn\",error=\"unreachable\"} 1$" "$T/metrics.prom"' "metrics: last error"
ok 'kill -0 "$DPID"' "the daemon is still running"
nalerts dmn 3 "daemon: each alert once"

kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
ok '[ "$rc" -eq 0 ]' "SIGTERM: exit 0 (got $rc)"
cp "$T/dmn.err" "$T/err"
has err "terminating" "SIGTERM: says so"

# SIGTERM during a long replay: exit 0 promptly, nothing half-committed
$K keygen --name example.com/big --out "$T/big.log.key" >"$T/big.log.vkey"
$MKLOG gen "$T/big.srv" example.com/big 30000 0
$K sign --key "$T/big.log.key" --out "$T/big.srv/checkpoint" "$T/big.srv/checkpoint.txt"
serve "$T/big.srv"
mkconf big "$URL" "poll 1"
$K monitor --config "$T/big.conf" 2>"$T/big.err" &
DPID=$!
BGPIDS="$BGPIDS $DPID"
waitfor 'grep -q "replaying entries 0..29999" "$T/big.err"' "long replay started"
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
ok '[ "$rc" -eq 0 ]' "SIGTERM during replay: exit 0 (got $rc)"
expect 0 "after SIGTERM: the state is intact, the replay completes" -- $K monitor --config "$T/big.conf" --once
has err "replaying entries 0..29999" "nothing was half-committed: the replay starts over"

# progress: plain lines without a terminal (none for this short one), a
# redrawn line on a terminal
ok '! grep -q "replaying 1" "$T/err"' "no terminal: no progress bar"
rm -rf "$T/big.state"
script -qec "$K monitor --config $T/big.conf --once" /dev/null >"$T/tty.out" 2>&1 || true
ok 'grep -q "replaying [0-9]*/30000 entries" "$T/tty.out"' "terminal: progress bar with counts"
ok 'grep -q "ETA" "$T/tty.out"' "terminal: ETA"
finish
