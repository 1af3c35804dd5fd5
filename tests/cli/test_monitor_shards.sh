#!/usr/bin/env bash
# Label sharding (ktaudit.conf(5) `shard K/N`), end to end: one signed
# directory of 3000+ keydir/v1 entries (tests/tools/monitor_mklog.py: many
# unauthorized updates, plus hand-made entries that do not parse, a version
# skip, an equivocation and key changes of watched labels), served over
# file://, audited by `ktaudit monitor --once` unsharded and as shards 0/3,
# 1/3 and 2/3, each with its own state_dir and JSON-lines file sink.
#   - the shards' alerts together are exactly the unsharded run's, compared
#     as sets of (kind, label, leaf_index, id); every labelled alert is in
#     its label's shard only; an entry that does not parse is reported by
#     the shard of the label its second line names, or shard 0 without one;
#   - a state database is refused (exit 2, both shards named) for another
#     shard or shard count, for a sharded config after an unsharded audit
#     and the reverse;
#   - `watch add`, `watch approve` and `history` refuse a label of another
#     shard (exit 2, naming its shard) and work inside the shard;
#   - a `watch` line for a label of another shard is a configuration error
#     naming the line;
#   - after the log grows, the second cycle's new alerts again split exactly;
#   - a state holding a watch of another shard's label cannot become a
#     shard; commands (history, watch add) only check, never record, a shard;
#   - `--once` delivers every alert to a good sink when another sink fails.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

ORIGIN=example.com/shards
SH="python3 $T/sh.py"

cat >"$T/sh.py" <<'PY'
"""Helpers of test_monitor_shards.sh: label shards, entries to append, and
the comparison of the sinks' alerts."""
import base64
import hashlib
import json
import os
import random
import sys

N = 3


def shard(label, n=N):
    return int.from_bytes(hashlib.sha256(label.encode()).digest()[:8], "big") % n


def pick(k, skip=(), start=0):
    """The first label user-<i> (start <= i < start + 400; below 400: updated
    by `gen 3000 7`) of shard k."""
    for i in range(start, start + 400):
        lab = "user-%d" % i
        if shard(lab) == k and lab not in skip:
            return lab
    raise SystemExit("no label in shard %d" % k)


def entry(label, version, t, rnd):
    keys = sorted([("ed25519", rnd.randbytes(32)), ("x25519", rnd.randbytes(32))])
    text = "keydir/v1\nlabel %s\nversion %d\ntime %d\n" % (label, version, t)
    for alg, pub in keys:
        text += "key %s %s phone\n" % (alg, base64.b64encode(pub).decode())
    return text.encode()


def latest(entries):
    """label -> latest version over the parseable entries."""
    res = {}
    for data in entries:
        lines = data.split(b"\n")
        if lines[0] != b"keydir/v1" or not lines[1].startswith(b"label "):
            continue
        try:
            v = int(lines[2][len(b"version "):])
        except ValueError:
            continue
        lab = lines[1][len(b"label "):].decode()
        res[lab] = max(v, res.get(lab, 0))
    return res


def grow(entries, cycle):
    """Appends cycle's entries; returns how many of them do not parse."""
    rnd = random.Random(4242 + cycle)
    lat = latest(entries)
    out = []
    watched = [pick(k) for k in range(N)]
    # does not parse, no label at all
    out.append(b"this is not a keydir entry %d\n" % cycle)
    # does not parse (bad version), but names a label of shard 2 (1 in cycle 2)
    lab = pick(2 if cycle == 1 else 1, watched)
    out.append(b"keydir/v1\nlabel %s\nversion one\ntime 1\n" % lab.encode())
    malformed = 2
    # fresh labels of every shard
    for i in range(30):
        out.append(entry("c%d-new-%d" % (cycle, i), 1, 1764200000 + i, rnd))
    # a key change (unauthorized update) of each watched label
    for lab in watched:
        out.append(entry(lab, lat[lab] + 1, 1764200100, rnd))
    # unauthorized updates of three labels of every shard
    for k in range(N):
        labs = [lab for lab in ("user-%d" % i for i in range(1000 + 100 * cycle, 1100 + 100 * cycle))
                if shard(lab) == k][:3]
        for lab in labs:
            out.append(entry(lab, lat[lab] + 1, 1764200200, rnd))
    # a version skip, and an equivocation (same version, other bytes)
    skip = "user-%d" % (1500 + cycle)
    out.append(entry(skip, lat[skip] + 2, 1764200300, rnd))
    eq = "user-%d" % (1600 + cycle)
    out.append(entry(eq, lat[eq], 1764200400, rnd))
    entries.extend(out)
    return malformed


def mk(srcdir, out, origin, store, cycle):
    """Cycle 1: monitor_mklog.py's `gen 3000 7` entries; then grow() them,
    keep them in store (one file: 2-byte length, entry) and build the
    directory out with monitor_mklog.py's writer. Prints the number of
    entries that do not parse among those added, and the log's size."""
    sys.path.insert(0, os.path.join(srcdir, "tests", "tools"))
    import monitor_mklog
    entries = monitor_mklog.gen(3000, 7) if cycle == 1 else stored(store)
    nmal = grow(entries, cycle)
    with open(store, "wb") as f:
        f.write(b"".join(len(e).to_bytes(2, "big") + e for e in entries))
    monitor_mklog.build(out, origin, entries)
    print(nmal, len(entries))


def owner(a, entries):
    """The shard of an alert: its label's; for an entry that does not parse,
    the label its second line names, or 0 (replay.h)."""
    if "label" in a:
        return shard(a["label"])
    data = entries[a["leaf_index"]]
    head = b"keydir/v1\nlabel "
    if not data.startswith(head) or b"\n" not in data[len(head):]:
        return 0
    lab = data[len(head):data.index(b"\n", len(head))]
    return int.from_bytes(hashlib.sha256(lab).digest()[:8], "big") % N


def stored(store):
    """The entries kept by mk (one file: 2-byte length, entry)."""
    entries = []
    with open(store, "rb") as f:
        data = f.read()
    pos = 0
    while pos < len(data):
        ln = int.from_bytes(data[pos:pos + 2], "big")
        entries.append(data[pos + 2:pos + 2 + ln])
        pos += 2 + ln
    return entries


def load(spec):
    """FILE:SKIP -> the alerts of a JSON-lines sink after its first SKIP lines."""
    path, skip = spec.rsplit(":", 1)
    res = []
    if not os.path.exists(path):
        return res
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            if n >= int(skip):
                res.append(json.loads(line))
    return res


def key(a):
    return (a["kind"], a.get("label"), a.get("leaf_index"), a["id"])


def check(tag, nmal, kinds, store, uspec, *sspecs):
    """Prints "ok DESC" or "FAIL DESC: why" lines."""
    def say(good, desc, why=""):
        print(("ok %s: %s" if good else "FAIL %s: %s: " + why) % (tag, desc))

    entries = stored(store)

    un = load(uspec)
    shards = [load(s) for s in sspecs]
    uset = set(map(key, un))
    sets = [set(map(key, s)) for s in shards]
    union = set().union(*sets)
    say(len(un) > 0, "the unsharded run raised alerts", "none")
    say(len(uset) == len(un), "no unsharded alert twice", "%d lines, %d distinct" % (len(un), len(uset)))
    have = {a["kind"] for a in un}
    say(set(kinds) <= have, "the log raises %s" % " ".join(kinds), "only %s" % sorted(have))
    for k, s in enumerate(shards):
        say(len(s) > 0, "shard %d/%d raised alerts" % (k, N), "none")
        say(len(sets[k]) == len(s), "no alert of shard %d twice" % k, "%d lines, %d distinct" % (len(s), len(sets[k])))
    say(union == uset, "the shards' alerts together are the unsharded run's",
        "only unsharded: %s; only sharded: %s" % (sorted(uset - union, key=str)[:5], sorted(union - uset, key=str)[:5]))
    for k in range(N):
        want = {key(a) for a in un if owner(a, entries) == k}
        say(sets[k] == want, "shard %d/%d has exactly the unsharded run's alerts of its labels" % (k, N),
            "missing %s; extra %s" % (sorted(want - sets[k], key=str)[:3], sorted(sets[k] - want, key=str)[:3]))
    dup = [x for k in range(N) for j in range(k + 1, N) for x in sets[k] & sets[j]]
    say(not dup, "no alert in two shards", str(dup[:5]))
    wrong = [(k, key(a)) for k, s in enumerate(shards) for a in s if "label" in a and shard(a["label"]) != k]
    say(not wrong, "every labelled alert is in its label's shard", str(wrong[:5]))
    other = [(k, key(a)) for k, s in enumerate(shards) for a in s
             if "label" not in a and a["kind"] != "malformed_entry"]
    say(not other, "no alert about the log as a whole", str(other[:5]))
    mal = [sum(1 for a in s if a["kind"] == "malformed_entry") for s in shards]
    umal = sum(1 for a in un if a["kind"] == "malformed_entry")
    say(umal == nmal, "the unsharded run reports the %d malformed entries" % nmal, "%d" % umal)
    say(sum(mal) == nmal, "each malformed entry reported by one shard", "per shard %s" % mal)
    want = [sum(1 for a in un if a["kind"] == "malformed_entry" and owner(a, entries) == k)
            for k in range(N)]
    say(mal == want, "malformed entries in the shard of their line-2 label, else 0",
        "per shard %s, want %s" % (mal, want))
    say(want[0] > 0 and sum(want[1:]) > 0, "both rules exercised", "per shard %s" % want)
    print("# %s: %d alerts unsharded, per shard %s" % (tag, len(un), [len(s) for s in shards]))


def main(argv):
    if argv[1] == "shard":
        print(shard(argv[2]))
    elif argv[1] == "pick":
        print(pick(int(argv[2]), start=int(argv[3]) if len(argv) > 3 else 0))
    elif argv[1] == "mk":
        mk(argv[2], argv[3], argv[4], argv[5], int(argv[6]))
    elif argv[1] == "check":
        check(argv[2], int(argv[3]), argv[4].split(","), argv[5], *argv[6:])
    else:
        raise SystemExit("usage")


main(sys.argv)
PY

# conf NAME STATE SHARD [LINE...]: $T/NAME.conf for the directory, with state
# $T/STATE.state, sink $T/NAME.alerts and `shard SHARD` ("-": no shard line).
conf() {
  local name=$1 state=$2 sh=$3
  shift 3
  {
    echo "state_dir $T/$state.state"
    echo "sink file $T/$name.alerts"
    echo "log $ORIGIN"
    echo "url file://$T/log/"
    echo "key $(cat "$T/log.vkey")"
    [ "$sh" = - ] || echo "shard $sh"
    for l in "$@"; do echo "$l"; done
  } >"$T/$name.conf"
}

# pyok DESC < OUTPUT: counts the "ok"/"FAIL" lines of a `sh.py check` as
# assertions (read through a redirection, not a pipe, so the counts stay in
# this shell); a check that ends without its summary line ("# ...") failed.
pyok() {
  local line done=0
  while IFS= read -r line; do
    case $line in
    ok\ *) PASS=$((PASS + 1)) ;;
    FAIL\ *)
      FAIL=$((FAIL + 1))
      echo "$line" >&2
      ;;
    \#\ *)
      done=1
      echo "$line"
      ;;
    *) echo "$line" ;;
    esac
  done
  if [ "$done" -eq 0 ]; then
    FAIL=$((FAIL + 1))
    echo "FAIL: $1: the check did not finish" >&2
  fi
}

# cycle NAME WANT DESC: one `monitor --once` of NAME, exit WANT, which
# delivers every alert to the sink (batch after batch while the outbox
# shrinks: more than KTA_DELIVER_BATCH alerts here).
cycle() {
  expect "$2" "$3" -- $K monitor --config "$T/$1.conf" --once
  cp "$T/err" "$T/$1.err"
  if grep -q 'not yet delivered' "$T/err"; then
    FAIL=$((FAIL + 1))
    echo "FAIL: $3: alerts left undelivered by one --once run" >&2
  fi
}

lines() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# --- the log: gen + malformed entries, a skip, an equivocation, key changes -------
$K keygen --name "$ORIGIN" --out "$T/log.key" >"$T/log.vkey"
$SH mk "$KTA_SRCDIR" "$T/log" "$ORIGIN" "$T/entries.bin" 1 >"$T/mk1"
read -r NMAL1 SIZE1 <"$T/mk1"
$K sign --key "$T/log.key" --out "$T/log/checkpoint" "$T/log/checkpoint.txt"
ok '[ "$(head -n 3 "$T/log/checkpoint")" = "$(cat "$T/log/checkpoint.txt")" ]' "signed the built checkpoint"
ok '[ "$(sed -n 2p "$T/log/checkpoint")" -eq "$SIZE1" ] && [ "$SIZE1" -gt 3000 ]' "built log: size"

W0=$($SH pick 0)
W1=$($SH pick 1)
W2=$($SH pick 2)
ok '[ "$($SH shard "$W0")$($SH shard "$W1")$($SH shard "$W2")" = 012 ]' "watched labels: one per shard"

conf un un - "watch $W0 tofu" "watch $W1 tofu" "watch $W2 tofu"
conf s0 s0 0/3 "watch $W0 tofu"
conf s1 s1 1/3 "watch $W1 tofu"
conf s2 s2 2/3 "watch $W2 tofu"
for c in un s0 s1 s2; do
  expect 0 "check-config $c" -- $K monitor --config "$T/$c.conf" --check-config
done

# --- first cycle: the shards split the unsharded run's alerts ---------------------
cycle un 1 "unsharded: first cycle"
for k in 0 1 2; do
  cycle "s$k" 1 "shard $k/3: first cycle"
  ok 'grep -qF "this state audits shard $k/3 of the labels" "$T/s$k.err"' "shard $k/3: claims its shard"
  ok 'grep -qF "auditing the labels of shard $k/3" "$T/s$k.err"' "shard $k/3: the replay names the shard"
done
KINDS=malformed_entry,unauthorized_update,key_changed,version_skip,version_equivocation
pyok "cycle 1" < <($SH check "cycle 1" "$NMAL1" "$KINDS" "$T/entries.bin" "$T/un.alerts:0" "$T/s0.alerts:0" "$T/s1.alerts:0" "$T/s2.alerts:0")
U1=$(lines "$T/un.alerts")
S01=$(lines "$T/s0.alerts")
S11=$(lines "$T/s1.alerts")
S21=$(lines "$T/s2.alerts")

# --- a state database holds one shard ----------------------------------------------
conf r01 s0 1/3
expect 2 "shard 0's state as shard 1/3" -- $K monitor --config "$T/r01.conf" --once
has err "shard 0/3" "refusal names the stored shard"
has err "shard 1/3" "refusal names the asked shard"
ok '[ ! -s "$T/r01.alerts" ]' "refused run: no alert"
conf run0 un 0/3
expect 2 "unsharded state as shard 0/3" -- $K monitor --config "$T/run0.conf" --once
has err "every label" "refusal names the unsharded audit"
has err "shard 0/3" "refusal names the asked shard"
conf r0un s0 -
expect 2 "shard 0's state without a shard line" -- $K monitor --config "$T/r0un.conf" --once
has err "shard 0/3" "refusal names the stored shard"
has err "every label" "refusal names the unsharded configuration"
conf r0n4 s0 0/4
expect 2 "shard 0/3's state as shard 0/4" -- $K monitor --config "$T/r0n4.conf" --once
has err "shard 0/3" "refusal names the stored shard"
has err "shard 0/4" "refusal names the asked shard"
for c in un s0; do
  expect 0 "$c: after the refusals, nothing new" -- $K monitor --config "$T/$c.conf" --once
done
ok '[ "$(lines "$T/un.alerts")" -eq "$U1" ] && [ "$(lines "$T/s0.alerts")" -eq "$S01" ]' "refusals changed nothing"

# --- a watch line for a label of another shard -------------------------------------
conf badw bw 1/3 "watch $W0 tofu"
expect 2 "check-config: watch of shard 0 in shard 1/3" -- $K monitor --config "$T/badw.conf" --check-config
has err "$T/badw.conf:7" "names the watch line"
has err "shard 0/3" "names the label's shard"
has err "$W0" "names the label"
expect 2 "--once: watch of shard 0 in shard 1/3" -- $K monitor --config "$T/badw.conf" --once
has err "$T/badw.conf:7" "names the watch line"
ok '[ ! -e "$T/bw.state" ] || [ -z "$(ls -A "$T/bw.state")" ]' "bad config: no state written"
# the shard line may follow the watches: still the watch's line is named
conf badw2 bw - "watch $W1 tofu" "watch $W2 tofu" "shard 1/3"
expect 2 "check-config: shard after a watch of shard 2" -- $K monitor --config "$T/badw2.conf" --check-config
has err "$T/badw2.conf:7" "names the second watch's line"
has err "shard 2/3" "names the label's shard"
has err "line 8" "names the shard line"

# --- the log grows: the second cycle splits again -----------------------------------
$SH mk "$KTA_SRCDIR" "$T/log" "$ORIGIN" "$T/entries.bin" 2 >"$T/mk2"
read -r NMAL2 SIZE2 <"$T/mk2"
$K sign --key "$T/log.key" --out "$T/log/checkpoint" "$T/log/checkpoint.txt"
ok '[ "$(sed -n 2p "$T/log/checkpoint")" -eq "$SIZE2" ] && [ "$SIZE2" -gt "$SIZE1" ]' "grown log: size"
cycle un 1 "unsharded: second cycle"
for k in 0 1 2; do
  cycle "s$k" 1 "shard $k/3: second cycle"
done
pyok "cycle 2" < <($SH check "cycle 2" "$NMAL2" "$KINDS" "$T/entries.bin" "$T/un.alerts:$U1" "$T/s0.alerts:$S01" "$T/s1.alerts:$S11" "$T/s2.alerts:$S21")
pyok "both cycles" < <($SH check "both cycles" "$((NMAL1 + NMAL2))" "$KINDS" "$T/entries.bin" "$T/un.alerts:0" "$T/s0.alerts:0" "$T/s1.alerts:0" "$T/s2.alerts:0")
for c in un s0 s1 s2; do
  expect 0 "$c: third cycle, nothing new" -- $K monitor --config "$T/$c.conf" --once
done

# --- watch add / approve / history and the shard of the label ----------------------
# W0, W1, W2 (watched, one per shard) have versions 1 to 4: gen, cycle 1, cycle 2.
for k in 0 1 2; do
  o=$(((k + 1) % 3))
  IN=$W0
  OUT=$W1
  case $k in 1) IN=$W1 OUT=$W2 ;; 2) IN=$W2 OUT=$W0 ;; esac
  expect 2 "shard $k/3: watch add $OUT (shard $o)" -- $K watch add "$OUT" --tofu --config "$T/s$k.conf"
  has err "shard $o/3" "watch add: names the label's shard"
  has err "$OUT" "watch add: names the label"
  expect 2 "shard $k/3: watch approve $OUT (shard $o)" -- $K watch approve "$OUT" 2 --config "$T/s$k.conf"
  has err "shard $o/3" "watch approve: names the label's shard"
  expect 2 "shard $k/3: history $OUT (shard $o)" -- $K history "$OUT" --config "$T/s$k.conf"
  has err "shard $o/3" "history: names the label's shard"
  expect 0 "shard $k/3: history $IN" -- $K history "$IN" --config "$T/s$k.conf"
  has out "version 1 leaf" "history: version 1"
  has out "version 2 leaf" "history: version 2"
  has out "version 4 leaf" "history: version 4 (both cycles' key changes)"
  expect 0 "unsharded: history $IN" -- $K history "$IN" --config "$T/un.conf"
  cp "$T/out" "$T/hist.un"
  expect 0 "shard $k/3: history $IN again" -- $K history "$IN" --config "$T/s$k.conf"
  ok 'cmp -s "$T/out" "$T/hist.un"' "shard $k/3: history of $IN as unsharded"
  expect 0 "shard $k/3: watch approve $IN 4" -- $K watch approve "$IN" 4 --config "$T/s$k.conf"
done
# a label of the shard that is not watched yet: watch add works
for k in 0 1 2; do
  L=$($SH pick "$k" 2000)
  expect 0 "shard $k/3: watch add $L (its shard)" -- $K watch add "$L" --tofu --config "$T/s$k.conf"
  expect 0 "shard $k/3: watch list" -- $K watch list --config "$T/s$k.conf"
  has out "$L" "watch list: the new watch"
done

# --- a watch of another shard's label, made before the first sharded run -----------
L1=$($SH pick 1 3000)
conf w0 w 0/3
conf wun w -
expect 0 "unsharded: watch add $L1 (shard 1) on a fresh state" -- $K watch add "$L1" --tofu --config "$T/wun.conf"
expect 2 "that state as shard 0/3" -- $K monitor --config "$T/w0.conf" --once
has err "has a watch of \"$L1\", a label of shard 1/3" "refusal names the watch and its shard"
ok '[ ! -s "$T/w0.alerts" ]' "refused: no alert"

# --- commands check a shard but never record it ------------------------------------
conf ro0 ro 0/3
conf roun ro -
expect 0 "history on a fresh state of shard 0/3" -- $K history "$W0" --config "$T/ro0.conf"
expect 0 "watch list on it" -- $K watch list --config "$T/ro0.conf"
cycle roun 1 "the same state audits every label"
ok '[ "$(lines "$T/roun.alerts")" -gt 64 ]' "the log's alerts ($(lines "$T/roun.alerts"))"
expect 2 "and is now refused as shard 0/3" -- $K history "$W0" --config "$T/ro0.conf"
has err "audited as every label" "names it"

# --- --once: a failing sink does not hold back a good one ---------------------------
conf bad bad -
sed -i "2a sink exec /bin/false" "$T/bad.conf"
expect 1 "--once with a failing exec sink" -- $K monitor --config "$T/bad.conf" --once
has err "not yet delivered to every sink" "the failing sink's alerts are pending"
ok '[ "$(lines "$T/bad.alerts")" -eq "$(lines "$T/roun.alerts")" ]' \
  "the good sink got every alert ($(lines "$T/bad.alerts") of $(lines "$T/roun.alerts"))"

finish
