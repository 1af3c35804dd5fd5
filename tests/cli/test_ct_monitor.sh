#!/usr/bin/env bash
# CT logs in the monitor (issue 7): `ktaudit monitor --config` with `ctlog`
# sections, --once and as a daemon, against the fake RFC 6962 log on loopback
# (tests/tools/fake_ct_log.py) serving certificates made here with the
# openssl CLI: paging, 429 with Retry-After, fork and rollback with their
# evidence bundles (`verify evidence`, tampered copies rejected), a watched
# domain's certificate with an unapproved key, approved keys reported once,
# state kept across restarts.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

# --- certificates and the fake log ------------------------------------------------
. "$KTA_SRCDIR/tests/tools/ct_lib.sh"
ct_make_certs # entry i holds certificate i % 5; every 4th entry (3, 7, ...) is a precert_entry
LOGKEY=$(openssl pkey -pubin -in "$T/log.pub" -outform der | base64 -w0)
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
openssl ec -in "$T/other.key" -pubout -out "$T/other.pub" 2>/dev/null

echo '{}' >"$T/ctl.json"
python3 "$KTA_SRCDIR/tests/tools/fake_ct_log.py" --certs "$T/certs" --key "$T/log.key" --entries 23 \
  --precert-every 4 --control "$T/ctl.json" --log "$T/req.log" --port-file "$T/port" &
SERVERS="$SERVERS $!"
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
U="http://127.0.0.1:$(cat "$T/port")/"
ctl() { echo "$1" >"$T/ctl.json"; }

# ctconf NAME [LINE...]: $T/NAME.conf with only a ctlog section (no key-directory
# log), state $T/NAME.state and a file sink $T/NAME.alerts.
ctconf() {
  local name=$1
  shift
  {
    echo "state_dir $T/$name.state"
    echo "sink file $T/$name.alerts"
    echo "ctlog $name"
    echo "url $U"
    echo "key $LOGKEY"
    for l in "$@"; do echo "$l"; done
  } >"$T/$name.conf"
}
once() { # once NAME WANT DESC
  expect "$2" "$3" -- $K monitor --config "$T/$1.conf" --once
}

# --- configuration ----------------------------------------------------------------
ctconf a "batch 5" "watch_domain .example.org $GOOD" "watch_domain example.org $GOOD"
expect 0 "check-config with only a ctlog section" -- $K monitor --config "$T/a.conf" --check-config
has out "0 logs, 1 CT log, 1 sink, 2 watches" "check-config counts the CT log and its watches"

# --- first cycle: paging, an unapproved key, approved keys reported ------------------
ctl '{"size": 10, "page": 3}'
: >"$T/req.log"
once a 1 "first cycle: a watched domain's certificate with an unapproved key"
n=$(grep -c '^get-entries' "$T/req.log")
ok '[ "$n" -eq 4 ]' "get-entries paged by what came back: 4 answers of at most 3 (got $n)"
has err "first run: trusting the signed head of size 10" "first run said"
has err "replayed 10 entries (0..10)" "all entries replayed"
has err "ALERT: alert key_changed: certificate for .example.org (login.example.org) with an unapproved key" "alert line"
has err "certificate for example.org (example.org, ...) at entry 1: approved key $GOOD" "approved key reported as info"
has err "certificate for .example.org (mail.example.org) at entry 2: approved key" "approved subdomain"
has_alert a "key_changed alert label=.example.org version=0 leaf=3" "exact alert: domain and entry"
nalerts a 1 "one alert"
$ALERTS get "$T/a.alerts" key_changed details >"$T/d.json"
has d.json '"approved": false' "details: not approved"
has d.json '"names": ["login.example.org"]' "details: DNS names"
has d.json '"entry_type": "precert"' "details: entry 3 is a precertificate"
ok '! grep -q badexample "$T/err"' "a lookalike domain is not reported"

# --- restart: state kept, nothing reported again -----------------------------------
once a 0 "restart at the same head: nothing new"
has err "replayed 0 entries (10..10)" "progress kept across processes"
ok '! grep -q "approved key" "$T/err"' "approved certificates are not reported again"
nalerts a 1 "no alert again"

# --- 429 with Retry-After, then success; the same certificate later: one alert ---------
ctl '{"size": 15, "rate_limit": 2}'
: >"$T/req.log"
once a 1 "grown log behind a rate limit: the unapproved certificate again (entry 13)"
ok 'grep -q "^429" "$T/req.log"' "429 served"
has err "replayed 5 entries (10..15)" "replay completed after the 429s"
has err "at entry 11: approved key" "the new approved certificate (a precert) reported"
nalerts a 1 "the same certificate does not alert twice"

# --- approved keys only: no alert --------------------------------------------------
ctconf b "watch_domain example.org $GOOD"
ctl '{"size": 23}'
once b 0 "a watched domain whose certificates all have approved keys"
has err "at entry 1: approved key" "reported as info"
has err "at entry 21: approved key" "every one of them"
nalerts b 0 "no alert for approved keys"

# --- fork: same size, another root; evidence ----------------------------------------
ctl '{"size": 15, "fork": true}'
once a 1 "same size, another root"
has err "critical fork: a: two signed heads of size 15/15 with different roots (fork)" "fork line"
has_alert a "fork critical label=- version=- leaf=-" "exact fork alert"
F=$($ALERTS get "$T/a.alerts" fork evidence | tr -d '"')
ok '[ -s "$F" ]' "fork evidence written ($F)"
expect 0 "fork evidence verifies offline (PEM key)" -- $K verify evidence "$F" --log-key "$T/log.pub"
has out "the evidence holds: the CT log a signed two different trees of size 15" "statement"
expect 0 "fork evidence verifies with the base64 DER key, --json" -- $K verify evidence "$F" --log-key "$LOGKEY" --json
has out '"type":"fork"' "json type"
expect 1 "fork evidence with another log's key" -- $K verify evidence "$F" --log-key "$T/other.pub"
has err "log_id" "names the log ID"
python3 - "$F" "$T/f.root" "$T/f.same" "$T/f.extra" "$T/f.id" <<'EOF'
import base64, json, sys
b = json.load(open(sys.argv[1]))
s = json.loads(b["sths"][1])
r = bytearray(base64.b64decode(s["sha256_root_hash"])); r[0] ^= 1
s["sha256_root_hash"] = base64.b64encode(bytes(r)).decode()
t = dict(b); t["sths"] = [b["sths"][0], json.dumps(s)]
json.dump(t, open(sys.argv[2], "w"))
t = dict(b); t["sths"] = [b["sths"][0], b["sths"][0]]
json.dump(t, open(sys.argv[3], "w"))
t = dict(b); t["extra"] = 1
json.dump(t, open(sys.argv[4], "w"))
i = bytearray(base64.b64decode(b["log_id"])); i[5] ^= 1
t = dict(b); t["log_id"] = base64.b64encode(bytes(i)).decode()
json.dump(t, open(sys.argv[5], "w"))
EOF
expect 1 "tampered root in the bundle" -- $K verify evidence "$T/f.root" --log-key "$T/log.pub"
has err "does not hold" "rejected as not holding"
expect 1 "one head twice is no fork" -- $K verify evidence "$T/f.same" --log-key "$T/log.pub"
has err "different roots" "names the claim"
expect 2 "unknown member" -- $K verify evidence "$T/f.extra" --log-key "$T/log.pub"
expect 1 "log ID of another log" -- $K verify evidence "$T/f.id" --log-key "$T/log.pub"
head -c 200 "$F" >"$T/f.trunc"
expect 2 "truncated bundle" -- $K verify evidence "$T/f.trunc" --log-key "$T/log.pub"
expect 2 "--origin does not apply to CT evidence" -- $K verify evidence "$F" --log-key "$T/log.pub" --origin x
once a 1 "the fork again: still failing, reported once"
nalerts a 2 "fork alert not repeated"

# --- rollback: a smaller head signed later; evidence ---------------------------------
ctl '{"size": 12, "timestamp": 1800000000000}'
once a 1 "smaller head"
has_alert a "rollback critical label=- version=- leaf=-" "exact rollback alert"
R=$($ALERTS get "$T/a.alerts" rollback evidence | tr -d '"')
expect 0 "rollback evidence verifies" -- $K verify evidence "$R" --log-key "$T/log.pub" --json
has out '"strong":true' "the log's own timestamps order the heads"
has out "its tree shrank" "statement"
python3 -c "
import json,sys; b=json.load(open(sys.argv[1])); b['sths'].reverse(); json.dump(b, open(sys.argv[2],'w'))" "$R" "$T/r.swap"
expect 1 "rollback bundle with the heads swapped" -- $K verify evidence "$T/r.swap" --log-key "$T/log.pub"
ctl '{"size": 12}'
once a 1 "smaller head with an older timestamp"
R2=$(python3 -c "
import json,sys; print([a for a in map(json.loads, open(sys.argv[1])) if a['kind'] == 'rollback'][-1]['evidence'])" "$T/a.alerts")
n=$(grep -c '"kind":"rollback"' "$T/a.alerts")
ok '[ "$n" -eq 2 ]' "a second rollback alert for the other head (got $n)"
expect 0 "the weak rollback evidence verifies" -- $K verify evidence "$R2" --log-key "$T/log.pub" --json
has out '"strong":false' "the order in time is only the monitor's observation"
ok '[ "$R" != "$R2" ]' "one bundle per pair of heads"
n=$(ls "$T/a.state/evidence" | wc -l)
ok '[ "$n" -eq 3 ]' "three bundles: fork and two rollbacks (got $n)"

# --- a larger head that is not consistent: fork without a bundle -----------------------
ctconf c
ctl '{"size": 10}'
once c 0 "fresh state at 10"
ctl '{"size": 23, "fork": true}'
once c 1 "larger inconsistent head"
has err "is not consistent with the verified tree 10" "consistency failure"
has_alert c "fork critical label=- version=- leaf=-" "fork alert"
ok '[ "$($ALERTS get "$T/c.alerts" fork evidence)" = null ]' "no bundle: a bad proof from the server proves nothing offline"
ctl '{"bad_sig": true}'
once c 1 "bad tree head signature"
has_alert c "bad_signature critical label=- version=- leaf=-" "bad_signature alert"
ctl '{"size": 23, "bad_entry": 12}'
once c 1 "served entries differ from the signed tree"
has_alert c "root_mismatch critical label=- version=- leaf=-" "root_mismatch alert"
ctl '{}'
once c 0 "honest again"
has err "replayed 13 entries (10..23)" "progress resumes"

# --- unreachable --------------------------------------------------------------------
{
  echo "state_dir $T/u.state"
  echo "sink file $T/u.alerts"
  echo "ctlog u"
  echo "url http://127.0.0.1:9/"
  echo "key $LOGKEY"
} >"$T/u.conf"
once u 3 "log down: could not audit"
has_alert u "unreachable warning label=- version=- leaf=-" "unreachable warning"
once u 3 "still down"
nalerts u 1 "one warning per URL, class and day"

# --- the daemon ---------------------------------------------------------------------
ctconf d "poll 1" "watch_domain .example.org $GOOD"
sed -i "1a metrics $T/d.prom" "$T/d.conf"
ctl '{"size": 2}'
$K monitor --config "$T/d.conf" 2>"$T/d.err" &
DPID=$!
BGPIDS="$BGPIDS $DPID"
waitfor 'grep -q "^ktaudit_checkpoint_size{log=\"d\"} 2$" "$T/d.prom" 2>/dev/null' "daemon: CT log audited, metrics"
ok 'grep -q "^ktaudit_last_error{log=\"d\",error=\"\"} 0$" "$T/d.prom"' "metrics: no error"
ctl '{"size": 23}'
waitfor 'alerts d | grep -qx "key_changed alert label=.example.org version=0 leaf=3"' "daemon: finds the unapproved key"
waitfor 'grep -q "^ktaudit_checkpoint_size{log=\"d\"} 23$" "$T/d.prom"' "daemon: grown log replayed"
ctl '{"size": 23, "fork": true}'
waitfor 'alerts d | grep -qx "fork critical label=- version=- leaf=-"' "daemon: fork"
waitfor 'grep -q "^ktaudit_last_error{log=\"d\",error=\"fork\"} 1$" "$T/d.prom"' "metrics: fork"
ctl '{"size": 23}'
kill -TERM "$DPID"
rc=0
wait "$DPID" || rc=$?
ok '[ "$rc" -eq 0 ]' "SIGTERM: exit 0 (got $rc)"
nalerts d 2 "daemon: each alert once"
n=$(grep -c "approved key" "$T/d.err")
once d 0 "restarted: nothing reported again"
ok '! grep -q "approved key" "$T/err"' "no certificate reported twice across the restart"
ok '[ "$n" -gt 0 ]' "the daemon reported approved certificates ($n lines)"
finish
