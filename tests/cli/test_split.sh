#!/usr/bin/env bash
# Integration tests of split views (issue 5): two auditors, each with its own
# state, cosign what they verified and publish it; they gossip through each
# other's publish directories. An honest directory: both cosign, gossip finds
# nothing, and a client can demand "k of these auditors". A directory that
# shows auditor B another history (a second server, same log key): the
# gossip raises a critical fork with evidence that `verify evidence`
# accepts. An auditor never cosigns a fork of what it cosigned before, even
# after losing its verified state. A mirror's proxy is used for that mirror.
# A smaller forked peer head is proven by the consistency form of the
# evidence. Three auditors, one shown the fork: all three raise it. Without
# witnesses, max_age counts from when the tree was first seen.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

once() { # once NAME WANT DESC
  expect "$2" "$3" -- $K monitor --config "$T/$1.conf" --once
}
# auditor NAME URL [LINE...]: a configuration with a witness key and a
# global publish directory $T/NAME.pub for log example.com/s.
auditor() {
  local name=$1 url=$2
  shift 2
  {
    echo "state_dir $T/$name.state"
    echo "sink file $T/$name.alerts"
    echo "witness_key $T/w-${name%%[0-9]*}.key"
    echo "publish_dir $T/$name.pub"
    echo "log example.com/s"
    echo "url $url"
    echo "key $(cat "$T/s.log.vkey")"
    for l in "$@"; do echo "$l"; done
  } >"$T/$name.conf"
}
pubfile() { echo "$T/$1.pub/example.com_s/checkpoint"; }

# --- a log and a fork of it: same key and origin, same size, other entries --------
newdir s
$K dir init "$T/s.fork" --origin example.com/s --key "$T/s.log.key" >/dev/null
for l in x y z; do $K dir add "$T/s.d" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
for l in x y w; do $K dir add "$T/s.fork" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
$K dir publish "$T/s.d" >/dev/null
$K dir publish "$T/s.fork" >/dev/null
serve "$T/s.d"
HONEST=$URL
serve "$T/s.fork"
FORKED=$URL
LOGVK=$(cat "$T/s.log.vkey")
$K keygen --witness --name auditor-a.example --out "$T/w-a.key" >"$T/w-a.vkey"
$K keygen --witness --name auditor-b.example --out "$T/w-b.key" >"$T/w-b.vkey"
$K keygen --witness --name stranger.example --out "$T/w-c.key" >"$T/w-c.vkey"
VA=$(cat "$T/w-a.vkey")
VB=$(cat "$T/w-b.vkey")
VC=$(cat "$T/w-c.vkey")

# --- configuration ----------------------------------------------------------------
auditor a "$HONEST" "peer file://$T/b.pub/example.com_s/ $VB" "mirror ${HONEST}x/ proxy=socks5h://127.0.0.1:9050"
expect 0 "check-config with peer, proxy, witness_key, publish_dir" -- $K monitor --config "$T/a.conf" --check-config
auditor bad "$HONEST" "peer file://$T/b.pub/ $LOGVK"
expect 2 "peer key must be a cosignature/v1 key" -- $K monitor --config "$T/bad.conf" --check-config
has err "bad.conf:8" "names the line"
auditor bad "$HONEST" "mirror ${HONEST}m/ proxy=ftp://127.0.0.1:1"
expect 2 "proxy scheme checked" -- $K monitor --config "$T/bad.conf" --check-config
has err "proxy" "names the proxy"
auditor bad "$HONEST" "mirror ${HONEST}m/ socks=1"
expect 2 "unknown URL option" -- $K monitor --config "$T/bad.conf" --check-config
auditor bad "$HONEST"
sed -i "s|^witness_key .*|witness_key $T/s.log.key|" "$T/bad.conf"
expect 2 "check-config: witness_key must be a cosignature/v1 key" -- $K monitor --config "$T/bad.conf" --check-config
has err "cosignature/v1" "says which key type"
sed -i "s|^witness_key .*|witness_key $T/missing.key|" "$T/bad.conf"
expect 3 "check-config: witness_key unreadable" -- $K monitor --config "$T/bad.conf" --check-config
sed -i "/^witness_key /d" "$T/bad.conf"
expect 0 "check-config: publish_dir alone is a warning" -- $K monitor --config "$T/bad.conf" --check-config
has err "publish_dir without witness_key" "warns"

# --- a mirror's proxy is used for that mirror only -------------------------------
auditor px "$HONEST"
sed -i "/^witness_key /d; /^publish_dir /d; s|^url .*|url $HONEST proxy=http://127.0.0.1:1/|" "$T/px.conf"
echo "mirror ${HONEST}" | sed 's|/$|/./|' >>"$T/px.conf" # the same files, directly
once px 3 "url through a dead proxy: could not audit it"
has err "unreachable" "proxy failure is an unreachable warning"
has err "cannot audit $HONEST" "for the proxied url"

# --- honest: both cosign, gossip finds nothing -------------------------------------
auditor a "$HONEST" "peer file://$T/b.pub/example.com_s/ $VB"
auditor b "$HONEST" "peer file://$T/a.pub/example.com_s/ $VA"
once a 3 "honest A, peer B not published yet: a warning only"
has err "file://$T/b.pub/example.com_s/" "names the unreachable peer"
ok '[ -s "$(pubfile a)" ]' "A published its cosigned checkpoint"
once b 0 "honest B: A's checkpoint agrees"
has err "gossip: peer file://$T/a.pub/example.com_s/ has a checkpoint of size 3 (equal to ours" "B gossiped"
once a 0 "honest A again: B's checkpoint agrees"
nalerts b 0 "honest B: no alert"
has_alert a "unreachable warning label=- version=- leaf=-" "A: the one peer warning"
nalerts a 1 "honest A: nothing else"
expect 0 "A's checkpoint verifies with A as witness" -- $K verify checkpoint "$(pubfile a)" --log-key "$LOGVK" --witness "$VA"

# --- k of these auditors -----------------------------------------------------------
# A client collects the auditors' cosignature lines into one note.
cp "$(pubfile a)" "$T/both"
grep "^— auditor-b.example " "$(pubfile b)" >>"$T/both"
expect 0 "2 of {A,B}" -- $K verify checkpoint "$T/both" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2
expect 0 "2 of {A,B,C}" -- $K verify checkpoint "$T/both" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --witness "$VC" --quorum 2
expect 1 "3 of {A,B,C}: C never cosigned" -- $K verify checkpoint "$T/both" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --witness "$VC" --quorum 3
expect 1 "2 of {A,B} with only A's file" -- $K verify checkpoint "$(pubfile a)" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2
expect 1 "1 of {C}" -- $K verify checkpoint "$T/both" --log-key "$LOGVK" --witness "$VC" --quorum 1
# a forged auditor line (A's cosignature moved onto B's name) does not count
sed 's/^— auditor-b.example \(....\)/— auditor-b.example AAAA/' "$T/both" >"$T/forged"
expect 1 "a tampered auditor cosignature does not count" -- $K verify checkpoint "$T/forged" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2

# --- the publisher merges the auditors' cosignatures; lookups with k of them ------
L="lookup/x"
expect 1 "lookup: A required, not merged yet" -- $K verify lookup "$T/s.d/$L" --label x --log-key "$LOGVK" --witness "$VA"
expect 0 "publisher merges A (path) and B (file:// URL)" -- $K dir publish "$T/s.d" --merge-cosignatures "$(pubfile a)" --merge-cosignatures "file://$(pubfile b)"
has out "merged 2 cosignatures (0 already present, 0 for another tree head), 3 lookups updated" "merge summary"
expect 0 "served checkpoint: 2 of {A,B}" -- $K verify checkpoint "$T/s.d/checkpoint" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2
expect 0 "lookup over HTTP: 2 of {A,B}" -- $K verify lookup "$HONEST" --label x --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2
expect 0 "lookup: 2 of {A,B,C}" -- $K verify lookup "$T/s.d/$L" --label x --log-key "$LOGVK" --witness "$VA" --witness "$VB" --witness "$VC" --quorum 2
expect 1 "lookup: 3 of {A,B,C}" -- $K verify lookup "$T/s.d/$L" --label x --log-key "$LOGVK" --witness "$VA" --witness "$VB" --witness "$VC" --quorum 3
expect 1 "lookup: C required" -- $K verify lookup "$T/s.d/$L" --label x --log-key "$LOGVK" --witness "$VC"
expect 0 "merging again adds nothing" -- $K dir publish "$T/s.d" --merge-cosignatures "$(pubfile a)"
has out "merged 0 cosignatures (1 already present" "merge is idempotent"
expect 0 "a cosigned checkpoint of another tree is skipped" -- $K dir publish "$T/s.fork" --merge-cosignatures "$(pubfile a)"
has out "merged 0 cosignatures (0 already present, 1 for another tree head)" "other tree skipped"
expect 3 "missing cosigned file" -- $K dir publish "$T/s.d" --merge-cosignatures "$T/nope"
printf 'not a note\n' >"$T/junk"
expect 2 "a file that is not a note" -- $K dir publish "$T/s.d" --merge-cosignatures "$T/junk"
# the auditors go on with the merged checkpoint: their own line is refreshed, not doubled
once a 0 "A after the merge"
ok '[ "$(grep -c "^— auditor-a.example " "$(pubfile a)")" -eq 1 ]' "one cosignature line of A"
once b 0 "B after the merge"
expect 0 "B's file now holds both" -- $K verify checkpoint "$(pubfile b)" --log-key "$LOGVK" --witness "$VA" --witness "$VB" --quorum 2

# --- split view: B is shown the fork ------------------------------------------------
auditor a2 "$HONEST" "peer file://$T/b2.pub/example.com_s/ $VB"
auditor b2 "$FORKED" "peer file://$T/a2.pub/example.com_s/ $VA"
sed -i "s|w-a2.key|w-a.key|; s|w-b2.key|w-b.key|" "$T/a2.conf" "$T/b2.conf"
once b2 3 "B on the fork, peer not yet published"
ok '[ -s "$(pubfile b2)" ]' "B cosigned its (forked) view"
once a2 1 "A sees B's forked checkpoint: misbehaviour"
has err "ALERT: critical fork" "fork logged"
has_alert a2 "fork critical label=- version=- leaf=-" "A: fork from gossip"
ev=$($ALERTS get "$T/a2.alerts" fork evidence | tr -d '"')
ok '[ -s "$ev" ]' "fork evidence written"
expect 0 "the fork evidence verifies offline" -- $K verify evidence "$ev" --log-key "$LOGVK"
has out "the evidence holds" "verify evidence says so"
ok '[ -s "$(pubfile a2)" ]' "A still publishes its own view"
once b2 1 "B sees A's checkpoint: misbehaviour too"
has_alert b2 "fork critical label=- version=- leaf=-" "B: fork from gossip"
ev=$($ALERTS get "$T/b2.alerts" fork evidence | tr -d '"')
expect 0 "B's evidence verifies too" -- $K verify evidence "$ev" --log-key "$LOGVK"
once a2 1 "A again: the fork persists"
nalerts a2 1 "A: the fork reported once"

# --- never cosign a fork of what was cosigned, across restarts ---------------------
cp "$(pubfile a)" "$T/a.before"
sed -i "s|^url .*|url $FORKED|" "$T/a.conf"
once a 1 "A restarted on the fork: its state catches it"
has err "ALERT: critical fork" "A's state sees the fork"
ok 'cmp -s "$(pubfile a)" "$T/a.before"' "A's published checkpoint is unchanged"
# even without the verified checkpoint, the cosigned one is remembered
sqlite3 "$T/a.state/state.db" "DELETE FROM logs; DELETE FROM labels; DELETE FROM label_history" 
sed -i "/^peer /d" "$T/a.conf"
once a 1 "A with no verified state, on the fork"
has err "refusing to cosign the checkpoint of size 3" "refused from the cosigned record"
ok 'cmp -s "$(pubfile a)" "$T/a.before"' "still unchanged"
expect 0 "A's published checkpoint is the honest one" -- $K verify checkpoint "$(pubfile a)" --log-key "$LOGVK" --witness "$VA"
ok '[ "$(sed -n 3p "$(pubfile a)")" = "$(sed -n 3p "$T/s.d/checkpoint")" ]' "same root as the honest log"

# --- gossip with a smaller and a larger peer head: consistency, both ways --------
auditor a3 "$HONEST" "peer file://$T/b3.pub/example.com_s/ $VB"
auditor b3 "$HONEST" "peer file://$T/a3.pub/example.com_s/ $VA"
sed -i "s|w-a3.key|w-a.key|; s|w-b3.key|w-b.key|" "$T/a3.conf" "$T/b3.conf"
once a3 3 "A3: first run, peer not published"
once b3 0 "B3: first run, same head as A3"
cp -a "$T/s.d" "$T/s.lag"
$K dir add "$T/s.d" --label v --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/s.d" >/dev/null
# s.lag: the new tiles, but the old checkpoint (a lagging CDN cache of it)
cp "$T/s.lag/checkpoint" "$T/s.lag.cp"
rm -rf "$T/s.lag" && cp -a "$T/s.d" "$T/s.lag" && cp "$T/s.lag.cp" "$T/s.lag/checkpoint"
serve "$T/s.lag"
LAG=$URL
once a3 0 "A grows to 4; B's head of 3 is a prefix"
has err "has a checkpoint of size 3 (smaller than ours, 4)" "A: smaller peer head checked"
sed -i "s|^url .*|url $LAG|" "$T/b3.conf"
once b3 0 "B still sees 3; A's head of 4 proven from the tiles at once"
has err "has a checkpoint of size 4 (larger than ours, 3)" "B: larger peer head checked"
nalerts b3 0 "B: still nothing"
sed -i "s|^url .*|url $HONEST|" "$T/b3.conf"
once b3 0 "B catches up"

# a smaller peer head that is not a prefix of ours: a fork, proven by the
# consistency proof from our (larger) tree's tiles alone
auditor b4 "$FORKED"
once b4 0 "B4 on the fork, no peers"
sed -i "/^peer /d" "$T/a3.conf"
echo "peer file://$T/b4.pub/example.com_s/ $VB" >>"$T/a3.conf"
once a3 1 "A3 at 4 sees B4's forked head of 3"
has_alert a3 "fork critical label=- version=- leaf=-" "A3: fork against a smaller peer head"
ev=$($ALERTS get "$T/a3.alerts" fork evidence | tr -d '"')
ok '[ -s "$ev" ]' "A3: fork evidence written"
expect 0 "A3's consistency-form evidence verifies offline" -- $K verify evidence "$ev" --log-key "$LOGVK"
has out "RFC 9162 consistency proof" "it is the consistency form"

# --- three auditors, each a peer of the other two ------------------------------------
# trio PREFIX URL_C: auditors PREFIXa, PREFIXb (honest URL) and PREFIXc (URL_C)
# with their own state and keys A, B, C; every one peers with the other two.
trio() {
  local p=$1 x y
  for x in a b c; do
    local peers=() url=$HONEST
    [ "$x" = c ] && url=$2
    for y in a b c; do
      [ "$x" = "$y" ] || peers+=("peer file://$T/$p$y.pub/example.com_s/ $(cat "$T/w-$y.vkey")")
    done
    auditor "$p$x" "$url" "${peers[@]}"
    sed -i "s|^witness_key .*|witness_key $T/w-$x.key|" "$T/$p$x.conf"
  done
}
trio h "$HONEST"
once hc 3 "honest trio: C first, peers not published"
once ha 3 "honest trio: A, B not published"
once hb 0 "honest trio: B agrees with A and C"
once ha 0 "honest trio: A agrees with B and C"
once hc 0 "honest trio: C agrees with A and B"
for x in ha hb hc; do
  ok '! alerts "$x" | grep -q "^fork "' "honest trio: no fork alert for $x"
done
nalerts hb 0 "honest trio: B raised nothing"

# the provider serves another tree of the same size to C only (by URL)
$K dir init "$T/s.fork4" --origin example.com/s --key "$T/s.log.key" >/dev/null
for l in x y z q; do $K dir add "$T/s.fork4" --label "$l" --key "ed25519:$(randkey):d" >/dev/null; done
$K dir publish "$T/s.fork4" >/dev/null
serve "$T/s.fork4"
FORK4=$URL
trio t "$FORK4"
once tc 3 "split trio: C on the fork, peers not published"
once ta 1 "split trio: A sees C's fork"
once tb 1 "split trio: B sees C's fork"
has err "gossip: peer file://$T/ta.pub/example.com_s/ has a checkpoint of size 4 (equal to ours" "B compared notes with A"
once tc 1 "split trio: C sees A's and B's heads"
once ta 1 "split trio: A again"
for x in ta tb tc; do
  has_alert "$x" "fork critical label=- version=- leaf=-" "split trio: $x raised the fork"
  ev=$($ALERTS get "$T/$x.alerts" fork evidence | tr -d '"')
  expect 0 "split trio: $x's evidence verifies offline" -- $K verify evidence "$ev" --log-key "$LOGVK"
done
# A and B agree: neither blames the other
for x in ta tb; do
  y=$([ "$x" = ta ] && echo tb || echo ta)
  ok '! grep "\"kind\": *\"fork\"" "$T/$x.alerts" | grep -q "/$y.pub/"' "split trio: $x does not blame $y"
  ok 'grep "\"kind\": *\"fork\"" "$T/$x.alerts" | grep -q "/tc.pub/"' "split trio: $x blames C's view"
done

# --- freshness without witnesses: the age of a tree is since it was first seen -----
# (the state's time is moved back instead of waiting: no timed test)
auditor f "$HONEST" "max_age 600"
sed -i "/^witness_key /d; /^publish_dir /d" "$T/f.conf"
once f 0 "no witnesses, max_age: a tree first seen now is fresh"
sqlite3 "$T/f.state/state.db" "UPDATE logs SET updated = updated - 500"
# the log re-signs the same tree (a cosignature by a witness we do not use)
cp "$T/s.d/checkpoint" "$T/s.d.cp"
$K sign --key "$T/w-c.key" --out "$T/s.d/checkpoint" "$T/s.d.cp" >/dev/null
once f 0 "same tree, new note: still fresh (first seen 500 s ago)"
ok '[ "$(sqlite3 "$T/f.state/state.db" "SELECT checkpoint FROM logs")" = "$(cat "$T/s.d/checkpoint")" ]' "the new note was stored"
sqlite3 "$T/f.state/state.db" "UPDATE logs SET updated = updated - 200"
once f 3 "a new note of the same tree does not refresh its age: stale (A9)"
has err "has not changed for" "stale from the first-seen time"
has_alert f "stale warning label=- version=- leaf=-" "stale warning without witnesses"
$K dir add "$T/s.d" --label u --key "ed25519:$(randkey):d" >/dev/null
$K dir publish "$T/s.d" >/dev/null
once f 0 "the log advances: fresh again"
nalerts f 1 "only the one stale warning"

finish
