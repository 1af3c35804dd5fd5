#!/usr/bin/env bash
# CLI security review tests (issue 8): labels are provider-controlled, so no
# label may become a path outside the publisher's lookup/ directory, a
# terminal escape sequence in output or a second line in a line-oriented
# sink; hooks run without a shell; key and state files are 0600; private
# keys are never printed, not even when pasted where a public one belongs;
# TLS is verified by default; file:// is used only when the URL given is one.
set -eu
. "$(dirname "$0")/lib.sh"
K=$KTAUDIT
TOOLS=$KTA_SRCDIR/tests/tools
ESC=$(printf '\033')
C1=$(printf '\302\233') # U+009B, CSI as a C1 control: a terminal escape too

cleanup() {
	if [ -n "${HS_PID:-}" ]; then kill "$HS_PID" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

# clean FILE DESC: the last command's FILE holds no ESC, C1 CSI or other
# control byte but newline and tab.
clean() {
	if LC_ALL=C grep -q "[$(printf '\001-\010\013-\037\177')]" "$T/$1" || grep -qF "$C1" "$T/$1"; then
		FAIL=$((FAIL + 1))
		echo "FAIL: $2: $1 holds a control character" >&2
		od -c "$T/$1" | head -5 >&2
	else
		PASS=$((PASS + 1))
	fi
}

# nosecret DESC: neither stdout nor stderr of the last command shows a private key.
nosecret() {
	# The format's name in a message ("does not start with \"PRIVATE+KEY+\"") is fine.
	if grep -qE 'PRIVATE\+KEY\+[^"]' "$T/out" "$T/err" || grep -qF "$SEED_B64" "$T/out" "$T/err"; then
		FAIL=$((FAIL + 1))
		echo "FAIL: $1: a private key was printed" >&2
		grep -hF -e "PRIVATE+KEY" -e "$SEED_B64" "$T/out" "$T/err" | head -3 >&2
	else
		PASS=$((PASS + 1))
	fi
}

# mode FILE WANT DESC: FILE's permission bits are WANT (octal).
mode() {
	local got
	got=$(stat -c '%a' "$1")
	if [ "$got" = "$2" ]; then
		PASS=$((PASS + 1))
	else
		FAIL=$((FAIL + 1))
		echo "FAIL: $3: $1 has mode $got, want $2" >&2
	fi
}

ORIGIN=example.com/dir
PUB=$(python3 -c 'import base64; print(base64.b64encode(bytes([5]) * 32).decode())')

# --- key files 0600, private keys never printed ----------------------------------------
umask 022
expect 0 "keygen" -- $K keygen --name "$ORIGIN" --out "$T/log.key"
cp "$T/out" "$T/log.vkey"
VK=$(cat "$T/log.vkey")
# The seed's base64 without the type byte's first characters: printed nowhere.
SEED_B64=$(cut -d+ -f5- "$T/log.key" | cut -c3-30)
[ ${#SEED_B64} -eq 28 ] || {
	echo "FAIL: cannot read the seed from $T/log.key" >&2
	exit 1
}
nosecret "keygen output"
mode "$T/log.key" 600 "log key file"
expect 0 "keygen --witness --json" -- $K keygen --name w.example --witness --out "$T/wit.key" --json
nosecret "keygen --json output"
mode "$T/wit.key" 600 "witness key file"
expect 3 "keygen refuses to overwrite" -- $K keygen --name x --out "$T/log.key"
nosecret "keygen overwrite refusal"
ln -s "$T/elsewhere" "$T/link.key"
expect 3 "keygen refuses a symlink" -- $K keygen --name x --out "$T/link.key"
[ ! -e "$T/elsewhere" ] && PASS=$((PASS + 1)) || {
	FAIL=$((FAIL + 1))
	echo "FAIL: keygen followed a symlink" >&2
}

# The reference publisher: state 0600 / 0700, private key never copied or printed.
D=$T/pub/d
mkdir -p "$T/pub"
expect 0 "dir init" -- $K dir init "$D" --origin "$ORIGIN" --key "$T/log.key"
nosecret "dir init"
expect 0 "dir add (signed by the owner key)" -- $K dir add "$D" --label alice --key "ed25519:$PUB:phone" --auth-key "$T/wit.key" --time 1764143000
nosecret "dir add --auth-key"
expect 0 "dir publish --cosign" -- $K dir publish "$D" --cosign "$T/wit.key" --json
nosecret "dir publish --cosign --json"
mode "$D/.ktaudit" 700 "publisher state directory"
for f in "$D"/.ktaudit/*; do
	[ -d "$f" ] && continue
	mode "$f" 600 "publisher state file $(basename "$f")"
done
if grep -rqF "PRIVATE+KEY" "$D" "$T/pub"; then
	FAIL=$((FAIL + 1))
	echo "FAIL: the publisher copied the private key into its directory" >&2
else
	PASS=$((PASS + 1))
fi
expect 0 "sign" -- $K sign --key "$T/log.key" --out "$T/cp.note" <(printf '%s\n1\n%s\n' "$ORIGIN" "$PUB")
nosecret "sign"

# A private key pasted where a public value belongs: the error must not echo it.
SK=$(cat "$T/log.key")
expect 2 "private key as --log-key" -- $K verify checkpoint "$T/cp.note" --log-key "$SK"
nosecret "private key as --log-key"
expect 2 "private key as --witness" -- $K verify checkpoint "$T/cp.note" --log-key "$VK" --witness "$SK"
nosecret "private key as --witness"
expect 2 "private key file as the config" -- $K monitor --config "$T/log.key" --check-config
nosecret "private key file as the config"
has err "private key not shown" "config: says why it is hidden"
expect 2 "private key file as the pin file" -- $K check --pins "$T/log.key"
nosecret "private key file as the pin file"
printf 'state_dir %s\nlog a\nurl https://a.example/\nkey %s\n' "$T/st" "$SK" >"$T/pk.conf"
expect 2 "private key in a config key line" -- $K monitor --config "$T/pk.conf" --check-config
nosecret "private key in a config key line"
printf 'state_dir %s\nlog a\nurl https://a.example/\nkey %s\nwatch a ed25519:%s:x\n' "$T/st" "$VK" "$SK" >"$T/pk2.conf"
expect 2 "private key in a watch key spec" -- $K monitor --config "$T/pk2.conf" --check-config
nosecret "private key in a watch key spec"
printf '%s\n' "$SK" >"$T/pk3.conf"
expect 2 "config that is only a private key line" -- $K monitor --config "$T/pk3.conf" --check-config
nosecret "config that is only a private key line"
printf '# ktaudit pins v1\nlog %s\nurl https://a.example/\nkey %s\nlabel a ed25519:%s:x\n' "$ORIGIN" "$VK" "$SK" >"$T/pins.txt"
expect 2 "private key in a pinned key" -- $K check --pins "$T/pins.txt"
nosecret "private key in a pinned key"
expect 2 "private key as dir add --key" -- $K dir add "$D" --label bob --key "ed25519:$SK:x"
nosecret "private key as dir add --key"
expect 2 "public key as --auth-key" -- $K dir add "$D" --label bob --key "ed25519:$PUB:x" --auth-key "$T/log.vkey"
nosecret "public key file as --auth-key"

# --- labels cannot leave lookup/ --------------------------------------------------------
# Every one of these is a valid opaque label; each must land in one file
# directly inside lookup/, and `verify lookup DIR_URL/ --label L` must find it.
TRAV=('../x' '..' '.' 'a/b' '%2e%2e' '%2E%2E' './' '..%2F' '%2F..%2F..%2Fx' 'a\b' '...' '.hidden' '-rf' '~')
for l in "${TRAV[@]}"; do
	expect 0 "dir add label '$l'" -- $K dir add "$D" --label "$l" --key "ed25519:$PUB:phone" --time 1764143000
done
expect 0 "dir publish the traversal labels" -- $K dir publish "$D"
# Nothing outside the directory; inside, only checkpoint, tile/ and lookup/<one name>.
outside=$(find "$T/pub" -mindepth 1 -maxdepth 1 ! -name d)
bad=$(cd "$D" && find . -path ./.ktaudit -prune -o -type f -print | grep -vE '^\./(checkpoint|tile/.*|lookup/[^/]+)$' || true)
if [ -z "$outside" ] && [ -z "$bad" ] && [ ! -e "$T/x" ] && [ ! -e "$D/x" ] && [ ! -e "$D/lookup/a/b" ]; then
	PASS=$((PASS + 1))
else
	FAIL=$((FAIL + 1))
	echo "FAIL: a label escaped lookup/: outside='$outside' bad='$bad'" >&2
fi
n=$(find "$D/lookup" -mindepth 1 | wc -l)
if [ "$n" -eq $((${#TRAV[@]} + 1)) ] && [ -z "$(find "$D/lookup" -mindepth 1 -type d)" ]; then
	PASS=$((PASS + 1))
else
	FAIL=$((FAIL + 1))
	echo "FAIL: lookup/ holds $n entries (want $((${#TRAV[@]} + 1)) files, no directories)" >&2
	ls -la "$D/lookup" >&2
fi
for l in "${TRAV[@]}"; do
	expect 0 "verify lookup of label '$l'" -- $K verify lookup "file://$D/" --label "$l" --log-key "$VK"
	has out "OK: $l version 1" "lookup of '$l' answers for that label"
done

# --- no control characters in labels, devices or output ------------------------------
for l in "a${ESC}[2Jb" "a${C1}2Jb" "$(printf 'a\nb')" "$(printf 'a\rb')" "$(printf 'a\177b')" "$(printf 'a\tb')" "$(printf 'a\x07b')"; do
	expect 2 "dir add rejects a control character in a label" -- $K dir add "$D" --label "$l" --key "ed25519:$PUB:phone"
	has err "control character" "says which rule"
	clean err "label rejection message"
done
expect 2 "dir add rejects ESC in a device name" -- $K dir add "$D" --label ok --key "ed25519:$PUB:ph${ESC}[2Jone"
clean err "device rejection message"
expect 2 "dir add rejects C1 in a device name" -- $K dir add "$D" --label ok --key "ed25519:$PUB:ph${C1}one"
clean err "device rejection message (C1)"
expect 2 "dir add rejects a newline in a device name" -- $K dir add "$D" --label ok --key "ed25519:$PUB:$(printf 'ph\none')"
clean err "device rejection message (newline)"

# A lookup answer served by a hostile directory whose entry has ESC in its
# label: rejected by the entry parser (exit 2), and the message quotes it.
for bad in "a${ESC}]0;pwned${ESC}\\b" "a${C1}31mb"; do
	python3 - "$T/evil.json" "$bad" <<'PY'
import base64, json, sys
entry = ("keydir/v1\nlabel %s\nversion 1\ntime 1\n" % sys.argv[2]).encode()
cp = "example.com/dir\n1\n%s\n\n\u2014 example.com/dir AAAAAAAAAAA=\n" % base64.b64encode(b"\0" * 32).decode()
json.dump({"checkpoint": cp, "leaf_index": 0, "entry": base64.b64encode(entry).decode(),
           "audit_path": []}, open(sys.argv[1], "w"))
PY
	expect 2 "lookup answer with a control character in the label" -- $K verify lookup "$T/evil.json" --log-key "$VK"
	has err "control character" "names the rule"
	clean err "lookup rejection message"
	clean out "lookup rejection stdout"
done

# Checkpoint origins: ESC is refused by the note parser; C1 is valid note text
# (c2sp signed-note forbids only ASCII controls), so every message that shows
# an origin must quote it.
printf 'ex%s[2Jample\n1\n%s\n\n\xe2\x80\x94 %s AAAAAAAAAAA=\n' "$ESC" "$PUB" "$ORIGIN" >"$T/esc.note"
expect 2 "checkpoint with ESC in its origin" -- $K verify checkpoint "$T/esc.note" --log-key "$VK"
has err "control character 0x1b" "names the ESC"
clean err "ESC origin message"
printf 'ex%sample\n1\n%s\n' "$C1" "$PUB" >"$T/c1.txt"
expect 0 "sign a checkpoint whose origin has a C1 control" -- $K sign --key "$T/log.key" --out "$T/c1.note" "$T/c1.txt"
expect 1 "C1 origin is not the expected one" -- $K verify checkpoint "$T/c1.note" --log-key "$VK"
has err 'origin "ex\xc2\x9bample"' "origin quoted"
clean err "C1 origin message"
mkdir -p "$T/c1dir"
cp "$T/c1.note" "$T/c1dir/checkpoint"
expect 1 "C1 origin over verify tiles" -- $K verify tiles "file://$T/c1dir/" --log-key "$VK" --timeout 5
clean err "verify tiles origin message"
# A note signed under a key name holding a C1 control: never printed raw.
printf '%s\n1\n%s\n\n\xe2\x80\x94 ev%sil AAAAAAAAAAA=\n' "$ORIGIN" "$PUB" "$C1" >"$T/c1key.note"
expect 1 "unknown signer with a C1 control in its name" -- $K verify checkpoint "$T/c1key.note" --log-key "$VK"
clean err "unknown signer message"

# --- no second line in syslog or header in a webhook -----------------------------------
# The alert path: an unreachable log makes a warning whose message carries a
# provider-influenced URL; the exec hook, run without a shell, sees its argv
# byte for byte and nothing is executed.
mkdir -p "$T/hook"
cat >"$T/hook/hook.sh" <<EOF
#!/bin/sh
for a in "\$@"; do printf '[%s]\n' "\$a"; done >"$T/hook/argv"
cat >"$T/hook/stdin"
env >"$T/hook/env"
EOF
chmod +x "$T/hook/hook.sh"
cat >"$T/hook.conf" <<EOF
state_dir $T/state
sink exec $T/hook/hook.sh ;touch\${IFS}$T/hook/P1 \$(touch\${IFS}$T/hook/P2) \`touch\${IFS}$T/hook/P3\` >$T/hook/P4 | && 'q' "dq" *
log $ORIGIN
url file://$T/nonexistent/
key $VK
EOF
expect 3 "monitor --once, log unreachable, exec sink" -- $K monitor --config "$T/hook.conf" --once
has err "delivered 1 alert" "the alert was delivered"
printf '%s\n' "[;touch\${IFS}$T/hook/P1]" "[\$(touch\${IFS}$T/hook/P2)]" "[\`touch\${IFS}$T/hook/P3\`]" \
	"[>$T/hook/P4]" "[|]" "[&&]" "['q']" "[\"dq\"]" "[*]" >"$T/argv.want"
if cmp -s "$T/argv.want" "$T/hook/argv" && ! ls "$T/hook"/P? >/dev/null 2>&1 && [ ! -e "P4" ]; then
	PASS=$((PASS + 1))
else
	FAIL=$((FAIL + 1))
	echo "FAIL: exec hook argv not passed literally, or a shell ran" >&2
	diff "$T/argv.want" "$T/hook/argv" >&2 || true
	ls "$T/hook" >&2
fi
has_hook() {
	if grep -qF -- "$2" "$T/hook/$1"; then PASS=$((PASS + 1)); else
		FAIL=$((FAIL + 1))
		echo "FAIL: hook $1 lacks $2" >&2
	fi
}
has_hook stdin '"kind":"unreachable"'
has_hook env "KTAUDIT_KIND=unreachable"
if grep -q '^PATH=' "$T/hook/env" && ! grep -qvE '^(PATH|KTAUDIT_[A-Z_]+|PWD|SHLVL|_)=' "$T/hook/env"; then
	PASS=$((PASS + 1))
else
	FAIL=$((FAIL + 1))
	echo "FAIL: the hook's environment holds more than PATH and KTAUDIT_*:" >&2
	grep -vE '^(KTAUDIT_)' "$T/hook/env" >&2
fi
if [ "$(grep -c '' "$T/hook/stdin")" -eq 1 ]; then PASS=$((PASS + 1)); else
	FAIL=$((FAIL + 1))
	echo "FAIL: the alert on the hook's stdin is not one line" >&2
fi
# Labels, the only provider strings with free text in alerts, cannot hold a
# newline, CR or other control (the entry parser; proven above for dir add):
# the same holds for labels read from a served log, in testdata/entry/bad
# (label_control, cr_label, label_c1_nel, label_nul, label_line_separator).
for f in label_control cr_label label_c1_nel label_nul label_line_separator label_tab; do
	[ -f "$KTA_TESTDATA/entry/bad/$f.entry" ] || continue
	python3 - "$T/bad.json" "$KTA_TESTDATA/entry/bad/$f.entry" <<'PY'
import base64, json, sys
cp = "example.com/dir\n1\n%s\n\n\u2014 example.com/dir AAAAAAAAAAA=\n" % base64.b64encode(b"\0" * 32).decode()
json.dump({"checkpoint": cp, "leaf_index": 0,
           "entry": base64.b64encode(open(sys.argv[2], "rb").read()).decode(),
           "audit_path": []}, open(sys.argv[1], "w"))
PY
	expect 2 "served entry $f rejected" -- $K verify lookup "$T/bad.json" --log-key "$VK"
	clean err "served entry $f message"
done

# --- TLS on by default; file:// only when asked for --------------------------------------
sh "$TOOLS/mkca.sh" "$T/ca"
mkdir -p "$T/srv"
cp -r "$D" "$T/srv/d"
rm -rf "$T/srv/d/.ktaudit"
coproc HS { exec python3 "$TOOLS/hostile_server.py" --dir "$T/srv" --tls-cert "$T/ca/server.pem" --tls-key "$T/ca/server.key"; }
HS_PID=$HS_PID
read -r HPORT SPORT <&"${HS[0]}"
S="https://127.0.0.1:$SPORT"
H="http://127.0.0.1:$HPORT"
expect 3 "https with an unknown CA: verify tiles" -- $K verify tiles "$S/files/d/" --log-key "$VK" --timeout 5
has err "$S/files/d/checkpoint" "names the URL"
expect 3 "https with an unknown CA: verify lookup" -- $K verify lookup "$S/files/d/" --label alice --log-key "$VK" --timeout 5
expect 0 "https with its CA given" -- $K verify lookup "$S/files/d/" --label alice --log-key "$VK" --ca-file "$T/ca/ca.pem" --timeout 5
printf '# ktaudit pins v1\nlog %s\nurl %s/files/d/\nkey %s\n' "$ORIGIN" "$S" "$VK" >"$T/tls.pins"
expect 3 "https with an unknown CA: check --pins" -- $K check --pins "$T/tls.pins"
expect 0 "check --pins with its CA given" -- $K check --pins "$T/tls.pins" --ca-file "$T/ca/ca.pem"
cat >"$T/tls.conf" <<EOF
state_dir $T/tlsstate
log $ORIGIN
url $S/files/d/
key $VK
EOF
expect 3 "https with an unknown CA: monitor --once" -- $K monitor --config "$T/tls.conf" --once
has err "SSL" "monitor names the TLS failure"
# http:// may not turn into file://, https:// may not turn into http://.
expect 3 "http redirect to file:// refused (lookup)" -- $K verify lookup "$H/redirect?to=file://$T/srv/d/lookup/alice" --log-key "$VK" --timeout 5
has err "redirect to another scheme refused" "says so"
expect 3 "https redirect to http:// refused" -- $K verify lookup "$S/redirect?to=$H/files/d/lookup/alice" --log-key "$VK" --ca-file "$T/ca/ca.pem" --timeout 5
has err "redirect to another scheme refused" "says so (downgrade)"
expect 2 "a path is not fetched as a URL" -- $K verify tiles "$T/srv/d/" --log-key "$VK"
expect 0 "file:// when the URL given is file://" -- $K verify tiles "file://$T/srv/d/" --log-key "$VK"

finish
