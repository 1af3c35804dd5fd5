#!/usr/bin/env bash
# Crash safety of the publisher (issue 8 "Faults", docs/publisher.md "Crash
# safety"): `ktaudit dir publish` is killed with kill -9 at random points,
# many times (KTA_PUBCRASH_KILLS, default 30), and then run again to the end.
# After every kill the served directory must still be one complete
# publication (the previous one or the new one: `verify tiles` over file://
# succeeds); after the rerun it must equal, file for file, the directory of
# an uninterrupted publish (same checkpoint, same root, same tiles, bundles
# and lookups), verify with `verify tiles`, and audit cleanly with
# `monitor --once`. Two starting points: an empty log with 3000 updates
# queued, and a published log with 1000 more queued (partial tiles and
# lookups are replaced).
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"

KILLS=${KTA_PUBCRASH_KILLS:-30}
BUDGET=${KTA_PUBCRASH_SECONDS:-70} # start no trial after this long (bounded time)
ms() { date +%s%3N; }

$K keygen --name example.com/pc --out "$T/pc.log.key" >"$T/pc.log.vkey"
VK=$(cat "$T/pc.log.vkey")
# One Ed25519 key per label, so that every update is authorized (an auth
# line by the label's key, which every version keeps): the monitor finds
# nothing, and any alert after a crash would be a real difference.
for i in $(seq 0 59); do
	l=$(printf 'user%03d' "$i")
	pub=$(labelkey "$l")
	printf '%s %s %s\n' "$l" "$pub" "$(cat "$T/$l.key")"
done >"$T/labels.txt"
# updates NAME FIRST COUNT LABELS: COUNT JSON lines over LABELS labels, fixed time
updates() {
	python3 - "$T/labels.txt" "$2" "$3" "$4" >"$T/$1.jsonl" <<'PY'
import base64, json, sys
lab = [l.split() for l in open(sys.argv[1])]
first, count, labels = map(int, sys.argv[2:])
for i in range(first, first + count):
    name, pub, priv = lab[i % labels]
    x = base64.b64encode(i.to_bytes(4, "big") + bytes(28)).decode()
    sys.stdout.write(json.dumps({"label": name, "keys": ["ed25519:%s:phone" % pub, "x25519:%s:phone" % x],
                                 "time": 1764143000, "auth_key": priv}, separators=(",", ":")) + "\n")
PY
}
updates b1 0 3000 40
updates b2 3000 1000 60

# Template A: an empty log with batch 1 queued. Template B: batch 1
# published, batch 2 queued. Their uninterrupted publishes are refA, refB.
$K dir init "$T/tA" --origin example.com/pc --key "$T/pc.log.key" >/dev/null
$K dir add "$T/tA" --from "$T/b1.jsonl" >/dev/null
cp -a "$T/tA" "$T/refA"
t0=$(ms)
expect 0 "uninterrupted publish A" -- $K dir publish "$T/refA"
spanA=$(($(ms) - t0))
cp -a "$T/refA" "$T/tB"
$K dir add "$T/tB" --from "$T/b2.jsonl" >/dev/null
cp -a "$T/tB" "$T/refB"
t0=$(ms)
expect 0 "uninterrupted publish B" -- $K dir publish "$T/refB"
spanB=$(($(ms) - t0))
has out "published 1000 entries: size 4000" "publish B: 1000 more entries"

# listing DIR: "sha256  path" of every served file (not .ktaudit/), sorted
listing() {
	(cd "$1" && find . -path ./.ktaudit -prune -o -type f -print0 | sort -z |
		xargs -0 sha256sum)
}
for x in A B; do
	listing "$T/ref$x" >"$T/ref$x.list"
	expect 0 "reference $x verifies" -- timeout 60 $K verify tiles "file://$T/ref$x/" --log-key "$VK"
done
ok '[ "$(wc -l <"$T/refB.list")" -gt 80 ]' "reference B has tiles, bundles and lookups"
echo "uninterrupted publish: A $spanA ms, B $spanB ms"

# audit DIR DESC: the directory verifies (tiles to the signed root)
audit() {
	expect 0 "$2" -- timeout 60 $K verify tiles "file://$1/" --log-key "$VK"
}

# The monitor over a served reference, as a reader would see it.
serve "$T/refB"
mkdir -p "$T/mon"
{
	echo "state_dir $T/mon/state"
	echo "sink file $T/mon.alerts"
	echo "log example.com/pc"
	echo "url $URL"
	echo "key $VK"
} >"$T/mon.conf"
expect 0 "monitor --once over the published directory" -- timeout 60 $K monitor --config "$T/mon.conf" --once
has err "audited" "monitor: audited"

killed=0
k_before=0 # kills that left the previous checkpoint served
k_after=0  # kills after the new checkpoint was in place
trials=0
start=$(ms)
while [ "$killed" -lt "$KILLS" ] && [ $(($(ms) - start)) -lt $((BUDGET * 1000)) ]; do
	x=A
	span=$spanA
	if [ $((trials % 2)) -eq 1 ]; then
		x=B
		span=$spanB
	fi
	trials=$((trials + 1))
	d="$T/crash"
	rm -rf "$d"
	cp -a "$T/t$x" "$d"
	cp "$d/checkpoint" "$T/old.cp"
	nk=$((1 + RANDOM % 3))
	for k in $(seq 1 "$nk"); do
		$K dir publish "$d" >/dev/null 2>"$T/pub.err" &
		pid=$!
		BGPIDS="$BGPIDS $pid"
		# a random point of the publish (a slow machine only moves it earlier)
		delay=$((RANDOM * (span + 50) / 32768))
		t0=$(ms)
		while kill -0 "$pid" 2>/dev/null && [ $(($(ms) - t0)) -lt "$delay" ]; do sleep 0.005; done
		if kill -9 "$pid" 2>/dev/null; then
			wait "$pid" 2>/dev/null || true
			killed=$((killed + 1))
			if cmp -s "$d/checkpoint" "$T/old.cp"; then
				k_before=$((k_before + 1))
			else
				k_after=$((k_after + 1))
			fi
			# between runs the served directory is one whole publication
			audit "$d" "trial $trials ($x): after kill $k the served directory verifies"
		else
			wait "$pid" 2>/dev/null || true
			break
		fi
	done
	# rerun to the end (or find it done already)
	expect 0 "trial $trials ($x): publish after the kills" -- timeout 60 $K dir publish "$d"
	listing "$d" >"$T/crash.list"
	ok 'cmp -s "$T/ref$x.list" "$T/crash.list"' "trial $trials ($x): same files as the uninterrupted publish"
	ok 'cmp -s "$T/ref$x/checkpoint" "$d/checkpoint"' "trial $trials ($x): same checkpoint (size, root, signature)"
	audit "$d" "trial $trials ($x): the directory verifies"
	ok '[ -z "$(ls -A "$d/.ktaudit/tmp" 2>/dev/null)" ]' "trial $trials ($x): no staging files left"
	expect 0 "trial $trials ($x): nothing left to publish" -- $K dir publish "$d"
	has out "nothing to publish" "trial $trials ($x): queue empty"
	if ! cmp -s "$T/ref$x.list" "$T/crash.list"; then
		diff "$T/ref$x.list" "$T/crash.list" | head -5 >&2
	fi
done
ok '[ "$killed" -ge "$KILLS" ]' "killed $killed times (wanted $KILLS within ${BUDGET} s)"
ok '[ "$k_before" -ge 1 ]' "some kills left the previous checkpoint served ($k_before)"

# The last trial's directory, served, audits like the reference.
if [ -e "$T/crash/tile" ] && cmp -s "$T/refB/checkpoint" "$T/crash/checkpoint"; then
	unserve "$SRV"
	serve "$T/crash"
	sed -i "s|^url .*|url $URL|" "$T/mon.conf"
	expect 0 "monitor --once over a directory published through kills" -- timeout 60 $K monitor --config "$T/mon.conf" --once
	nalerts mon 0 "monitor: no alert"
fi
echo "publish crash test: $killed kills ($k_before before the checkpoint was replaced, $k_after after) in $trials trials"
finish
