# Shared CT test fixture (sourced by tests/cli/test_ct*.sh after lib.sh):
# ct_make_certs writes, under $T, a P-256 log key (log.key, log.pub), a test
# CA, two certificate keys (good.key, evil.key) and five DER certificates in
# $T/certs for fake_ct_log.py (entry i holds certificate i % 5):
#   00-other      good key  other.test www.other.test
#   01-example    good key  example.org www.example.org
#   02-sub        good key  mail.example.org
#   03-evil       evil key  login.example.org
#   04-lookalike  evil key  badexample.org
# and sets GOOD and EVIL to the keys' SPKI SHA-256 (hex).

# mkcert NAME KEY SAN...: a certificate for the SANs, signed by the test CA.
mkcert() {
  local n=$1 key=$2
  shift 2
  local san=""
  for d in "$@"; do san="${san:+$san,}DNS:$d"; done
  openssl req -new -key "$key" -subj "/CN=$1" -out "$T/ca/$n.csr" 2>/dev/null
  printf 'subjectAltName=%s\n' "$san" >"$T/ca/$n.ext"
  openssl x509 -req -in "$T/ca/$n.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
    -days 30 -extfile "$T/ca/$n.ext" -outform der -out "$T/certs/$n.der" 2>/dev/null
}

ct_make_certs() {
  mkdir -p "$T/certs" "$T/ca"
  openssl ecparam -name prime256v1 -genkey -noout -out "$T/log.key" 2>/dev/null
  openssl ec -in "$T/log.key" -pubout -out "$T/log.pub" 2>/dev/null
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca/ca.key" \
    -out "$T/ca/ca.pem" -subj "/CN=Fake Test CA" -days 30 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/good.key" 2>/dev/null
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/evil.key" 2>/dev/null
  GOOD=$(openssl pkey -in "$T/good.key" -pubout -outform der | sha256sum | cut -d' ' -f1)
  EVIL=$(openssl pkey -in "$T/evil.key" -pubout -outform der | sha256sum | cut -d' ' -f1)
  mkcert 00-other "$T/good.key" other.test www.other.test
  mkcert 01-example "$T/good.key" example.org www.example.org
  mkcert 02-sub "$T/good.key" mail.example.org
  mkcert 03-evil "$T/evil.key" login.example.org
  mkcert 04-lookalike "$T/evil.key" badexample.org
}
