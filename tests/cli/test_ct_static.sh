#!/usr/bin/env bash
# Static CT logs (c2sp.org/static-ct-api) in the monitor (issue 7): a `ctlog`
# section with `monitoring_url`, against a static log written here by
# tests/tools/static_ct_log.py (data tiles of TileLeaf entries built from
# certificates made with the openssl CLI, hash tiles, an RFC6962NoteSignature
# checkpoint) and served over HTTP on loopback: replay over full and partial
# data tiles, a watched domain's certificate with an unapproved key, growth
# with state kept, a tampered data tile, fork and rollback with evidence,
# a wrong key.
set -eu
. "$(dirname "$0")/lib.sh"
. "$KTA_SRCDIR/tests/tools/monitor_lib.sh"
MK="python3 $KTA_SRCDIR/tests/tools/static_ct_log.py"

mkdir "$T/certs" "$T/ca"
openssl ecparam -name prime256v1 -genkey -noout -out "$T/log.key" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$T/other.key" 2>/dev/null
LOGKEY=$(openssl pkey -in "$T/log.key" -pubout -outform der | base64 -w0)
OTHERKEY=$(openssl pkey -in "$T/other.key" -pubout -outform der | base64 -w0)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca/ca.key" \
  -out "$T/ca/ca.pem" -subj "/CN=Fake Test CA" -days 30 2>/dev/null
mkcert() { # name key SAN...
  local n=$1 key=$2
  shift 2
  local san=""
  for d in "$@"; do san="${san:+$san,}DNS:$d"; done
  openssl req -new -key "$key" -subj "/CN=$1" -out "$T/ca/$n.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$san" >"$T/ca/$n.ext"
  openssl x509 -req -in "$T/ca/$n.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -extfile "$T/ca/$n.ext" -outform der -out "$T/certs/$n.der" 2>/dev/null
}
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/good.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/evil.key" 2>/dev/null
GOOD=$(openssl pkey -in "$T/good.key" -pubout -outform der | sha256sum | cut -d' ' -f1)
# entry i holds certificate i % 5; every 4th entry (3, 7, ...) is a precert_entry
mkcert 00-other "$T/good.key" other.test
mkcert 01-example "$T/good.key" example.org www.example.org
mkcert 02-sub "$T/good.key" mail.example.org
mkcert 03-evil "$T/evil.key" login.example.org
mkcert 04-lookalike "$T/evil.key" badexample.org

ORIGIN=static.test/2026h1
mklog() { # DIR SIZE [ARGS...]
  local d=$1 n=$2
  shift 2
  $MK --certs "$T/certs" --key "$T/log.key" --origin "$ORIGIN" --size "$n" --out "$d" --precert-every 4 "$@"
}
mklog "$T/srv" 300
serve "$T/srv"
# sconf NAME [LINE...]: a configuration with one static ctlog section
sconf() {
  local name=$1
  shift
  {
    echo "state_dir $T/$name.state"
    echo "sink file $T/$name.alerts"
    echo "ctlog $name"
    echo "url https://$ORIGIN/"
    echo "monitoring_url $URL"
    echo "key $LOGKEY"
    for l in "$@"; do echo "$l"; done
  } >"$T/$name.conf"
}
once() { # once NAME WANT DESC
  expect "$2" "$3" -- $K monitor --config "$T/$1.conf" --once
}

# --- configuration ------------------------------------------------------------------
sconf a "watch_domain .example.org $GOOD" "watch_domain example.org $GOOD"
expect 0 "check-config with a static ctlog" -- $K monitor --config "$T/a.conf" --check-config
printf 'state_dir %s\nctlog x\nurl https://a/\nmonitoring_url %s\nmonitoring_url %s\nkey %s\n' "$T/x" "$URL" "$URL" "$LOGKEY" >"$T/dup.conf"
expect 2 "monitoring_url twice" -- $K monitor --config "$T/dup.conf" --check-config
has err "monitoring_url" "names the directive"
printf 'state_dir %s\nctlog x\nurl https://a/\nmonitoring_url ftp://x/\nkey %s\n' "$T/x" "$LOGKEY" >"$T/bad.conf"
expect 2 "monitoring_url not a URL" -- $K monitor --config "$T/bad.conf" --check-config

# --- first cycle: a full and a partial data tile -----------------------------------
once a 1 "first cycle over 300 entries finds the unapproved key"
has err "replayed 300 entries (0..300) of the signed head of size 300" "full and partial data tiles replayed"
has err "certificate for example.org (example.org, ...) at entry 1: approved key $GOOD" "approved key reported"
has err "certificate for .example.org (mail.example.org) at entry 297: approved key" "entries of the partial tile reported"
has_alert a "key_changed alert label=.example.org version=0 leaf=3" "exact alert"
nalerts a 1 "one alert for one certificate in 60 entries"
$ALERTS get "$T/a.alerts" key_changed details >"$T/d.json"
has d.json '"entry_type": "precert"' "entry 3 is a precertificate (TileLeaf pre_certificate parsed)"

# --- restart and growth: partial tile 1 became full, a new partial tile ------------------
once a 0 "restart: nothing new"
has err "replayed 0 entries (300..300)" "state kept"
mklog "$T/srv" 600
rm -f "$T/srv/tile/data/001.p/44"
once a 1 "grown to 600 (the old partial data tile is gone: the full one is read)"
has err "replayed 300 entries (300..600)" "resumed at 300"
ok '! grep -q "at entry 1: approved" "$T/err"' "earlier certificates not reported again"
nalerts a 1 "the same certificate does not alert again"

# --- approved keys only ------------------------------------------------------------
sconf b "watch_domain example.org $GOOD" "max_entries 250"
once b 0 "approved keys only, 250 entries per cycle"
has err "replayed 250 entries (0..250)" "max_entries honoured"
once b 0 "second cycle"
has err "replayed 250 entries (250..500)" "partial progress tied to the head by the tiles"
nalerts b 0 "no alert"

# --- a data tile that does not match the hash tiles ---------------------------------
sconf c
mklog "$T/srv" 700 --bad-entry 650
once a 1 "served entries differ from the signed tree"
has err "do not hash to the signed tree's hash tiles" "data tile authenticated against the hash tiles"
has_alert a "root_mismatch critical label=- version=- leaf=-" "root_mismatch alert"
mklog "$T/srv" 700
once a 1 "honest again: progress resumes (the unapproved certificate again)"
has err "replayed 100 entries (600..700)" "resumed"

# --- fork and rollback, with note evidence --------------------------------------------
VK=$(python3 -c "
import base64,hashlib,sys
spki=base64.b64decode(sys.argv[2]); o=sys.argv[1]
kid=hashlib.sha256(o.encode()+b'\n\x05'+hashlib.sha256(spki).digest()).digest()[:4]
print('%s+%s+%s' % (o, kid.hex(), base64.b64encode(b'\x05'+spki).decode()))" "$ORIGIN" "$LOGKEY")
mklog "$T/srv" 700 --fork
once a 1 "same size, another root"
has_alert a "fork critical label=- version=- leaf=-" "fork alert"
F=$($ALERTS get "$T/a.alerts" fork evidence | tr -d '"')
expect 0 "fork evidence verifies with the 0x05 note key" -- $K verify evidence "$F" --log-key "$VK"
has out "the evidence holds" "verdict"
sed 's/static.test/statik.test/' "$F" >"$T/f.bad"
expect 1 "evidence for another origin" -- $K verify evidence "$T/f.bad" --log-key "$VK"
mklog "$T/srv" 650
once a 1 "smaller checkpoint"
has_alert a "rollback critical label=- version=- leaf=-" "rollback alert"
R=$($ALERTS get "$T/a.alerts" rollback evidence | tr -d '"')
expect 0 "rollback evidence verifies" -- $K verify evidence "$R" --log-key "$VK"

# --- a checkpoint signed by another key -------------------------------------------------
sed -i "s|^key .*|key $OTHERKEY|" "$T/c.conf"
mklog "$T/srv" 700
once c 1 "checkpoint not signed by the configured key"
has_alert c "bad_signature critical label=- version=- leaf=-" "bad_signature alert"

# --- the real certificate of testdata/ct (an x509_entry leaf_input) ------------------------
mkdir "$T/real"
python3 -c "
import sys; b=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(b[15:len(b)-2])" \
  "$KTA_TESTDATA/ct/real_leaf_input.bin" "$T/real/a.der"
$MK --certs "$T/real" --key "$T/log.key" --origin "$ORIGIN" --size 20 --out "$T/rsrv" --precert-every 4
serve "$T/rsrv"
sconf r "watch_domain idnet.net 614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e"
once r 0 "a static log of a real certificate, its key approved"
has err "certificate for idnet.net (www.idnet.net, ...) at entry 0: approved key 614b58f143d78d7ed97ddc1ce06150fde9fca3289e7ee3a2754cc5619375689e" "real certificate parsed from a TileLeaf"
n=$(grep -c "approved key" "$T/err")
ok '[ "$n" -eq 20 ]' "every entry reported, precertificates too (got $n)"
nalerts r 0 "no alert"

# --- a data tile that does not parse ----------------------------------------------------
head -c 1000 "$T/srv/tile/data/002.p/188" >"$T/trunc"
mv "$T/trunc" "$T/srv/tile/data/002.p/188"
once b 3 "a truncated data tile: could not audit"
has err "data tile 2" "names the tile"
has_alert b "unreachable warning label=- version=- leaf=-" "unreachable warning"
$ALERTS get "$T/b.alerts" unreachable details >"$T/u.json"
has u.json '"class": "malformed"' "class malformed"
finish
