#!/usr/bin/env python3
"""Writes the keydir/v1 fixtures in this directory (docs/protocol.md).

An implementation independent of src/entry.c: it builds entries as text and
signs them with python `cryptography` (Ed25519 is deterministic, RFC 8032),
so the C tests cross-check two implementations. Keys come from published
test vectors (RFC 8032 section 7.1, RFC 7748 section 6.1); nothing is
random. Run from anywhere: python3 testdata/entry/make_fixtures.py
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives import serialization

HERE = os.path.dirname(os.path.abspath(__file__))
CTX = b"keydir/v1 auth\n"

# RFC 8032 7.1 TEST 1, 2, 3 secret keys (seeds).
SEED_PHONE = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
SEED_LAPTOP = bytes.fromhex("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
SEED_NEWPHONE = bytes.fromhex("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")
# A key the provider controls (a "ghost"): RFC 8032 7.1 TEST 1024's secret key.
SEED_GHOST = bytes.fromhex("f5e5767cf153319517630f226876b86c8160cc583bc013744c6bf255f5cc0ee5")
# RFC 7748 6.1 Alice's and Bob's X25519 public keys.
X_PHONE = bytes.fromhex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
X_LAPTOP = bytes.fromhex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")


def pub(seed):
    k = Ed25519PrivateKey.from_private_bytes(seed)
    return k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def b64(b):
    return base64.b64encode(b).decode()


def body(label, version, time, keys):
    """keys: list of (alg, pub bytes, device); sorted canonically here."""
    keys = sorted(keys, key=lambda k: (k[0].encode(), k[1]))
    s = "keydir/v1\nlabel %s\nversion %d\ntime %d\n" % (label, version, time)
    for alg, p, dev in keys:
        s += "key %s %s %s\n" % (alg, b64(p), dev)
    return s.encode()


def sign(signed, seeds):
    auths = []
    for seed in seeds:
        sig = Ed25519PrivateKey.from_private_bytes(seed).sign(CTX + signed)
        auths.append((pub(seed), sig))
    auths.sort()
    return signed + b"".join(b"auth ed25519 %s %s\n" % (b64(p).encode(), b64(s).encode())
                             for p, s in auths)


def write(rel, data):
    path = os.path.join(HERE, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


P_PHONE, P_LAPTOP, P_NEWPHONE, P_GHOST = (pub(s) for s in
                                          (SEED_PHONE, SEED_LAPTOP, SEED_NEWPHONE, SEED_GHOST))
ALICE = "alice@example.org"
V1_KEYS = [("ed25519", P_PHONE, "phone-1"), ("x25519", X_PHONE, "phone-1")]
V2_KEYS = V1_KEYS + [("ed25519", P_LAPTOP, "laptop"), ("x25519", X_LAPTOP, "laptop")]

# The worked example of docs/protocol.md: version 1, then version 2 adding a
# laptop, signed by the phone's key (owner) and by the laptop's own key.
v1 = body(ALICE, 1, 1764140000, V1_KEYS)
v2_signed = body(ALICE, 2, 1764143000, V2_KEYS)
v2 = sign(v2_signed, [SEED_PHONE, SEED_LAPTOP])
write("example_v1.entry", v1)
write("example_signed.entry", v2)

# A complete two-leaf tlog-tiles log holding v1 and v2 (docs/protocol.md,
# "Worked example"): checkpoint signed by RFC 8032 7.1 "TEST SHA(abc)"'s key.
SEED_LOG = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
ORIGIN = "example.org/keydir"
h0 = hashlib.sha256(b"\x00" + v1).digest()
h1 = hashlib.sha256(b"\x00" + v2).digest()
root = hashlib.sha256(b"\x01" + h0 + h1).digest()
text = ("%s\n2\n%s\n" % (ORIGIN, b64(root))).encode()
key_id = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + pub(SEED_LOG)).digest()[:4]
note_sig = Ed25519PrivateKey.from_private_bytes(SEED_LOG).sign(text)
checkpoint = text + b"\n" + ("\u2014 %s %s\n" % (ORIGIN, b64(key_id + note_sig))).encode()
write("example_log/checkpoint", checkpoint)
write("example_log/tile/0/000.p/2", h0 + h1)
write("example_log/tile/entries/000.p/2",
      len(v1).to_bytes(2, "big") + v1 + len(v2).to_bytes(2, "big") + v2)
write("example_log/log.vkey",
      ("%s+%s+%s\n" % (ORIGIN, key_id.hex(), b64(b"\x01" + pub(SEED_LOG)))).encode())
answer = {"checkpoint": checkpoint.decode(), "leaf_index": 1, "entry": b64(v2),
          "audit_path": [b64(h0)]}
write("example_log/lookup/alice%40example.org",
      (json.dumps(answer, ensure_ascii=False) + "\n").encode())

# Authorization cases (expected results are in tests/unit/test_entry.c).
write("auth/v3_ghost_unauthorized.entry",
      body(ALICE, 3, 1764150000, V2_KEYS + [("ed25519", P_GHOST, "backup")]))
write("auth/v3_signed_by_new_key_only.entry",
      sign(body(ALICE, 3, 1764150000, V2_KEYS + [("ed25519", P_GHOST, "backup")]), [SEED_GHOST]))
write("auth/v2_tampered_bad_signature.entry",
      v2.replace(b"time 1764143000\n", b"time 1764143001\n"))
write("auth/v3_owner_removes_laptop.entry",
      sign(body(ALICE, 3, 1764150000, V1_KEYS), [SEED_PHONE]))
write("auth/v3_replace_phone.entry",
      sign(body(ALICE, 3, 1764150000,
                [("ed25519", P_NEWPHONE, "phone-1"), ("x25519", X_PHONE, "phone-1"),
                 ("ed25519", P_LAPTOP, "laptop"), ("x25519", X_LAPTOP, "laptop")]),
           [SEED_PHONE, SEED_NEWPHONE]))
write("auth/v3_deleted_by_owner.entry", sign(body(ALICE, 3, 1764150000, []), [SEED_LAPTOP]))
# After a deletion no key can authorize: a re-creation is always reported.
write("auth/v4_recreated_after_delete.entry",
      sign(body(ALICE, 4, 1764160000, V1_KEYS), [SEED_PHONE]))
# An x25519 key of the previous version whose bytes are an ed25519 key: the
# matching auth line must not count as the owner's.
write("auth/x25519_trick_v1.entry", body("bob@example.org", 1, 1764140000,
                                         [("x25519", P_GHOST, "tablet")]))
write("auth/x25519_trick_v2.entry",
      sign(body("bob@example.org", 2, 1764140100, [("ed25519", P_GHOST, "tablet")]),
           [SEED_GHOST]))
write("auth/v1_self_signed.entry",
      sign(body("carol@example.org", 1, 1764140000, [("ed25519", P_LAPTOP, "laptop")]),
           [SEED_LAPTOP]))
v1bad = sign(body("carol@example.org", 1, 1764140000, [("ed25519", P_LAPTOP, "laptop")]),
             [SEED_PHONE])
write("auth/v1_bad_signature.entry", v1bad.replace(b"carol", b"carl_"))

# Valid entries.
write("good/deleted.entry", body("dave@example.org", 7, 1764199999, []))
write("good/unicode_label.entry",
      body("zo\u00eb@\u4f8b\u3048.jp", 1, 0, [("x25519", X_PHONE, "t\u00e9l\u00e9phone")]))
write("good/opaque_label.entry",
      body("hmac:3q2+7w/AbC==", 12, 1700000000, [("ed25519", P_PHONE, "d")]))
write("good/limits.entry",
      body("L" * 1024, 9223372036854775807, 9223372036854775807,
           [("ed25519", P_PHONE, "D" * 255)]))
write("good/same_bytes_two_algs.entry",
      body("erin@example.org", 3, 1764140000,
           [("ed25519", P_PHONE, "phone"), ("x25519", P_PHONE, "phone")]))
write("good/dot_label.entry", body("..", 1, 1, [("x25519", X_LAPTOP, ".")]))

# Known-bad entries: (name, bytes, line substring, reason substring).
K = "key ed25519 %s phone-1\n" % b64(P_PHONE)
KX = "key x25519 %s phone-1\n" % b64(X_PHONE)
HEAD = "keydir/v1\nlabel alice\nversion 4\ntime 1764143000\n"
GOOD = HEAD + K + KX
A = "auth ed25519 %s %s\n" % (b64(P_PHONE), b64(bytes(64)))
A2 = "auth ed25519 %s %s\n" % (b64(P_LAPTOP), b64(bytes(64)))
pk = b64(P_PHONE)
BAD = [
    ("empty", "", "line 1", "empty entry"),
    ("only_newline", "\n", "line 1", "empty line"),
    ("wrong_header", GOOD.replace("keydir/v1", "keydir/v2"), "line 1", "expected header"),
    ("header_space", GOOD.replace("keydir/v1", "keydir/v1 "), "line 1", "expected header"),
    ("header_bom", "\ufeff" + GOOD, "line 1", "expected header"),
    ("header_missing", GOOD[len("keydir/v1\n"):], "line 1", "expected header"),
    ("cr_header", GOOD.replace("keydir/v1\n", "keydir/v1\r\n"), "line 1", "carriage return"),
    ("crlf_everywhere", GOOD.replace("\n", "\r\n"), "line 1", "carriage return"),
    ("cr_label", GOOD.replace("alice\n", "alice\r\n"), "line 2", "carriage return"),
    ("no_final_newline", GOOD[:-1], "line 6", "missing final newline"),
    ("trailing_byte", GOOD + "x", "line 7", "missing final newline"),
    ("trailing_nul", GOOD + "\0", "line 7", "missing final newline"),
    ("trailing_newline", GOOD + "\n", "line 7", "empty line"),
    ("empty_line_middle", GOOD.replace("version", "\nversion"), "line 3", "empty line"),
    ("duplicate_label", HEAD.replace("version", "label bob\nversion") + K, "line 3",
     "duplicate \"label\""),
    ("duplicate_version", GOOD.replace("time", "version 4\ntime"), "line 4",
     "duplicate \"version\""),
    ("duplicate_time_after_keys", GOOD + "time 1\n", "line 7", "duplicate \"time\""),
    ("version_before_label",
     "keydir/v1\nversion 4\nlabel alice\ntime 1\n" + K, "line 2", "expected a \"label\" line"),
    ("missing_time", "keydir/v1\nlabel alice\nversion 4\n" + K, "line 4",
     "expected a \"time\" line"),
    ("ends_before_time", "keydir/v1\nlabel alice\nversion 4\n", "line 4", "missing \"time\""),
    ("header_only", "keydir/v1\n", "line 2", "missing \"label\""),
    ("version_leading_zero", GOOD.replace("version 4", "version 04"), "line 3", "leading zero"),
    ("version_zero", GOOD.replace("version 4", "version 0"), "line 3", "less than 1"),
    ("version_plus", GOOD.replace("version 4", "version +4"), "line 3", "non-digit"),
    ("version_hex", GOOD.replace("version 4", "version 0x4"), "line 3", "leading zero"),
    ("version_empty", GOOD.replace("version 4", "version "), "line 3", "trailing space"),
    ("version_above_int64", GOOD.replace("version 4", "version 9223372036854775808"), "line 3",
     "more than 9223372036854775807"),
    ("version_above_uint64", GOOD.replace("version 4", "version 18446744073709551616"),
     "line 3", "64 bits"),
    ("time_leading_zero", GOOD.replace("time 1764143000", "time 01764143000"), "line 4",
     "leading zero"),
    ("time_negative", GOOD.replace("time 1764143000", "time -1"), "line 4", "non-digit"),
    ("time_exponent", GOOD.replace("time 1764143000", "time 1e9"), "line 4", "non-digit"),
    ("time_fraction", GOOD.replace("time 1764143000", "time 1764143000.5"), "line 4",
     "non-digit"),
    ("b64_pad_bits", GOOD.replace(pk, pk[:-2] + "b="), "line 5", "not canonical base64"),
    ("b64_urlsafe", GOOD.replace(pk, pk.replace("/", "_").replace("+", "-")
                                 if ("/" in pk or "+" in pk) else "_" + pk[1:]),
     "line 5", "not canonical base64"),
    ("b64_no_padding", GOOD.replace(pk, pk.rstrip("=")), "line 5", "43 characters"),
    ("key_31_bytes", GOOD.replace(pk, b64(P_PHONE[:31])), "line 5",
     "not canonical base64 of 32 bytes"),
    ("key_33_bytes", GOOD.replace(pk, b64(P_PHONE + b"\0")), "line 5",
     "not canonical base64 of 32 bytes"),
    ("key_64_bytes", GOOD.replace(pk, b64(P_PHONE * 2)), "line 5", "88 characters"),
    ("label_space", GOOD.replace("label alice", "label alice smith"), "line 2", "3 fields"),
    ("label_nbsp", GOOD.replace("label alice", "label alice\u00a0smith"), "line 2", "U+00A0"),
    ("label_ideographic_space", GOOD.replace("label alice", "label alice\u3000"), "line 2",
     "U+3000"),
    ("label_line_separator", GOOD.replace("label alice", "label a\u2028b"), "line 2",
     "U+2028"),
    ("label_bom", GOOD.replace("label alice", "label \ufeffalice"), "line 2", "U+FEFF"),
    ("label_c1_nel", GOOD.replace("label alice", "label a\u0085b"), "line 2", "U+0085"),
    ("label_control", GOOD.replace("label alice", "label a\x01b"), "line 2",
     "control character 0x01"),
    ("label_nul", GOOD.replace("label alice", "label a\x00b"), "line 2",
     "control character 0x00"),
    ("label_del", GOOD.replace("label alice", "label a\x7fb"), "line 2",
     "control character 0x7f"),
    ("label_tab", GOOD.replace("label alice", "label\talice"), "line 2", "tab"),
    ("label_double_space", GOOD.replace("label alice", "label  alice"), "line 2",
     "double space"),
    ("label_leading_space", GOOD.replace("label alice", " label alice"), "line 2",
     "leading space"),
    ("label_too_long", GOOD.replace("label alice", "label " + "a" * 1025), "line 2",
     "more than 1024"),
    ("label_uppercase_keyword", GOOD.replace("label alice", "Label alice"), "line 2",
     "unknown line type"),
    ("device_too_long", GOOD.replace(K, K.replace("phone-1", "d" * 256)), "line 5",
     "more than 255"),
    ("device_missing", GOOD.replace(K, K.replace(" phone-1", "")), "line 5", "3 fields"),
    ("device_trailing_space", GOOD.replace(K, K.replace("phone-1", "phone-1 ")), "line 5",
     "trailing space"),
    ("device_extra_field", GOOD.replace(K, K.replace("phone-1", "phone 1")), "line 5",
     "5 fields"),
    ("device_nbsp", GOOD.replace(K, K.replace("phone-1", "phone\u00a01")), "line 5",
     "U+00A0"),
    ("key_tab_separator", GOOD.replace(K, K.replace("key ed25519 ", "key\ted25519 ")),
     "line 5", "tab"),
    ("unknown_line_type", GOOD + "comment hello\n", "line 7", "unknown line type"),
    ("unknown_alg", GOOD.replace(KX, KX.replace("x25519", "rsa")), "line 6",
     "unknown key algorithm"),
    ("alg_uppercase", GOOD.replace(K, K.replace("ed25519", "Ed25519")), "line 5",
     "unknown key algorithm"),
    ("keys_alg_out_of_order", HEAD + KX + K, "line 6", "out of order"),
    ("keys_pub_out_of_order",
     HEAD + "key ed25519 %s laptop\n" % b64(P_PHONE) + "key ed25519 %s phone\n" % b64(P_LAPTOP),
     "line 6", "out of order"),
    ("duplicate_key", HEAD + K + K.replace("phone-1", "phone-2"), "line 6", "duplicate key"),
    ("duplicate_device", HEAD + "key ed25519 %s phone\n" % b64(P_LAPTOP) +
     "key ed25519 %s phone\n" % b64(P_PHONE), "line 6", "already has an ed25519 key"),
    ("key_after_auth", HEAD + K + A + KX, "line 7", "key line after an auth line"),
    ("auth_before_time", "keydir/v1\nlabel alice\nversion 4\n" + A, "line 4",
     "expected a \"time\" line"),
    ("auth_unknown_alg", GOOD + A.replace("ed25519", "x25519"), "line 7",
     "unknown auth algorithm"),
    ("auths_out_of_order", GOOD + (A2 + A if P_LAPTOP > P_PHONE else A + A2), "line 8",
     "auth lines out of order"),
    ("duplicate_auth", GOOD + A + A, "line 8", "duplicate auth key"),
    ("auth_sig_63_bytes", GOOD + A.replace(b64(bytes(64)), b64(bytes(63))), "line 7",
     "84 characters"),
    ("auth_sig_noncanonical", GOOD + A.replace(b64(bytes(64)), b64(bytes(64))[:-3] + "B=="),
     "line 7", "not canonical base64"),
    ("auth_three_fields", GOOD + "auth ed25519 %s\n" % pk, "line 7", "3 fields"),
    ("invalid_utf8", GOOD.replace("label alice", "label al\udcc3(ce"), "line 2",
     "invalid UTF-8"),
    ("overlong_utf8", GOOD.replace("label alice", "label \udcc0\udcafx"), "line 2",
     "invalid UTF-8"),
    ("surrogate_utf8", GOOD.replace("label alice", "label \udced\udca0\udc80"), "line 2",
     "invalid UTF-8"),
]

expect = ["# file\tline substring\treason substring (tests/unit/test_entry.c)"]
for name, text, line, why in BAD:
    data = text.encode("utf-8", "surrogateescape")
    write("bad/%s.entry" % name, data)
    expect.append("%s.entry\t%s\t%s" % (name, line, why))
write("bad/EXPECT", ("\n".join(expect) + "\n").encode())
print("wrote %d bad fixtures" % len(BAD), file=sys.stderr)
