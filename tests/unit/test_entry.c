/* Unit tests for keydir/v1 entries (include/ktaudit/entry.h, docs/protocol.md). */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ed25519.h"
#include "ktaudit/encoding.h"
#include "ktaudit/entry.h"
#include "ktaudit/file.h"

/* RFC 8032 7.1 TEST 1 and TEST 2 secret keys: the phone and laptop keys of
 * the worked example (testdata/entry/make_fixtures.py). */
static const char seed_phone_hex[] =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char seed_laptop_hex[] =
    "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";

static void seed_from_hex(const char *hex, uint8_t seed[32])
{
	assert_int_equal(kta_hex_decode(hex, 64, seed, 32), KTA_OK);
}

/* Parses a fixture, asserting success. */
static struct kta_entry *parse_ok(const uint8_t *buf, size_t len)
{
	struct kta_entry *e = NULL;
	struct kta_error err;
	enum kta_status r = kta_entry_parse(buf, len, &e, &err);

	if (r != KTA_OK)
		fail_msg("parse failed: %s", err.msg);
	assert_non_null(e);
	return e;
}

/* Asserts that e, the parse of (buf, len), is spelled in len bytes, packs
 * into fewer bytes than the text, that the packed form rebuilds exactly the
 * text, and that a buffer one byte short is refused. */
static void assert_pack_roundtrip(const struct kta_entry *e, const uint8_t *buf, size_t len)
{
	uint8_t *packed = malloc(len), *text = NULL;
	struct kta_error err;
	size_t plen = 0, tlen = 0;

	assert_non_null(packed);
	assert_int_equal(kta_entry_spelled_len(e), len);
	assert_int_equal(kta_entry_pack(e, packed, len, &plen, NULL), KTA_OK);
	assert_true(plen > 0 && plen < len);
	if (kta_entry_unpack(packed, plen, e->version, &text, &tlen, &err) != KTA_OK)
		fail_msg("unpack failed: %s", err.msg);
	assert_int_equal(tlen, len);
	assert_memory_equal(text, buf, len);
	free(text);
	assert_int_equal(kta_entry_pack(e, packed, plen - 1, &tlen, &err), KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "room for"));
	assert_int_equal(tlen, 0);
	free(packed);
}

/* Asserts parse -> serialize is byte-exact and the result parses equal, and
 * the same of pack -> unpack. */
static void assert_roundtrip(const uint8_t *buf, size_t len)
{
	struct kta_entry *e = parse_ok(buf, len), *e2;
	struct kta_error err;
	uint8_t *ser = NULL;
	size_t n = 0, i;

	if (kta_entry_serialize(e, &ser, &n, &err) != KTA_OK)
		fail_msg("serialize failed: %s", err.msg);
	assert_int_equal(n, len);
	assert_memory_equal(ser, buf, len);
	e2 = parse_ok(ser, n);
	assert_string_equal(e->label, e2->label);
	assert_true(e->version == e2->version && e->time == e2->time);
	assert_int_equal(e->nkeys, e2->nkeys);
	assert_int_equal(e->nauths, e2->nauths);
	assert_int_equal(e->signed_len, e2->signed_len);
	for (i = 0; i < e->nkeys; i++) {
		assert_int_equal(e->keys[i].alg, e2->keys[i].alg);
		assert_memory_equal(e->keys[i].pub, e2->keys[i].pub, 32);
		assert_string_equal(e->keys[i].device, e2->keys[i].device);
	}
	for (i = 0; i < e->nauths; i++)
		assert_memory_equal(&e->auths[i], &e2->auths[i], sizeof(e->auths[i]));
	assert_pack_roundtrip(e, buf, len);
	free(ser);
	kta_entry_free(e);
	kta_entry_free(e2);
}

static void parse_example(void **state)
{
	size_t len;
	uint8_t *buf = tu_read_testdata("entry/example_signed.entry", &len);
	struct kta_entry *e = parse_ok(buf, len);
	uint8_t seed[32], pub[32];
	struct kta_error err;

	(void)state;
	assert_string_equal(e->label, "alice@example.org");
	assert_true(e->version == 2);
	assert_true(e->time == 1764143000u);
	assert_int_equal(e->nkeys, 4);
	assert_int_equal(e->keys[0].alg, KTA_ENTRY_ALG_ED25519);
	assert_string_equal(e->keys[0].device, "laptop");
	assert_string_equal(e->keys[1].device, "phone-1");
	assert_int_equal(e->keys[2].alg, KTA_ENTRY_ALG_X25519);
	assert_string_equal(e->keys[2].device, "phone-1");
	assert_string_equal(e->keys[3].device, "laptop");
	assert_int_equal(e->nauths, 2);
	/* signed_len ends right after the last key line */
	assert_true(e->signed_len < len);
	assert_memory_equal(buf + e->signed_len, "auth ed25519 ", 13);
	assert_int_equal(buf[e->signed_len - 1], '\n');
	seed_from_hex(seed_phone_hex, seed);
	assert_int_equal(kta_ed25519_public(seed, pub, &err), KTA_OK);
	assert_memory_equal(e->keys[1].pub, pub, 32);
	assert_memory_equal(e->auths[1].pub, pub, 32);
	assert_string_equal(kta_entry_alg_name(KTA_ENTRY_ALG_ED25519), "ed25519");
	assert_string_equal(kta_entry_alg_name(KTA_ENTRY_ALG_X25519), "x25519");
	assert_null(kta_entry_alg_name((enum kta_entry_alg)0));
	kta_entry_free(e);
	kta_entry_free(NULL);
	free(buf);
}

static const char *const good_files[] = {
    "entry/example_v1.entry",
    "entry/example_signed.entry",
    "entry/good/deleted.entry",
    "entry/good/unicode_label.entry",
    "entry/good/opaque_label.entry",
    "entry/good/limits.entry",
    "entry/good/same_bytes_two_algs.entry",
    "entry/good/dot_label.entry",
    "entry/auth/v1_bad_signature.entry",
    "entry/auth/v1_self_signed.entry",
    "entry/auth/v2_tampered_bad_signature.entry",
    "entry/auth/v3_deleted_by_owner.entry",
    "entry/auth/v3_ghost_unauthorized.entry",
    "entry/auth/v3_owner_removes_laptop.entry",
    "entry/auth/v3_replace_phone.entry",
    "entry/auth/v3_signed_by_new_key_only.entry",
    "entry/auth/x25519_trick_v1.entry",
    "entry/auth/x25519_trick_v2.entry",
    "entry/auth/v4_recreated_after_delete.entry",
};

static void good_fixtures_roundtrip(void **state)
{
	size_t i, len;

	(void)state;
	for (i = 0; i < sizeof(good_files) / sizeof(good_files[0]); i++) {
		uint8_t *buf = tu_read_testdata(good_files[i], &len);

		assert_roundtrip(buf, len);
		free(buf);
	}
}

static void good_fixture_details(void **state)
{
	size_t len;
	uint8_t *buf;
	struct kta_entry *e;

	(void)state;
	buf = tu_read_testdata("entry/good/deleted.entry", &len);
	e = parse_ok(buf, len);
	assert_int_equal(e->nkeys, 0);
	assert_null(e->keys);
	assert_null(e->auths);
	assert_int_equal(e->signed_len, len);
	kta_entry_free(e);
	free(buf);

	buf = tu_read_testdata("entry/good/limits.entry", &len);
	e = parse_ok(buf, len);
	assert_int_equal(strlen(e->label), KTA_LABEL_MAX_LEN);
	assert_int_equal(strlen(e->keys[0].device), KTA_DEVICE_MAX_LEN);
	assert_true(e->version == (uint64_t)INT64_MAX && e->time == (uint64_t)INT64_MAX);
	kta_entry_free(e);
	free(buf);

	buf = tu_read_testdata("entry/good/unicode_label.entry", &len);
	e = parse_ok(buf, len);
	assert_string_equal(e->label, "zo\xc3\xab@\xe4\xbe\x8b\xe3\x81\x88.jp");
	assert_string_equal(e->keys[0].device, "t\xc3\xa9l\xc3\xa9phone");
	kta_entry_free(e);
	free(buf);
}

/* Each testdata/entry/bad fixture: MALFORMED, message names line and reason. */
static void bad_fixtures(void **state)
{
	size_t elen, n = 0;
	uint8_t *expect = tu_read_testdata("entry/bad/EXPECT", &elen);
	char *line, *save = NULL;

	(void)state;
	for (line = strtok_r((char *)expect, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *t1, *t2, rel[256];
		uint8_t *buf;
		size_t len;
		struct kta_entry *e = (struct kta_entry *)1;
		struct kta_error err;
		enum kta_status r;

		if (line[0] == '#')
			continue;
		t1 = strchr(line, '\t');
		assert_non_null(t1);
		*t1++ = '\0';
		t2 = strchr(t1, '\t');
		assert_non_null(t2);
		*t2++ = '\0';
		(void)snprintf(rel, sizeof(rel), "entry/bad/%s", line);
		buf = tu_read_testdata(rel, &len);
		kta_error_clear(&err);
		r = kta_entry_parse(buf, len, &e, &err);
		if (r != KTA_ERR_MALFORMED || strstr(err.msg, t1) == NULL ||
		    strstr(err.msg, t2) == NULL)
			fail_msg("%s: status %d, message \"%s\"; want \"%s\" and \"%s\"", line,
				 (int)r, err.msg, t1, t2);
		assert_null(e);
		free(buf);
		n++;
	}
	assert_true(n >= 70);
	free(expect);
}

/* Hand-written rejections of a base entry, for cases easier to state inline. */
static void bad_inline(void **state)
{
	static const struct {
		const char *text;
		size_t len; /* 0: strlen */
		const char *want;
	} cases[] = {
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\nkey ed25519 "
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= d\n",
	     0, NULL},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\n", 0, NULL},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1", 0, "line 4: missing final newline"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\n\0", 36, "line 5: missing final newline"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\n\r\n", 0, "line 5: carriage return"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1 \n", 0, "line 4: trailing space"},
	    {"keydir/v1\nlabel a\nversion 1\ntime\n", 0, "line 4: \"time\" line has 1 fields"},
	    {"keydir/v1\nlabel a\nversion 1\nversion 1\n", 0, "line 4: duplicate \"version\""},
	    {"keydir/v1\nlabel a\ntime 1\n", 0, "line 3: expected a \"version\" line"},
	    {"keydir/v1\nkeydir/v1\n", 0, "line 2: unknown line type"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\nkey ed25519 "
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=  d\n",
	     0, "line 5: double space"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\nkey  ed25519 "
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= d\n",
	     0, "line 5: double space"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\nkey ed25519 "
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\td\n",
	     0, "line 5: tab"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 1\nkey ed25519 "
	     "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo= d\x80\n",
	     0, "line 5: invalid UTF-8"},
	    {"keydir/v1\nlabel a\nversion 18446744073709551615\ntime 1\n", 0,
	     "line 3: version 18446744073709551615 is more than"},
	    {"keydir/v1\nlabel a\nversion 1\ntime 9223372036854775808\n", 0,
	     "line 4: time 9223372036854775808 is more than"},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].text);
		struct kta_entry *e = NULL;
		struct kta_error err;
		enum kta_status r;

		kta_error_clear(&err);
		r = kta_entry_parse((const uint8_t *)cases[i].text, len, &e, &err);
		if (cases[i].want == NULL) {
			if (r != KTA_OK)
				fail_msg("case %zu: %s", i, err.msg);
			assert_roundtrip((const uint8_t *)cases[i].text, len);
			kta_entry_free(e);
			continue;
		}
		if (r != KTA_ERR_MALFORMED || strstr(err.msg, cases[i].want) == NULL)
			fail_msg("case %zu: status %d, \"%s\"; want \"%s\"", i, (int)r, err.msg,
				 cases[i].want);
		assert_null(e);
	}
}

/* Builds an entry of exactly `target` bytes from equal-length key lines. */
static uint8_t *build_sized(size_t target, size_t *len)
{
	struct kta_entry e;
	struct kta_entry_key *keys = calloc(300, sizeof(*keys));
	char(*dev)[KTA_DEVICE_MAX_LEN + 1] = calloc(300, sizeof(*dev));
	size_t used = 35, n = 0, i; /* "keydir/v1\nlabel x\nversion 1\ntime 0\n" */
	uint8_t *out = NULL;
	struct kta_error err;

	assert_non_null(keys);
	assert_non_null(dev);
	/* key line = 58 + device length, device 1..255 */
	while (used < target) {
		size_t rest = target - used, dl;

		dl = rest >= 58 + 255 + 58 + 6 ? 255 : rest - 58;
		assert_true(dl >= 6 && dl <= 255);
		keys[n].alg = KTA_ENTRY_ALG_ED25519;
		keys[n].pub[0] = (uint8_t)(n >> 8);
		keys[n].pub[1] = (uint8_t)n;
		(void)snprintf(dev[n], sizeof(dev[n]), "%05zu", n);
		for (i = 5; i < dl; i++)
			dev[n][i] = 'x';
		dev[n][dl] = '\0';
		keys[n].device = dev[n];
		used += 58 + dl;
		n++;
	}
	assert_int_equal(used, target);
	memset(&e, 0, sizeof(e));
	e.label = "x";
	e.version = 1;
	e.time = 0;
	e.keys = keys;
	e.nkeys = n;
	if (kta_entry_serialize(&e, &out, len, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	assert_int_equal(*len, target);
	/* one byte more is over the limit on the way out too */
	dev[n - 1][strlen(dev[n - 1])] = 'y';
	{
		uint8_t *o2 = NULL;
		size_t l2 = 0;

		if (target == KTA_ENTRY_MAX_SIZE) {
			assert_int_equal(kta_entry_serialize(&e, &o2, &l2, &err), KTA_ERR_LIMIT);
			assert_non_null(strstr(err.msg, "65535"));
			assert_null(o2);
		}
	}
	free(keys);
	free(dev);
	return out;
}

static void size_limit(void **state)
{
	size_t len;
	uint8_t *buf = build_sized(KTA_ENTRY_MAX_SIZE, &len);
	uint8_t *big;
	struct kta_entry *e = NULL;
	struct kta_error err;

	(void)state;
	assert_roundtrip(buf, len); /* exactly 65535 bytes is fine */
	big = malloc(len + 1);
	assert_non_null(big);
	memcpy(big, buf, len - 1);
	big[len - 1] = 'z'; /* lengthen the last device name by one byte */
	big[len] = '\n';
	assert_int_equal(kta_entry_parse(big, len + 1, &e, &err), KTA_ERR_MALFORMED);
	assert_non_null(strstr(err.msg, "65536 bytes, more than 65535"));
	assert_null(e);
	free(big);
	free(buf);
}

/* A packed entry (entry.h) built by hand: label, time, keys, auths. */
struct packed {
	uint8_t b[2048];
	size_t n;
};

static void pk_bytes(struct packed *p, const void *d, size_t n)
{
	assert_true(p->n + n <= sizeof(p->b));
	memcpy(p->b + p->n, d, n);
	p->n += n;
}

static void pk_varint(struct packed *p, uint64_t v)
{
	assert_true(p->n + KTA_VARINT_MAX <= sizeof(p->b));
	p->n += kta_varint_put(p->b + p->n, v);
}

/* "a@b", time 7, keys (ed25519 0x11.., "ph") and (x25519 0x22.., "ph"), no
 * auths. */
static void pk_base(struct packed *p)
{
	uint8_t pub[32];

	p->n = 0;
	pk_varint(p, 3);
	pk_bytes(p, "a@b", 3);
	pk_varint(p, 7);
	pk_varint(p, 2);
	memset(pub, 0x11, 32);
	pk_bytes(p, "\x01", 1);
	pk_bytes(p, pub, 32);
	pk_bytes(p, "\x02ph", 3);
	memset(pub, 0x22, 32);
	pk_bytes(p, "\x02", 1);
	pk_bytes(p, pub, 32);
	pk_bytes(p, "\x02ph", 3);
	pk_varint(p, 0);
}

/* Asserts that (p, n) with version does not unpack, naming `what`. */
static void unpack_bad(const uint8_t *p, size_t n, uint64_t version, const char *what)
{
	uint8_t *text = (uint8_t *)"untouched";
	size_t tlen = 99;
	struct kta_error err;

	if (kta_entry_unpack(p, n, version, &text, &tlen, &err) != KTA_ERR_MALFORMED)
		fail_msg("unpacked (%s)", what);
	assert_null(text);
	assert_int_equal(tlen, 0);
	if (strstr(err.msg, what) == NULL)
		fail_msg("\"%s\" does not name \"%s\"", err.msg, what);
}

static void pack_rejects(void **state)
{
	static const char want[] = "keydir/v1\nlabel a@b\nversion 5\ntime 7\n"
				   "key ed25519 ERERERERERERERERERERERERERERERERERERERERERE= ph\n"
				   "key x25519 IiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiIiI= ph\n";
	struct packed p, q;
	uint8_t *text = NULL, big[KTA_ENTRY_MAX_SIZE + 1], out[64];
	size_t tlen = 0, i, dev_at;
	struct kta_entry e;
	struct kta_entry_key k;
	char label[KTA_LABEL_MAX_LEN + 2];
	struct kta_error err;

	(void)state;
	pk_base(&p);
	assert_int_equal(kta_entry_unpack(p.b, p.n, 5, &text, &tlen, NULL), KTA_OK);
	assert_int_equal(tlen, strlen(want));
	assert_memory_equal(text, want, tlen);
	free(text);
	/* every truncation, a byte too many */
	for (i = 0; i < p.n; i++)
		unpack_bad(p.b, i, 5, "packed entry");
	q = p;
	pk_bytes(&q, "", 1);
	unpack_bad(q.b, q.n, 5, "trailing bytes");
	memset(big, 0, sizeof(big));
	unpack_bad(big, sizeof(big), 5, "too long");
	/* algorithms: 0 and 3 are none */
	dev_at = 1 + 3 + 1 + 1; /* the first key's alg byte */
	q = p;
	q.b[dev_at] = 0;
	unpack_bad(q.b, q.n, 5, "unknown key algorithm");
	q.b[dev_at] = 3;
	unpack_bad(q.b, q.n, 5, "unknown key algorithm");
	/* names: empty, a NUL inside, too long, or one the format forbids */
	q = p;
	q.b[dev_at + 33] = 0; /* device length 0 */
	unpack_bad(q.b, q.n, 5, "bad device name");
	q = p;
	q.b[dev_at + 35] = 0; /* "p\0" */
	unpack_bad(q.b, q.n, 5, "bad device name");
	q = p;
	q.b[2] = 0; /* "a\0b" */
	unpack_bad(q.b, q.n, 5, "bad label");
	q = p;
	q.b[2] = ' '; /* "a b": a space, which the text format forbids */
	unpack_bad(q.b, q.n, 5, "line 2");
	q.n = 0;
	pk_varint(&q, 0);
	pk_bytes(&q, p.b + 4, p.n - 4);
	unpack_bad(q.b, q.n, 5, "bad label");
	q.n = 0;
	pk_varint(&q, KTA_LABEL_MAX_LEN + 1);
	memset(label, 'a', sizeof(label));
	pk_bytes(&q, label, KTA_LABEL_MAX_LEN + 1);
	pk_bytes(&q, p.b + 4, p.n - 4);
	unpack_bad(q.b, q.n, 5, "bad label");
	/* a varint longer than its shortest form */
	q.n = 0;
	pk_bytes(&q, "\x83\x00", 2);
	pk_bytes(&q, p.b + 1, p.n - 1);
	unpack_bad(q.b, q.n, 5, "bad label length");
	/* counts the bytes cannot hold */
	q.n = 0;
	pk_bytes(&q, p.b, 5);
	pk_varint(&q, (uint64_t)1 << 40);
	pk_bytes(&q, p.b + 6, p.n - 6);
	unpack_bad(q.b, q.n, 5, "more keys than bytes left");
	q = p;
	q.b[q.n - 1] = 1; /* one auth, no bytes for it */
	memset(big, 0x33, 95);
	pk_bytes(&q, big, 95);
	unpack_bad(q.b, q.n, 5, "more auths than bytes left");
	q = p;
	q.b[q.n - 1] = 0x80; /* an auth count cut short */
	unpack_bad(q.b, q.n, 5, "bad auth count");
	/* keys out of canonical order: the text would not parse */
	q = p;
	memcpy(q.b + dev_at, p.b + dev_at + 36, 36);
	memcpy(q.b + dev_at + 36, p.b + dev_at, 36);
	unpack_bad(q.b, q.n, 5, "canonical order");
	/* two ed25519 keys of one device (the x25519 key made ed25519 and
	 * moved after it), a device name with a space */
	q = p;
	q.b[dev_at + 36] = 1;
	unpack_bad(q.b, q.n, 5, "device");
	q = p;
	q.b[dev_at + 35] = ' ';
	unpack_bad(q.b, q.n, 5, "line 5");
	/* two auths out of order (by public key) */
	q = p;
	q.n--;
	pk_varint(&q, 2);
	memset(big, 0x44, 96);
	pk_bytes(&q, big, 96);
	memset(big, 0x43, 96);
	pk_bytes(&q, big, 96);
	unpack_bad(q.b, q.n, 5, "auths not in canonical order");
	q.b[p.n - 1 + 1 + 96] = 0x45; /* the second's key now above the first's */
	assert_int_equal(kta_entry_unpack(q.b, q.n, 5, &text, &tlen, NULL), KTA_OK);
	free(text);
	/* versions the text format has not */
	unpack_bad(p.b, p.n, 0, "version");
	unpack_bad(p.b, p.n, (uint64_t)INT64_MAX + 1, "version");
	q.n = 0;
	pk_bytes(&q, p.b, 4);
	pk_varint(&q, (uint64_t)INT64_MAX + 1);
	pk_bytes(&q, p.b + 5, p.n - 5);
	unpack_bad(q.b, q.n, 5, "time");

	/* pack refuses what it cannot write (and what is too big for out) */
	memset(&e, 0, sizeof(e));
	memset(&k, 0, sizeof(k));
	k.alg = KTA_ENTRY_ALG_ED25519;
	k.device = (char *)"";
	e.label = (char *)"a@b";
	e.version = 1;
	e.keys = &k;
	e.nkeys = 1;
	assert_int_equal(kta_entry_pack(&e, out, sizeof(out), &tlen, &err), KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "key 1: device name of 0 bytes"));
	k.device = (char *)"ph";
	assert_int_equal(kta_entry_pack(&e, out, sizeof(out), &tlen, NULL), KTA_OK);
	assert_int_equal(tlen, 1 + 3 + 1 + 1 + 34 + 2 + 1);
	assert_int_equal(kta_entry_pack(&e, out, tlen - 1, &tlen, NULL), KTA_ERR_LIMIT);
	label[KTA_LABEL_MAX_LEN + 1] = '\0';
	e.label = label;
	assert_int_equal(kta_entry_pack(&e, big, sizeof(big), &tlen, &err), KTA_ERR_LIMIT);
	assert_non_null(strstr(err.msg, "too long"));
	/* the spelled length at every decimal length of version and time */
	e.label = (char *)"a@b";
	e.label = (char *)"a@b";
	for (i = 0; i < 20; i++) {
		uint64_t p10 = 1, j;

		for (j = 0; j < i; j++)
			p10 *= 10;
		for (j = 0; j < 3; j++) {
			uint64_t v = p10 + j - 1; /* 10^i - 1, 10^i, 10^i + 1 */

			if (v == 0 || v > (uint64_t)INT64_MAX)
				continue;
			e.version = v;
			e.time = v;
			assert_int_equal(kta_entry_serialize(&e, &text, &tlen, NULL), KTA_OK);
			assert_int_equal(kta_entry_spelled_len(&e), tlen);
			free(text);
		}
	}
	e.version = e.time = (uint64_t)INT64_MAX;
	assert_int_equal(kta_entry_serialize(&e, &text, &tlen, NULL), KTA_OK);
	assert_int_equal(kta_entry_spelled_len(&e), tlen);
	free(text);
}

static void serialize_rejects(void **state)
{
	static struct kta_entry_key k2[2];
	struct kta_entry base, e;
	struct kta_entry_auth au[2];
	uint8_t *out = (uint8_t *)1;
	size_t n = 7;
	struct kta_error err;

	(void)state;
	memset(&base, 0, sizeof(base));
	memset(k2, 0, sizeof(k2));
	memset(au, 0, sizeof(au));
	base.label = "alice";
	base.version = 1;
	k2[0].alg = KTA_ENTRY_ALG_ED25519;
	k2[0].pub[0] = 1;
	k2[0].device = "a";
	k2[1].alg = KTA_ENTRY_ALG_ED25519;
	k2[1].pub[0] = 2;
	k2[1].device = "b";
	base.keys = k2;
	base.nkeys = 2;
	assert_int_equal(kta_entry_serialize(&base, &out, &n, &err), KTA_OK);
	free(out);

#define REJECT(code, substr)                                                                       \
	do {                                                                                       \
		out = (uint8_t *)1;                                                                \
		assert_int_equal(kta_entry_serialize(&e, &out, &n, &err), code);                   \
		assert_null(out);                                                                  \
		assert_int_equal(n, 0);                                                            \
		if (strstr(err.msg, substr) == NULL)                                               \
			fail_msg("\"%s\" lacks \"%s\"", err.msg, substr);                          \
	} while (0)

	e = base;
	e.label = "al ice";
	REJECT(KTA_ERR_USAGE, "line 2: label contains a space");
	e = base;
	e.label = "";
	REJECT(KTA_ERR_USAGE, "line 2: label is empty");
	e = base;
	e.label = NULL;
	REJECT(KTA_ERR_USAGE, "label is NULL");
	e = base;
	e.label = "a\nversion 9";
	REJECT(KTA_ERR_USAGE, "control character 0x0a");
	e = base;
	e.version = 0;
	REJECT(KTA_ERR_USAGE, "line 3: version 0");
	e = base;
	e.version = (uint64_t)INT64_MAX + 1;
	REJECT(KTA_ERR_USAGE, "line 3");
	e = base;
	e.time = UINT64_MAX;
	REJECT(KTA_ERR_USAGE, "line 4");
	e = base;
	k2[1].pub[0] = 1;
	REJECT(KTA_ERR_USAGE, "line 6: keys not in canonical order or duplicated");
	k2[1].pub[0] = 0;
	REJECT(KTA_ERR_USAGE, "line 6: keys not in canonical order");
	k2[1].pub[0] = 2;
	k2[1].device = "a";
	REJECT(KTA_ERR_USAGE, "line 6: device \"a\" already has an ed25519 key (line 5)");
	k2[1].device = NULL;
	REJECT(KTA_ERR_USAGE, "line 6: device name is NULL");
	k2[1].device = "with space";
	REJECT(KTA_ERR_USAGE, "line 6: device name contains a space");
	k2[1].device = "b";
	k2[1].alg = (enum kta_entry_alg)7;
	REJECT(KTA_ERR_USAGE, "line 6: unknown key algorithm 7");
	k2[1].alg = KTA_ENTRY_ALG_ED25519;
	e = base;
	e.keys = NULL;
	REJECT(KTA_ERR_USAGE, "NULL");
	e = base;
	au[0].pub[0] = 5;
	au[1].pub[0] = 5;
	e.auths = au;
	e.nauths = 2;
	REJECT(KTA_ERR_USAGE, "line 8: auths not in canonical order or duplicated");
	au[1].pub[0] = 4;
	REJECT(KTA_ERR_USAGE, "line 8");
	au[1].pub[0] = 6;
	assert_int_equal(kta_entry_serialize(&e, &out, &n, &err), KTA_OK);
	free(out);
	assert_int_equal(kta_entry_serialize(NULL, &out, &n, &err), KTA_ERR_USAGE);
#undef REJECT
}

/* serialize -> parse gives back the same fields */
static void serialize_then_parse(void **state)
{
	struct kta_entry_key k[3];
	struct kta_entry_auth a[1];
	struct kta_entry e;
	struct kta_entry *p;
	uint8_t *out = NULL;
	size_t n = 0, i;
	struct kta_error err;

	(void)state;
	memset(k, 0, sizeof(k));
	memset(a, 0, sizeof(a));
	for (i = 0; i < 32; i++) {
		k[0].pub[i] = (uint8_t)(i * 7);
		k[1].pub[i] = (uint8_t)(200 + i);
		k[2].pub[i] = (uint8_t)(i * 7);
		a[0].pub[i] = (uint8_t)i;
	}
	for (i = 0; i < 64; i++)
		a[0].sig[i] = (uint8_t)(255 - i);
	k[0].alg = KTA_ENTRY_ALG_ED25519;
	k[0].device = "phone";
	k[1].alg = KTA_ENTRY_ALG_ED25519;
	k[1].device = "laptop";
	k[2].alg = KTA_ENTRY_ALG_X25519;
	k[2].device = "phone";
	memset(&e, 0, sizeof(e));
	e.label = "\xf0\x9f\x94\x91@x";
	e.version = 42;
	e.time = 1764143000;
	e.keys = k;
	e.nkeys = 3;
	e.auths = a;
	e.nauths = 1;
	assert_int_equal(kta_entry_serialize(&e, &out, &n, &err), KTA_OK);
	p = parse_ok(out, n);
	assert_string_equal(p->label, e.label);
	assert_true(p->version == 42 && p->time == 1764143000u);
	assert_int_equal(p->nkeys, 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(p->keys[i].alg, k[i].alg);
		assert_memory_equal(p->keys[i].pub, k[i].pub, 32);
		assert_string_equal(p->keys[i].device, k[i].device);
	}
	assert_int_equal(p->nauths, 1);
	assert_memory_equal(&p->auths[0], &a[0], sizeof(a[0]));
	assert_int_equal(p->signed_len, n - 147);
	kta_entry_free(p);
	free(out);
}

/* The Python-made example is reproduced by kta_entry_sign, in either order. */
static void sign_reproduces_example(void **state)
{
	size_t len, ulen, n1, n2, n3;
	uint8_t *ex = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *o1 = NULL, *o2 = NULL, *o3 = NULL;
	uint8_t phone[32], laptop[32];
	struct kta_entry *e = parse_ok(ex, len);
	struct kta_error err;

	(void)state;
	seed_from_hex(seed_phone_hex, phone);
	seed_from_hex(seed_laptop_hex, laptop);
	ulen = e->signed_len;
	assert_int_equal(kta_entry_sign(ex, ulen, phone, &o1, &n1, &err), KTA_OK);
	assert_int_equal(kta_entry_sign(o1, n1, laptop, &o2, &n2, &err), KTA_OK);
	assert_int_equal(n2, len);
	assert_memory_equal(o2, ex, len);
	free(o1);
	free(o2);
	assert_int_equal(kta_entry_sign(ex, ulen, laptop, &o1, &n1, &err), KTA_OK);
	assert_int_equal(kta_entry_sign(o1, n1, phone, &o2, &n2, &err), KTA_OK);
	assert_int_equal(n2, len);
	assert_memory_equal(o2, ex, len);
	/* signing twice with one key is refused */
	o3 = (uint8_t *)1;
	assert_int_equal(kta_entry_sign(o2, n2, phone, &o3, &n3, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "line 10: entry is already signed"));
	assert_null(o3);
	/* a malformed entry is not signed */
	assert_int_equal(kta_entry_sign(ex, ulen - 1, phone, &o3, &n3, &err), KTA_ERR_MALFORMED);
	assert_null(o3);
	free(o1);
	free(o2);
	kta_entry_free(e);
	free(ex);
}

struct auth_case {
	const char *prev;  /* NULL: no previous version given */
	const char *entry; /* file under testdata/entry */
	enum kta_auth_result want;
	size_t bad_line;  /* for BAD_SIGNATURE */
	size_t nverified; /* verified auth lines */
};

static void check_auth_files(void **state)
{
	static const struct auth_case cases[] = {
	    {NULL, "example_v1.entry", KTA_AUTH_FIRST_VERSION, 0, 0},
	    {"example_v1.entry", "example_signed.entry", KTA_AUTH_OWNER, 0, 2},
	    {NULL, "example_signed.entry", KTA_AUTH_PREV_UNKNOWN, 0, 2},
	    {"example_signed.entry", "auth/v3_ghost_unauthorized.entry", KTA_AUTH_UNAUTHORIZED, 0,
	     0},
	    {"example_signed.entry", "auth/v3_signed_by_new_key_only.entry", KTA_AUTH_UNAUTHORIZED,
	     0, 1},
	    {"example_v1.entry", "auth/v2_tampered_bad_signature.entry", KTA_AUTH_BAD_SIGNATURE, 9,
	     0},
	    {NULL, "auth/v2_tampered_bad_signature.entry", KTA_AUTH_BAD_SIGNATURE, 9, 0},
	    {"example_signed.entry", "auth/v3_owner_removes_laptop.entry", KTA_AUTH_OWNER, 0, 1},
	    {"example_signed.entry", "auth/v3_replace_phone.entry", KTA_AUTH_OWNER, 0, 2},
	    {"example_signed.entry", "auth/v3_deleted_by_owner.entry", KTA_AUTH_OWNER, 0, 1},
	    {"example_v1.entry", "auth/v3_owner_removes_laptop.entry", KTA_AUTH_OWNER, 0, 1},
	    {"auth/x25519_trick_v1.entry", "auth/x25519_trick_v2.entry", KTA_AUTH_UNAUTHORIZED, 0,
	     1},
	    {NULL, "auth/v1_self_signed.entry", KTA_AUTH_FIRST_VERSION, 0, 1},
	    {NULL, "auth/v1_bad_signature.entry", KTA_AUTH_BAD_SIGNATURE, 6, 0},
	    /* deleted previous version: nothing can authorize a re-creation */
	    {"auth/v3_deleted_by_owner.entry", "auth/v4_recreated_after_delete.entry",
	     KTA_AUTH_UNAUTHORIZED, 0, 1},
	    /* a "previous" entry that is not older is a usage error */
	    {"auth/v3_owner_removes_laptop.entry", "example_signed.entry", KTA_AUTH_OWNER, 0, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[256];
		uint8_t *raw, *praw = NULL;
		size_t len, plen;
		struct kta_entry *e, *p = NULL;
		struct kta_entry_auth_report rep;
		enum kta_auth_result res;
		struct kta_error err;
		enum kta_status want_status = KTA_OK;

		(void)snprintf(rel, sizeof(rel), "entry/%s", cases[i].entry);
		raw = tu_read_testdata(rel, &len);
		e = parse_ok(raw, len);
		if (cases[i].prev != NULL) {
			(void)snprintf(rel, sizeof(rel), "entry/%s", cases[i].prev);
			praw = tu_read_testdata(rel, &plen);
			p = parse_ok(praw, plen);
			if (p->version >= e->version)
				want_status = KTA_ERR_USAGE;
		}
		if (want_status != KTA_OK) {
			assert_int_equal(kta_entry_check_auth(e, raw, len, p, &res, &err),
					 KTA_ERR_USAGE);
			assert_non_null(strstr(err.msg, "not below"));
		} else {
			if (kta_entry_check_auth_report(e, raw, len, p, &rep, &err) != KTA_OK)
				fail_msg("case %zu: %s", i, err.msg);
			if (rep.result != cases[i].want)
				fail_msg("case %zu (%s): result %d, want %d", i, cases[i].entry,
					 (int)rep.result, (int)cases[i].want);
			assert_int_equal(rep.nverified, cases[i].nverified);
			assert_int_equal(rep.bad_line, cases[i].bad_line);
			assert_int_equal(rep.nverified + rep.nbad, e->nauths);
			if (rep.result == KTA_AUTH_BAD_SIGNATURE) {
				assert_true(rep.bad_auth < e->nauths);
				assert_int_equal(
				    kta_entry_auth_verify(e, raw, len, rep.bad_auth, &err),
				    KTA_ERR_VERIFY);
				(void)snprintf(rel, sizeof(rel), "line %zu: auth signature by",
					       cases[i].bad_line);
				assert_non_null(strstr(err.msg, rel));
			} else {
				assert_true(rep.bad_auth == SIZE_MAX);
			}
			assert_true((rep.result == KTA_AUTH_OWNER) == (rep.owner_auth != SIZE_MAX));
			assert_int_equal(kta_entry_check_auth(e, raw, len, p, &res, &err), KTA_OK);
			assert_int_equal(res, rep.result);
		}
		kta_entry_free(e);
		kta_entry_free(p);
		free(raw);
		free(praw);
	}
}

/* An auth line by a key that is only in the new set does not authorize. */
static void auth_new_key_only(void **state)
{
	size_t len, plen;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *praw = tu_read_testdata("entry/example_v1.entry", &plen);
	struct kta_entry *e = parse_ok(raw, len), *p = parse_ok(praw, plen), *t;
	struct kta_entry_auth_report rep;
	struct kta_error err;
	size_t cut;

	(void)state;
	/* keep only the first auth line (by the laptop, which v1 does not have) */
	cut = e->signed_len + 147;
	t = parse_ok(raw, cut);
	assert_int_equal(t->nauths, 1);
	assert_memory_equal(t->auths[0].pub, e->keys[0].pub, 32); /* the laptop key */
	assert_int_equal(kta_entry_check_auth_report(t, raw, cut, p, &rep, &err), KTA_OK);
	assert_int_equal(rep.result, KTA_AUTH_UNAUTHORIZED);
	assert_int_equal(rep.nverified, 1);
	/* with no auth line at all, still unauthorized */
	kta_entry_free(t);
	t = parse_ok(raw, e->signed_len);
	assert_int_equal(kta_entry_check_auth_report(t, raw, e->signed_len, p, &rep, &err), KTA_OK);
	assert_int_equal(rep.result, KTA_AUTH_UNAUTHORIZED);
	assert_int_equal(rep.nverified, 0);
	kta_entry_free(t);
	kta_entry_free(e);
	kta_entry_free(p);
	free(raw);
	free(praw);
}

static void check_auth_usage(void **state)
{
	size_t len, plen, olen;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *praw = tu_read_testdata("entry/example_v1.entry", &plen);
	uint8_t *other = tu_read_testdata("entry/auth/x25519_trick_v1.entry", &olen);
	struct kta_entry *e = parse_ok(raw, len), *p = parse_ok(praw, plen);
	struct kta_entry *o = parse_ok(other, olen);
	enum kta_auth_result res;
	struct kta_error err;
	uint8_t *copy;

	(void)state;
	/* previous version of another label */
	assert_int_equal(kta_entry_check_auth(e, raw, len, o, &res, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "different label"));
	/* raw bytes that are not e's */
	assert_int_equal(kta_entry_check_auth(e, praw, plen, p, &res, &err), KTA_ERR_USAGE);
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, raw, len);
	copy[20] ^= 1;
	assert_int_equal(kta_entry_check_auth(e, copy, len, p, &res, &err), KTA_ERR_USAGE);
	assert_non_null(strstr(err.msg, "not the serialization"));
	assert_int_equal(kta_entry_auth_verify(e, copy, len, 0, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_entry_auth_verify(e, raw, len, 2, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_entry_auth_verify(e, raw, len, 0, &err), KTA_OK);
	assert_int_equal(kta_entry_auth_verify(e, raw, len, 1, &err), KTA_OK);
	assert_int_equal(kta_entry_check_auth(NULL, raw, len, p, &res, &err), KTA_ERR_USAGE);
	/* raw is not read for an entry without auth lines, and needed for one with */
	assert_int_equal(kta_entry_check_auth(p, NULL, 0, NULL, &res, &err), KTA_OK);
	assert_int_equal(res, KTA_AUTH_FIRST_VERSION);
	assert_int_equal(kta_entry_check_auth(e, NULL, 0, p, &res, &err), KTA_ERR_USAGE);
	free(copy);
	kta_entry_free(e);
	kta_entry_free(p);
	kta_entry_free(o);
	free(raw);
	free(praw);
	free(other);
}

/* docs/protocol.md quotes the example entries and their leaf hash. */
static void doc_example(void **state)
{
	static const char *const files[] = {"entry/example_v1.entry", "entry/example_signed.entry"};
	static const char *const logfiles[] = {"entry/example_log/checkpoint",
					       "entry/example_log/log.vkey",
					       "entry/example_log/lookup/alice%40example.org"};
	char path[4096];
	uint8_t *doc = NULL;
	size_t dlen, i;
	struct kta_error err;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/docs/protocol.md", KTA_SRCDIR);
	if (kta_file_read(path, 1u << 20, &doc, &dlen, &err) != KTA_OK)
		fail_msg("%s", err.msg);
	for (i = 0; i < 2; i++) {
		size_t len;
		uint8_t *ex = tu_read_testdata(files[i], &len);
		uint8_t in[1 + KTA_ENTRY_MAX_SIZE], h[32];
		char hex[65];
		unsigned hl = 0;

		if (strstr((const char *)doc, (const char *)ex) == NULL)
			fail_msg("docs/protocol.md does not quote %s verbatim", files[i]);
		in[0] = 0x00; /* RFC 9162 2.1.1 leaf hash */
		memcpy(in + 1, ex, len);
		assert_int_equal(EVP_Digest(in, len + 1, h, &hl, EVP_sha256(), NULL), 1);
		kta_hex_encode(h, 32, hex);
		if (strstr((const char *)doc, hex) == NULL)
			fail_msg("docs/protocol.md lacks the leaf hash %s of %s", hex, files[i]);
		free(ex);
	}
	/* the example log's files, quoted verbatim */
	for (i = 0; i < sizeof(logfiles) / sizeof(logfiles[0]); i++) {
		size_t len;
		uint8_t *f = tu_read_testdata(logfiles[i], &len);

		if (strstr((const char *)doc, (const char *)f) == NULL)
			fail_msg("docs/protocol.md does not quote %s verbatim", logfiles[i]);
		free(f);
	}
	/* the signed message's SHA-256 and the example root */
	{
		size_t len;
		uint8_t *ex = tu_read_testdata("entry/example_signed.entry", &len);
		struct kta_entry *e = parse_ok(ex, len);
		uint8_t msg[15 + KTA_ENTRY_MAX_SIZE], h[32];
		unsigned hl = 0;
		char hex[65];

		memcpy(msg, KTA_ENTRY_AUTH_CONTEXT, 15);
		memcpy(msg + 15, ex, e->signed_len);
		assert_int_equal(EVP_Digest(msg, 15 + e->signed_len, h, &hl, EVP_sha256(), NULL),
				 1);
		kta_hex_encode(h, 32, hex);
		assert_non_null(strstr((const char *)doc, hex));
		(void)snprintf(hex, sizeof(hex), "`signed_len` is %zu", e->signed_len);
		assert_non_null(strstr((const char *)doc, hex));
		kta_entry_free(e);
		free(ex);
	}
	assert_non_null(strstr((const char *)doc, "9f667007e6453961dccf88d1feb9f25bfc3eb75a1bf254aa"
						  "63d136d116b00e01"));
	/* the lookup-name examples of the doc */
	assert_non_null(strstr((const char *)doc, "`alice%40example.org`"));
	assert_non_null(strstr((const char *)doc, "`%2E.%2Fetc%2Fpasswd`"));
	assert_non_null(strstr((const char *)doc, "`hmac%3A3q2%2B7w%2FAbC%3D%3D`"));
	free(doc);
}

static void sha256(const uint8_t *a, size_t an, const uint8_t *b, size_t bn, uint8_t out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;

	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, a, an), 1);
	if (bn > 0)
		assert_int_equal(EVP_DigestUpdate(ctx, b, bn), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, out, &n), 1);
	EVP_MD_CTX_free(ctx);
}

/*
 * testdata/entry/example_log is the two-leaf log of the doc's worked
 * example: checked here with nothing but SHA-256 and Ed25519, so that it
 * does not depend on the tile, note or lookup modules.
 */
static void example_log(void **state)
{
	size_t l1, l2, bl, tl, cl, vl, al, i;
	uint8_t *v1 = tu_read_testdata("entry/example_v1.entry", &l1);
	uint8_t *v2 = tu_read_testdata("entry/example_signed.entry", &l2);
	uint8_t *bundle = tu_read_testdata("entry/example_log/tile/entries/000.p/2", &bl);
	uint8_t *tile = tu_read_testdata("entry/example_log/tile/0/000.p/2", &tl);
	uint8_t *cp = tu_read_testdata("entry/example_log/checkpoint", &cl);
	uint8_t *vkey = tu_read_testdata("entry/example_log/log.vkey", &vl);
	uint8_t *ans = tu_read_testdata("entry/example_log/lookup/alice%40example.org", &al);
	uint8_t buf[1 + KTA_ENTRY_MAX_SIZE], h0[32], h1[32], root[32], node[65], id[32];
	uint8_t vk[33], sigbuf[68], dec[KTA_ENTRY_MAX_SIZE];
	const char *origin = "example.org/keydir";
	char b64[KTA_B64_ENCODED_LEN(68) + 1], enc[KTA_LABEL_ENCODED_MAX + 1];
	const char *text_end, *sigline;
	size_t n, tlen;
	json_t *j, *v;
	json_error_t jerr;
	struct kta_error err;

	(void)state;
	/* entry bundle: uint16 big-endian length || entry, twice */
	assert_int_equal(bl, 2 + l1 + 2 + l2);
	assert_int_equal((bundle[0] << 8) | bundle[1], l1);
	assert_memory_equal(bundle + 2, v1, l1);
	assert_int_equal((bundle[2 + l1] << 8) | bundle[3 + l1], l2);
	assert_memory_equal(bundle + 4 + l1, v2, l2);
	/* level-0 tile: the two leaf hashes, RFC 9162 2.1.1 */
	buf[0] = 0x00;
	memcpy(buf + 1, v1, l1);
	sha256(buf, l1 + 1, NULL, 0, h0);
	memcpy(buf + 1, v2, l2);
	sha256(buf, l2 + 1, NULL, 0, h1);
	assert_int_equal(tl, 64);
	assert_memory_equal(tile, h0, 32);
	assert_memory_equal(tile + 32, h1, 32);
	node[0] = 0x01;
	memcpy(node + 1, h0, 32);
	memcpy(node + 33, h1, 32);
	sha256(node, 65, NULL, 0, root);
	/* checkpoint: origin, size, root, blank line, one Ed25519 note signature */
	text_end = strstr((const char *)cp, "\n\n");
	assert_non_null(text_end);
	tlen = (size_t)(text_end - (const char *)cp) + 1;
	kta_b64_encode(root, 32, b64);
	(void)snprintf((char *)buf, sizeof(buf), "%s\n2\n%s\n", origin, b64);
	assert_int_equal(tlen, strlen((const char *)buf));
	assert_memory_equal(cp, buf, tlen);
	sigline = text_end + 2;
	(void)snprintf((char *)buf, sizeof(buf), "\xe2\x80\x94 %s ", origin);
	assert_memory_equal(sigline, buf, strlen((const char *)buf));
	sigline += strlen((const char *)buf);
	assert_int_equal(kta_b64_decode(sigline, KTA_B64_ENCODED_LEN(68), sigbuf, 68, &n), KTA_OK);
	assert_int_equal(n, 68);
	assert_int_equal(sigline[KTA_B64_ENCODED_LEN(68)], '\n');
	/* vkey: origin+keyid+base64(0x01 || pub); key ID = SHA-256(name||\n||0x01||pub)[:4] */
	n = strlen(origin);
	assert_memory_equal(vkey, origin, n);
	assert_int_equal(
	    kta_b64_decode((const char *)vkey + n + 10, KTA_B64_ENCODED_LEN(33), vk, 33, &i),
	    KTA_OK);
	assert_int_equal(vk[0], 0x01);
	memcpy(buf, origin, n);
	buf[n] = '\n';
	memcpy(buf + n + 1, vk, 33);
	sha256(buf, n + 34, NULL, 0, id);
	assert_memory_equal(id, sigbuf, 4);
	kta_hex_encode(id, 4, b64);
	assert_memory_equal(vkey + n + 1, b64, 8);
	assert_int_equal(kta_ed25519_verify(vk + 1, cp, tlen, sigbuf + 4), KTA_OK);
	/* lookup answer, at the percent-encoded path */
	assert_int_equal(kta_entry_label_encode("alice@example.org", 17, enc, &n, &err), KTA_OK);
	assert_string_equal(enc, "alice%40example.org");
	j = json_loadb((const char *)ans, al, JSON_REJECT_DUPLICATES, &jerr);
	assert_non_null(j);
	assert_int_equal(json_object_size(j), 4);
	v = json_object_get(j, "checkpoint");
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), cl);
	assert_memory_equal(json_string_value(v), cp, cl);
	v = json_object_get(j, "leaf_index");
	assert_true(json_is_integer(v) && json_integer_value(v) == 1);
	v = json_object_get(j, "entry");
	assert_true(json_is_string(v));
	assert_int_equal(
	    kta_b64_decode(json_string_value(v), json_string_length(v), dec, sizeof(dec), &n),
	    KTA_OK);
	assert_int_equal(n, l2);
	assert_memory_equal(dec, v2, l2);
	v = json_object_get(j, "audit_path");
	assert_true(json_is_array(v) && json_array_size(v) == 1);
	assert_int_equal(kta_b64_decode(json_string_value(json_array_get(v, 0)), 44, dec, 32, &n),
			 KTA_OK);
	/* RFC 9162 2.1.3.2 for index 1 of size 2: root = H(0x01 || path[0] || leaf) */
	memcpy(node + 1, dec, 32);
	memcpy(node + 33, h1, 32);
	sha256(node, 65, NULL, 0, id);
	assert_memory_equal(id, root, 32);
	json_decref(j);
	free(v1);
	free(v2);
	free(bundle);
	free(tile);
	free(cp);
	free(vkey);
	free(ans);
}

/* The signed message is exactly context || bytes before the first auth line. */
static void signed_message_bytes(void **state)
{
	size_t len;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	struct kta_entry *e = parse_ok(raw, len);
	uint8_t *msg = malloc(15 + e->signed_len);

	(void)state;
	assert_non_null(msg);
	assert_int_equal(strlen(KTA_ENTRY_AUTH_CONTEXT), 15);
	memcpy(msg, KTA_ENTRY_AUTH_CONTEXT, 15);
	memcpy(msg + 15, raw, e->signed_len);
	assert_int_equal(
	    kta_ed25519_verify(e->auths[0].pub, msg, 15 + e->signed_len, e->auths[0].sig), KTA_OK);
	assert_int_equal(
	    kta_ed25519_verify(e->auths[1].pub, msg, 15 + e->signed_len, e->auths[1].sig), KTA_OK);
	/* without the context the signature does not verify */
	assert_int_equal(kta_ed25519_verify(e->auths[0].pub, raw, e->signed_len, e->auths[0].sig),
			 KTA_ERR_VERIFY);
	free(msg);
	kta_entry_free(e);
	free(raw);
}

/*
 * One mutant of an entry: it either fails to parse with MALFORMED, or it
 * parses to an entry that re-serializes to exactly the mutant. When it parses
 * and res is not NULL, *res is its auth result against prev (or against
 * nothing when the mutant's label or version no longer fit prev).
 */
static int check_mutant(const uint8_t *m, size_t n, const struct kta_entry *prev,
			enum kta_auth_result *res)
{
	struct kta_entry *e = (struct kta_entry *)1;
	struct kta_error err;
	uint8_t *ser = NULL;
	size_t sn = 0;
	enum kta_status r;

	kta_error_clear(&err);
	r = kta_entry_parse(m, n, &e, &err);
	if (r != KTA_OK) {
		assert_int_equal(r, KTA_ERR_MALFORMED);
		assert_null(e);
		assert_true(err.msg[0] != '\0');
		return 0;
	}
	assert_int_equal(kta_entry_serialize(e, &ser, &sn, &err), KTA_OK);
	assert_int_equal(sn, n);
	assert_memory_equal(ser, m, n);
	free(ser);
	if (res == NULL) {
		kta_entry_free(e);
		return 1;
	}
	if (prev != NULL && (strcmp(prev->label, e->label) != 0 || prev->version >= e->version))
		prev = NULL;
	if (kta_entry_check_auth(e, m, n, prev, res, &err) != KTA_OK)
		fail_msg("check_auth: %s", err.msg);
	kta_entry_free(e);
	return 1;
}

static void mutate_bits(void **state)
{
	size_t len, plen, i, ok = 0;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *praw = tu_read_testdata("entry/example_v1.entry", &plen);
	struct kta_entry *p = parse_ok(praw, plen);
	uint8_t *m = malloc(len);

	(void)state;
	assert_non_null(m);
	for (i = 0; i < len * 8; i++) {
		enum kta_auth_result res;

		memcpy(m, raw, len);
		m[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (check_mutant(m, len, p, &res)) {
			/* Signed bytes changed, or an auth key or signature did:
			 * either way some auth line no longer verifies. */
			if (res != KTA_AUTH_BAD_SIGNATURE)
				fail_msg("bit %zu: result %d", i, (int)res);
			ok++;
		}
	}
	assert_true(ok > 0); /* some flips (inside base64, labels) do parse */
	free(m);
	kta_entry_free(p);
	free(raw);
	free(praw);
}

static void mutate_bytes(void **state)
{
	size_t len, plen, i, ok = 0;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *praw = tu_read_testdata("entry/example_v1.entry", &plen);
	struct kta_entry *p = parse_ok(praw, plen);
	uint8_t *m = malloc(len);
	unsigned v;

	(void)state;
	assert_non_null(m);
	for (i = 0; i < len; i++) {
		int checked = 0;

		for (v = 0; v < 256; v++) {
			enum kta_auth_result res = KTA_AUTH_BAD_SIGNATURE;

			if (v == raw[i])
				continue;
			memcpy(m, raw, len);
			m[i] = (uint8_t)v;
			/* Signatures are checked for the first parsing mutant at
			 * each offset (Ed25519 dominates the run time); mutate_bits
			 * checks every parsing mutant. */
			if (check_mutant(m, len, p, checked ? NULL : &res)) {
				if (res != KTA_AUTH_BAD_SIGNATURE)
					fail_msg("byte %zu = 0x%02x: result %d", i, v, (int)res);
				checked = 1;
				ok++;
			}
		}
	}
	assert_true(ok > 0);
	free(m);
	kta_entry_free(p);
	free(raw);
	free(praw);
}

/*
 * Truncation at every offset: a prefix parses exactly when it ends at a line
 * boundary after the time line. Dropping auth lines is not a forgery (each
 * auth line signs the same bytes on its own), so what remains decides: the
 * phone's auth (an ed25519 key of v1) authorizes, the laptop's does not.
 */
static void mutate_truncate(void **state)
{
	size_t len, plen, k, ok = 0, boundaries = 0, lines = 0;
	uint8_t *raw = tu_read_testdata("entry/example_signed.entry", &len);
	uint8_t *praw = tu_read_testdata("entry/example_v1.entry", &plen);
	struct kta_entry *p = parse_ok(praw, plen), *full = parse_ok(raw, len);

	(void)state;
	for (k = 0; k < len; k++) {
		enum kta_auth_result res;
		int parsed;

		if (k > 0 && raw[k - 1] == '\n') {
			lines++;
			if (lines >= 4)
				boundaries++;
		}
		parsed = check_mutant(raw, k, p, &res);
		assert_int_equal(parsed, k > 0 && raw[k - 1] == '\n' && lines >= 4);
		if (!parsed)
			continue;
		ok++;
		if (k <= full->signed_len) {
			/* version 2 with no auth line */
			assert_int_equal(res, KTA_AUTH_UNAUTHORIZED);
		} else {
			/* only the laptop's auth line (sorted first) is left */
			assert_true(k == full->signed_len + 147);
			assert_int_equal(res, KTA_AUTH_UNAUTHORIZED);
		}
	}
	assert_int_equal(ok, boundaries);
	assert_int_equal(ok, 6); /* after lines 4, 5, 6, 7, 8 and 9 */
	{
		enum kta_auth_result res;

		assert_int_equal(check_mutant(raw, len, p, &res), 1);
		assert_int_equal(res, KTA_AUTH_OWNER);
	}
	kta_entry_free(p);
	kta_entry_free(full);
	free(raw);
	free(praw);
}

/* Unsigned entries too: every bit flip fails cleanly or re-serializes exactly. */
static void mutate_unsigned(void **state)
{
	static const char *const files[] = {"entry/example_v1.entry", "entry/good/deleted.entry",
					    "entry/good/unicode_label.entry"};
	size_t f, i, len;

	(void)state;
	for (f = 0; f < 3; f++) {
		uint8_t *raw = tu_read_testdata(files[f], &len);
		uint8_t *m = malloc(len);

		assert_non_null(m);
		for (i = 0; i < len * 8; i++) {
			enum kta_auth_result res;

			memcpy(m, raw, len);
			m[i / 8] ^= (uint8_t)(1u << (i % 8));
			if (check_mutant(m, len, NULL, &res))
				assert_true(res == KTA_AUTH_FIRST_VERSION ||
					    res == KTA_AUTH_PREV_UNKNOWN);
		}
		free(m);
		free(raw);
	}
}

/* Random structured entries: serialize -> parse -> serialize is stable. */
static void random_roundtrip(void **state)
{
	uint64_t rng = 0x9e3779b97f4a7c15u;
	int iter;

	(void)state;
	for (iter = 0; iter < 2000; iter++) {
		struct kta_entry_key keys[8];
		struct kta_entry_auth auths[3];
		char devs[8][8];
		struct kta_entry e;
		uint8_t *out = NULL;
		size_t n = 0, nk = (size_t)(tu_rand(&rng) % 9), na = (size_t)(tu_rand(&rng) % 4), i;
		struct kta_error err;

		memset(keys, 0, sizeof(keys));
		memset(auths, 0, sizeof(auths));
		for (i = 0; i < nk; i++) {
			size_t j;

			keys[i].alg = i < nk / 2 ? KTA_ENTRY_ALG_ED25519 : KTA_ENTRY_ALG_X25519;
			for (j = 0; j < 32; j++)
				keys[i].pub[j] = (uint8_t)tu_rand(&rng);
			keys[i].pub[0] = (uint8_t)(i * 16); /* ascending within an alg */
			(void)snprintf(devs[i], sizeof(devs[i]), "d%zu", i);
			keys[i].device = devs[i];
		}
		for (i = 0; i < na; i++) {
			size_t j;

			for (j = 0; j < 32; j++)
				auths[i].pub[j] = (uint8_t)tu_rand(&rng);
			auths[i].pub[0] = (uint8_t)(i * 64);
			for (j = 0; j < 64; j++)
				auths[i].sig[j] = (uint8_t)tu_rand(&rng);
		}
		memset(&e, 0, sizeof(e));
		e.label = "r@x";
		e.version = 1 + tu_rand(&rng) % (uint64_t)INT64_MAX;
		e.time = tu_rand(&rng) % ((uint64_t)INT64_MAX + 1);
		e.keys = nk ? keys : NULL;
		e.nkeys = nk;
		e.auths = na ? auths : NULL;
		e.nauths = na;
		if (kta_entry_serialize(&e, &out, &n, &err) != KTA_OK)
			fail_msg("iteration %d: %s", iter, err.msg);
		assert_roundtrip(out, n);
		free(out);
	}
}

static struct kta_entry *load(const char *rel, uint8_t **raw)
{
	size_t len;

	*raw = tu_read_testdata(rel, &len);
	return parse_ok(*raw, len);
}

static void diff_cases(void **state)
{
	uint8_t *r1, *r2, *r3, *r4, *r5;
	struct kta_entry *v1 = load("entry/example_v1.entry", &r1);
	struct kta_entry *v2 = load("entry/example_signed.entry", &r2);
	struct kta_entry *rep = load("entry/auth/v3_replace_phone.entry", &r3);
	struct kta_entry *rm = load("entry/auth/v3_owner_removes_laptop.entry", &r4);
	struct kta_entry *del = load("entry/auth/v3_deleted_by_owner.entry", &r5);
	struct kta_entry_key_change *c = (struct kta_entry_key_change *)1;
	size_t n = 9;
	struct kta_error err;

	(void)state;
	/* v1 -> v2: the laptop's two keys are added */
	assert_int_equal(
	    kta_entry_keys_diff(v1->keys, v1->nkeys, v2->keys, v2->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].kind, KTA_ENTRY_KEY_ADDED);
	assert_null(c[0].before);
	assert_ptr_equal(c[0].after, &v2->keys[0]);
	assert_int_equal(c[1].kind, KTA_ENTRY_KEY_ADDED);
	assert_ptr_equal(c[1].after, &v2->keys[3]);
	free(c);
	/* v2 -> replace: the phone's ed25519 key is replaced */
	assert_int_equal(
	    kta_entry_keys_diff(v2->keys, v2->nkeys, rep->keys, rep->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 1);
	assert_int_equal(c[0].kind, KTA_ENTRY_KEY_REPLACED);
	assert_string_equal(c[0].before->device, "phone-1");
	assert_string_equal(c[0].after->device, "phone-1");
	assert_int_equal(c[0].before->alg, KTA_ENTRY_ALG_ED25519);
	assert_memory_not_equal(c[0].before->pub, c[0].after->pub, 32);
	free(c);
	/* v2 -> remove laptop */
	assert_int_equal(
	    kta_entry_keys_diff(v2->keys, v2->nkeys, rm->keys, rm->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].kind, KTA_ENTRY_KEY_REMOVED);
	assert_int_equal(c[1].kind, KTA_ENTRY_KEY_REMOVED);
	assert_null(c[0].after);
	free(c);
	/* deleted: everything removed; from nothing: everything added */
	assert_int_equal(
	    kta_entry_keys_diff(v2->keys, v2->nkeys, del->keys, del->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 4);
	free(c);
	assert_int_equal(kta_entry_keys_diff(NULL, 0, v1->keys, v1->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 2);
	assert_int_equal(c[1].kind, KTA_ENTRY_KEY_ADDED);
	free(c);
	/* identical sets: no changes, no allocation */
	c = (struct kta_entry_key_change *)1;
	assert_int_equal(
	    kta_entry_keys_diff(v2->keys, v2->nkeys, v2->keys, v2->nkeys, &c, &n, &err), KTA_OK);
	assert_int_equal(n, 0);
	assert_null(c);
	{
		/* rename, replacement with a rename elsewhere, ordering of kinds */
		struct kta_entry_key a[3], b[3];

		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		a[0] = (struct kta_entry_key){KTA_ENTRY_ALG_ED25519, {1}, "phone"};
		a[1] = (struct kta_entry_key){KTA_ENTRY_ALG_ED25519, {2}, "tablet"};
		a[2] = (struct kta_entry_key){KTA_ENTRY_ALG_X25519, {3}, "watch"};
		b[0] = (struct kta_entry_key){KTA_ENTRY_ALG_ED25519, {1}, "phone-old"};
		b[1] = (struct kta_entry_key){KTA_ENTRY_ALG_ED25519, {9}, "tablet"};
		b[2] = (struct kta_entry_key){KTA_ENTRY_ALG_ED25519, {10}, "watch"};
		assert_int_equal(kta_entry_keys_diff(a, 3, b, 3, &c, &n, &err), KTA_OK);
		assert_int_equal(n, 4);
		/* ed25519 "watch" is new (the old watch key was x25519) */
		assert_int_equal(c[0].kind, KTA_ENTRY_KEY_ADDED);
		assert_ptr_equal(c[0].after, &b[2]);
		assert_int_equal(c[1].kind, KTA_ENTRY_KEY_REMOVED);
		assert_ptr_equal(c[1].before, &a[2]);
		assert_int_equal(c[2].kind, KTA_ENTRY_KEY_REPLACED);
		assert_ptr_equal(c[2].before, &a[1]);
		assert_ptr_equal(c[2].after, &b[1]);
		assert_int_equal(c[3].kind, KTA_ENTRY_KEY_RENAMED);
		assert_ptr_equal(c[3].before, &a[0]);
		assert_ptr_equal(c[3].after, &b[0]);
		free(c);
		/* non-canonical input is a usage error */
		c = (struct kta_entry_key_change *)1;
		assert_int_equal(kta_entry_keys_diff(b, 3, a, 3, &c, &n, &err), KTA_OK);
		free(c);
		b[2].pub[0] = 1;
		c = (struct kta_entry_key_change *)1;
		assert_int_equal(kta_entry_keys_diff(a, 3, b, 3, &c, &n, &err), KTA_ERR_USAGE);
		assert_null(c);
		assert_int_equal(n, 0);
		b[2].pub[0] = 10;
		b[2].device = "tablet";
		assert_int_equal(kta_entry_keys_diff(a, 3, b, 3, &c, &n, &err), KTA_ERR_USAGE);
		assert_non_null(strstr(err.msg, "after key set"));
		assert_int_equal(kta_entry_keys_diff(NULL, 2, b, 0, &c, &n, &err), KTA_ERR_USAGE);
	}
	kta_entry_free(v1);
	kta_entry_free(v2);
	kta_entry_free(rep);
	kta_entry_free(rm);
	kta_entry_free(del);
	free(r1);
	free(r2);
	free(r3);
	free(r4);
	free(r5);
}

/* An encoded name is safe as one file name below lookup/. */
static void assert_safe_name(const char *enc, size_t n)
{
	size_t i;

	assert_true(n > 0);
	assert_int_equal(strlen(enc), n);
	assert_true(enc[0] != '.');
	assert_null(strchr(enc, '/'));
	for (i = 0; i < n; i++) {
		char c = enc[i];

		assert_true((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
			    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
			    c == '~' || c == '%');
	}
}

static void label_encoding(void **state)
{
	static const struct {
		const char *label, *enc;
	} cases[] = {
	    {"alice@example.org", "alice%40example.org"},
	    {".", "%2E"},
	    {"..", "%2E."},
	    {"...", "%2E.."},
	    {"/", "%2F"},
	    {"../etc/passwd", "%2E.%2Fetc%2Fpasswd"},
	    {"a/../b", "a%2F..%2Fb"},
	    {"..\\x", "%2E.%5Cx"},
	    {"~user_1-x.y", "~user_1-x.y"},
	    {"zo\xc3\xab", "zo%C3%AB"},
	    {"hmac:3q2+7w/AbC==", "hmac%3A3q2%2B7w%2FAbC%3D%3D"},
	    {"%2E", "%252E"},
	    {"a?b#c", "a%3Fb%23c"},
	};
	char enc[KTA_LABEL_ENCODED_MAX + 1], dec[KTA_LABEL_MAX_LEN + 1];
	size_t i, n, m;
	struct kta_error err;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(
		    kta_entry_label_encode(cases[i].label, strlen(cases[i].label), enc, &n, &err),
		    KTA_OK);
		assert_string_equal(enc, cases[i].enc);
		assert_safe_name(enc, n);
		assert_int_equal(kta_entry_label_decode(enc, n, dec, &m, &err), KTA_OK);
		assert_int_equal(m, strlen(cases[i].label));
		assert_string_equal(dec, cases[i].label);
	}
	/* every single byte as a label */
	for (i = 0; i < 256; i++) {
		char l[2] = {(char)i, 0};
		enum kta_status r = kta_entry_label_encode(l, 1, enc, &n, &err);

		if (i <= 0x20 || i >= 0x7f) {
			assert_int_equal(r, KTA_ERR_MALFORMED);
			continue;
		}
		assert_int_equal(r, KTA_OK);
		assert_safe_name(enc, n);
		assert_int_equal(kta_entry_label_decode(enc, n, dec, &m, &err), KTA_OK);
		assert_int_equal(m, 1);
		assert_int_equal((unsigned char)dec[0], i);
	}
	/* invalid labels are not encoded */
	assert_int_equal(kta_entry_label_encode("", 0, enc, &n, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_entry_label_encode("a b", 3, enc, &n, &err), KTA_ERR_MALFORMED);
	assert_int_equal(kta_entry_label_encode("\xc3", 1, enc, &n, &err), KTA_ERR_MALFORMED);
	assert_int_equal(n, 0);
	{
		/* the longest label encodes to exactly KTA_LABEL_ENCODED_MAX bytes */
		char big[KTA_LABEL_MAX_LEN + 1];

		memset(big, '/', KTA_LABEL_MAX_LEN);
		assert_int_equal(kta_entry_label_encode(big, KTA_LABEL_MAX_LEN, enc, &n, &err),
				 KTA_OK);
		assert_int_equal(n, KTA_LABEL_ENCODED_MAX);
		assert_int_equal(kta_entry_label_decode(enc, n, dec, &m, &err), KTA_OK);
		assert_int_equal(m, KTA_LABEL_MAX_LEN);
		assert_int_equal(kta_entry_label_encode(big, KTA_LABEL_MAX_LEN + 1, enc, &n, &err),
				 KTA_ERR_MALFORMED);
		/* a name that decodes to 1025 bytes */
		memset(big, 'a', KTA_LABEL_MAX_LEN);
		assert_int_equal(kta_entry_label_encode(big, KTA_LABEL_MAX_LEN, enc, &n, &err),
				 KTA_OK);
		enc[n++] = 'a';
		assert_int_equal(kta_entry_label_decode(enc, n, dec, &m, &err), KTA_ERR_MALFORMED);
		assert_non_null(strstr(err.msg, "more than 1024"));
	}
}

static void label_decode_rejects(void **state)
{
	static const struct {
		const char *in, *want;
	} bad[] = {
	    {"", "empty"},
	    {".", "byte 0x2e at offset 0"},
	    {"..", "offset 0"},
	    {".hidden", "offset 0"},
	    {"%2e", "uppercase hex"},
	    {"a%2fb", "uppercase hex"},
	    {"%41", "must be written literally"},
	    {"a%2Eb", "must be written literally"},
	    {"%7E", "must be written literally"},
	    {"%", "two uppercase hex digits"},
	    {"a%4", "two uppercase hex digits"},
	    {"%G0", "two uppercase hex digits"},
	    {"a/b", "byte 0x2f at offset 1"},
	    {"a b", "byte 0x20"},
	    {"a+b", "byte 0x2b"},
	    {"zo\xc3\xab", "byte 0xc3"},
	    {"%20", "contains a space"},
	    {"%00", "control character 0x00"},
	    {"%C3", "not valid UTF-8"},
	    {"%C2%A0", "U+00A0"},
	    {"%2F%2E%2E", "must be written literally"},
	};
	char dec[KTA_LABEL_MAX_LEN + 1];
	size_t i, m;
	struct kta_error err;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m = 99;
		kta_error_clear(&err);
		if (kta_entry_label_decode(bad[i].in, strlen(bad[i].in), dec, &m, &err) !=
			KTA_ERR_MALFORMED ||
		    strstr(err.msg, bad[i].want) == NULL)
			fail_msg("\"%s\": \"%s\", want \"%s\"", bad[i].in, err.msg, bad[i].want);
		assert_int_equal(m, 0);
		assert_string_equal(dec, "");
	}
}

/* Random byte strings: encode/decode agree and the name is always safe. */
static void label_random(void **state)
{
	static const char alphabet[] = "a./%~-_Z9 \xc3\xab\xe2\x80\xa8";
	uint64_t rng = 12345;
	char label[64], enc[KTA_LABEL_ENCODED_MAX + 1], dec[KTA_LABEL_MAX_LEN + 1];
	int iter;

	(void)state;
	for (iter = 0; iter < 20000; iter++) {
		size_t len = 1 + (size_t)(tu_rand(&rng) % 20), i, n, m;
		struct kta_error err;
		enum kta_status r;

		for (i = 0; i < len; i++)
			label[i] = alphabet[tu_rand(&rng) % (sizeof(alphabet) - 1)];
		r = kta_entry_label_encode(label, len, enc, &n, &err);
		assert_int_equal(r, kta_entry_label_check(label, len, &err));
		if (r != KTA_OK)
			continue;
		assert_safe_name(enc, n);
		assert_true(strcmp(enc, ".") != 0 && strcmp(enc, "..") != 0);
		assert_int_equal(kta_entry_label_decode(enc, n, dec, &m, &err), KTA_OK);
		assert_int_equal(m, len);
		assert_memory_equal(dec, label, len);
	}
}

/* ------------------------------------------------------------------------ */
/* kta_entry_validate must accept exactly what kta_entry_parse accepts, and
 * kta_entry_parse_buf must also build the same entry. */

/* Counts of one differential test and its one kta_entry_buf, reused for
 * every case so that data left from a bigger earlier entry would show. */
struct diff_count {
	size_t ok, bad;
	struct kta_entry_buf *eb;
};

static void diff_begin(struct diff_count *c)
{
	c->ok = c->bad = 0;
	c->eb = NULL;
	assert_int_equal(kta_entry_buf_new(&c->eb, NULL), KTA_OK);
	assert_non_null(c->eb);
}

static void diff_end(struct diff_count *c)
{
	kta_entry_buf_free(c->eb);
	c->eb = NULL;
}

/* Fails unless a (kta_entry_parse) and b (kta_entry_parse_buf) are equal
 * field by field, NULL arrays included. */
static void assert_entry_same(const struct kta_entry *a, const struct kta_entry *b,
			      const char *what)
{
	size_t i;

	assert_non_null(a);
	assert_non_null(b);
	if (strcmp(a->label, b->label) != 0 || a->version != b->version || a->time != b->time ||
	    a->nkeys != b->nkeys || a->nauths != b->nauths || a->signed_len != b->signed_len ||
	    (a->keys == NULL) != (b->keys == NULL) || (a->auths == NULL) != (b->auths == NULL) ||
	    (a->keys == NULL) != (a->nkeys == 0) || (a->auths == NULL) != (a->nauths == 0))
		fail_msg("%s: parse_buf entry differs (label \"%s\" / \"%s\", %zu / %zu keys, "
			 "%zu / %zu auths)",
			 what, a->label, b->label, a->nkeys, b->nkeys, a->nauths, b->nauths);
	for (i = 0; i < a->nkeys; i++) {
		assert_int_equal(a->keys[i].alg, b->keys[i].alg);
		assert_memory_equal(a->keys[i].pub, b->keys[i].pub, 32);
		assert_non_null(b->keys[i].device);
		assert_string_equal(a->keys[i].device, b->keys[i].device);
	}
	for (i = 0; i < a->nauths; i++) {
		assert_memory_equal(a->auths[i].pub, b->auths[i].pub, 32);
		assert_memory_equal(a->auths[i].sig, b->auths[i].sig, 64);
	}
}

/* Runs all three on (b, n): same status; on rejection, the same message; on
 * success, the same entry. */
static void diff_one(const uint8_t *b, size_t n, const char *what, struct diff_count *c)
{
	struct kta_entry *e = NULL;
	const struct kta_entry *be = NULL, *be2 = NULL;
	struct kta_error perr, verr, berr;
	enum kta_status p = kta_entry_parse(b, n, &e, &perr);
	enum kta_status v = kta_entry_validate(b, n, NULL);
	enum kta_status v2 = kta_entry_validate(b, n, &verr);
	enum kta_status pb = kta_entry_parse_buf(b, n, c->eb, &be, &berr);

	if (p != v || p != v2 || p != pb)
		fail_msg("%s (%zu bytes): parse %d, validate %d / %d, parse_buf %d (%s)", what, n,
			 (int)p, (int)v, (int)v2, (int)pb,
			 p != KTA_OK    ? perr.msg
			 : v2 != KTA_OK ? verr.msg
					: berr.msg);
	if (p == KTA_OK) {
		assert_entry_same(e, be, what);
		c->ok++;
	} else {
		assert_int_equal(p, KTA_ERR_MALFORMED);
		assert_string_equal(perr.msg, verr.msg);
		assert_string_equal(perr.msg, berr.msg);
		assert_null(be);
		c->bad++;
	}
	/* Without an error buffer: the same status, and parsing into the same
	 * buffer again gives the same entry. */
	assert_int_equal(kta_entry_parse_buf(b, n, c->eb, &be2, NULL), p);
	if (p == KTA_OK)
		assert_entry_same(e, be2, what);
	else
		assert_null(be2);
	kta_entry_free(e);
}

/* Every fixture, good and bad, and the inline cases. */
static void validate_fixtures(void **state)
{
	struct diff_count c;
	size_t elen, i, len;
	uint8_t *expect = tu_read_testdata("entry/bad/EXPECT", &elen), *buf;
	char *line, *save = NULL, rel[256];

	(void)state;
	diff_begin(&c);
	for (i = 0; i < sizeof(good_files) / sizeof(good_files[0]); i++) {
		buf = tu_read_testdata(good_files[i], &len);
		diff_one(buf, len, good_files[i], &c);
		free(buf);
	}
	assert_int_equal(c.bad, 0);
	for (line = strtok_r((char *)expect, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');

		if (line[0] == '#' || tab == NULL)
			continue;
		*tab = '\0';
		(void)snprintf(rel, sizeof(rel), "entry/bad/%s", line);
		buf = tu_read_testdata(rel, &len);
		diff_one(buf, len, rel, &c);
		free(buf);
	}
	assert_int_equal(c.ok, sizeof(good_files) / sizeof(good_files[0]));
	assert_true(c.bad >= 70);
	assert_int_equal(kta_entry_validate(NULL, 0, NULL), KTA_ERR_MALFORMED);
	diff_end(&c);
	free(expect);
}

/* Bytes that sit on a rule's edge: separators, controls, base64 edges,
 * digits, UTF-8 lead/continuation bytes, banned code points' bytes. */
static const uint8_t edge_bytes[] = {
    0x00, '\t', '\n', '\r', ' ',  '!',  '+',  '/',  '0',  '1',  '9',  '=',  'A',  'Z',
    'a',  'z',  '~',  0x7f, 0x80, 0x85, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xe0, 0xe1, 0xe2,
    0xe3, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, '-',  'k',  'y',  'e',  'd',
};

/* Each good fixture with every byte replaced by every edge byte, then
 * truncated at every length. */
static void validate_mutate_each_byte(void **state)
{
	struct diff_count c;
	size_t f, i, k, len;

	(void)state;
	diff_begin(&c);
	for (f = 0; f < sizeof(good_files) / sizeof(good_files[0]); f++) {
		uint8_t *buf = tu_read_testdata(good_files[f], &len);
		uint8_t *m = malloc(len + 1);

		assert_non_null(m);
		for (i = 0; i < len; i++) {
			memcpy(m, buf, len);
			for (k = 0; k < sizeof(edge_bytes); k++) {
				m[i] = edge_bytes[k];
				diff_one(m, len, good_files[f], &c);
			}
		}
		for (i = 0; i <= len; i++)
			diff_one(buf, i, good_files[f], &c);
		free(m);
		free(buf);
	}
	assert_true(c.ok > 100 && c.bad > 10000);
	diff_end(&c);
}

/* Copies (src, n) into dst with k random edits (replace, insert, delete,
 * duplicate or drop a line); returns the new length (<= cap). */
static size_t mutate_random(const uint8_t *src, size_t n, uint8_t *dst, size_t cap, uint64_t *rng)
{
	size_t len = n, k, edits = 1 + (size_t)(tu_rand(rng) % 4);

	memcpy(dst, src, n);
	for (k = 0; k < edits; k++) {
		size_t at = len > 0 ? (size_t)(tu_rand(rng) % len) : 0;
		uint8_t b = tu_rand(rng) % 2 ? edge_bytes[tu_rand(rng) % sizeof(edge_bytes)]
					     : (uint8_t)tu_rand(rng);

		switch (tu_rand(rng) % 5) {
		case 0: /* replace */
			if (len > 0)
				dst[at] = b;
			break;
		case 1: /* insert */
			if (len < cap) {
				memmove(dst + at + 1, dst + at, len - at);
				dst[at] = b;
				len++;
			}
			break;
		case 2: /* delete */
			if (len > 0) {
				memmove(dst + at, dst + at + 1, len - at - 1);
				len--;
			}
			break;
		case 3: { /* duplicate the line at `at` */
			size_t s = at, e = at, l;

			while (s > 0 && dst[s - 1] != '\n')
				s--;
			while (e < len && dst[e] != '\n')
				e++;
			l = e < len ? e + 1 - s : e - s;
			if (len + l <= cap) {
				memmove(dst + s + l, dst + s, len - s);
				len += l;
			}
			break;
		}
		default: { /* drop the line at `at` */
			size_t s = at, e = at;

			while (s > 0 && dst[s - 1] != '\n')
				s--;
			while (e < len && dst[e] != '\n')
				e++;
			if (e < len)
				e++;
			memmove(dst + s, dst + e, len - e);
			len -= e - s;
			break;
		}
		}
	}
	return len;
}

static void validate_mutate_random(void **state)
{
	struct diff_count c;
	uint64_t rng = 0x243f6a8885a308d3u;
	size_t f, it, len, cap;

	(void)state;
	diff_begin(&c);
	for (f = 0; f < sizeof(good_files) / sizeof(good_files[0]); f++) {
		uint8_t *buf = tu_read_testdata(good_files[f], &len);
		uint8_t *m;

		cap = 2 * len + 64;
		m = malloc(cap);
		assert_non_null(m);
		for (it = 0; it < 3000; it++)
			diff_one(m, mutate_random(buf, len, m, cap, &rng), good_files[f], &c);
		free(m);
		free(buf);
	}
	assert_true(c.ok > 100 && c.bad > 10000);
	diff_end(&c);
}

/* Entries with many key lines (beyond the pairwise device check), devices
 * drawn from a small pool so that (alg, device) repeats are frequent, keys
 * sorted or not, auth lines in or out of order; and entries near the size
 * limit. */
static void validate_many_keys(void **state)
{
	struct diff_count c;
	uint64_t rng = 0x13198a2e03707344u;
	size_t cap = KTA_ENTRY_MAX_SIZE + 4096, it;
	uint8_t *m = malloc(cap);
	static const char *const devs[] = {"a", "b", "c", "phone", "laptop", "d\xc3\xa9v",
					   "e", "f", "g", "h",     "i",      "j",
					   "k", "l", "m", "n"};

	(void)state;
	assert_non_null(m);
	diff_begin(&c);
	for (it = 0; it < 3000; it++) {
		size_t n = 0, nk = (size_t)(tu_rand(&rng) % 40), na = (size_t)(tu_rand(&rng) % 4);
		size_t ndev = 1 + (size_t)(tu_rand(&rng) % (sizeof(devs) / sizeof(devs[0]))), i;
		int sorted = tu_rand(&rng) % 8 != 0;
		char b64[KTA_B64_ENCODED_LEN(64) + 1];
		uint8_t raw[64];

		n += (size_t)snprintf((char *)m + n, cap - n,
				      "keydir/v1\nlabel l\nversion 2\ntime 5\n");
		for (i = 0; i < nk; i++) {
			size_t j, ed = nk / 2;

			for (j = 0; j < 32; j++)
				raw[j] = (uint8_t)tu_rand(&rng);
			if (sorted) {
				raw[0] = (uint8_t)((i < ed ? i : i - ed) * 6);
				raw[1] = (uint8_t)(tu_rand(&rng) % 2);
			}
			kta_b64_encode(raw, 32, b64);
			n += (size_t)snprintf((char *)m + n, cap - n, "key %s %s %s%s\n",
					      i < ed ? "ed25519" : "x25519", b64,
					      devs[tu_rand(&rng) % ndev],
					      tu_rand(&rng) % 4 == 0 ? "" : "-x");
		}
		for (i = 0; i < na; i++) {
			size_t j;

			for (j = 0; j < 32; j++)
				raw[j] = (uint8_t)tu_rand(&rng);
			raw[0] = (uint8_t)(sorted ? i * 60 : tu_rand(&rng) % 3);
			kta_b64_encode(raw, 32, b64);
			n += (size_t)snprintf((char *)m + n, cap - n, "auth ed25519 %s ", b64);
			for (j = 0; j < 64; j++)
				raw[j] = (uint8_t)tu_rand(&rng);
			kta_b64_encode(raw, 64, b64);
			n += (size_t)snprintf((char *)m + n, cap - n, "%s\n", b64);
		}
		diff_one(m, n, "many keys", &c);
	}
	assert_true(c.ok > 300 && c.bad > 300);
	/* Around the size limit: 65535 bytes parse, one more does not. */
	for (it = KTA_ENTRY_MAX_SIZE - 2; it <= KTA_ENTRY_MAX_SIZE + 1; it++) {
		size_t len = 0;
		uint8_t *big = build_sized(it < KTA_ENTRY_MAX_SIZE ? it : KTA_ENTRY_MAX_SIZE, &len);

		if (it > KTA_ENTRY_MAX_SIZE) {
			uint8_t *b2 = realloc(big, len + 1);

			assert_non_null(b2);
			big = b2;
			/* one more device byte on the last key line */
			memmove(big + len - 1, big + len - 2, 2);
			len++;
		}
		diff_one(big, len, "sized", &c);
		free(big);
	}
	diff_end(&c);
	free(m);
}

/* kta_entry_parse_buf: the entry borrows its buffer; two buffers hold two
 * entries at once; a buffer shrinks back to small entries after a big one;
 * a rejection clears *out and leaves the buffer usable; usage errors. */
static void parse_buf_api(void **state)
{
	struct kta_entry_buf *b1 = NULL, *b2 = NULL;
	const struct kta_entry *e1 = NULL, *e2 = NULL;
	struct kta_entry *p1, *p2, *pbig, *pe = NULL;
	struct kta_entry_auth_report rep;
	struct kta_error err, perr;
	size_t l1, l2, lbig;
	uint8_t *r1 = tu_read_testdata("entry/example_v1.entry", &l1);
	uint8_t *r2 = tu_read_testdata("entry/example_signed.entry", &l2);
	uint8_t *big = build_sized(KTA_ENTRY_MAX_SIZE, &lbig);
	static const uint8_t bad[] = "keydir/v1\nlabel a\nversion 01\ntime 0\n";

	(void)state;
	p1 = parse_ok(r1, l1);
	p2 = parse_ok(r2, l2);
	pbig = parse_ok(big, lbig);
	assert_true(pbig->nkeys > 200);
	assert_int_equal(kta_entry_buf_new(&b1, &err), KTA_OK);
	assert_int_equal(kta_entry_buf_new(&b2, &err), KTA_OK);

	/* Two buffers, two live entries: the authorization check works on
	 * borrowed entries as on parsed ones. */
	assert_int_equal(kta_entry_parse_buf(r1, l1, b1, &e1, &err), KTA_OK);
	assert_int_equal(kta_entry_parse_buf(r2, l2, b2, &e2, &err), KTA_OK);
	assert_entry_same(p1, e1, "v1");
	assert_entry_same(p2, e2, "signed");
	assert_true(e2->nauths == 2 && e2->signed_len < l2);
	assert_int_equal(kta_entry_check_auth_report(e2, r2, l2, e1, &rep, &err), KTA_OK);
	assert_int_equal(rep.result, KTA_AUTH_OWNER);
	assert_int_equal(rep.nverified, 2);

	/* Big, then small, then big again in one buffer: the small entry shows
	 * nothing of the big one. */
	assert_int_equal(kta_entry_parse_buf(big, lbig, b1, &e1, &err), KTA_OK);
	assert_entry_same(pbig, e1, "big");
	assert_int_equal(kta_entry_parse_buf(r1, l1, b1, &e1, &err), KTA_OK);
	assert_entry_same(p1, e1, "v1 after big");
	assert_int_equal(kta_entry_parse_buf(r2, l2, b1, &e1, &err), KTA_OK);
	assert_entry_same(p2, e1, "signed after v1");
	assert_int_equal(kta_entry_parse_buf(big, lbig, b1, &e1, &err), KTA_OK);
	assert_entry_same(pbig, e1, "big again");

	/* A rejection: NULL entry, the parser's message; the buffer still works. */
	e1 = p1;
	assert_int_equal(kta_entry_parse(bad, sizeof(bad) - 1, &pe, &perr), KTA_ERR_MALFORMED);
	assert_int_equal(kta_entry_parse_buf(bad, sizeof(bad) - 1, b1, &e1, &err),
			 KTA_ERR_MALFORMED);
	assert_null(e1);
	assert_string_equal(err.msg, perr.msg);
	assert_non_null(strstr(err.msg, "line 3: version"));
	assert_int_equal(kta_entry_parse_buf(r2, l2, b1, &e1, &err), KTA_OK);
	assert_entry_same(p2, e1, "signed after a rejection");

	/* Usage: no buffer, no bytes. An empty entry is malformed as for the
	 * parser. */
	e1 = p1;
	assert_int_equal(kta_entry_parse_buf(r1, l1, NULL, &e1, &err), KTA_ERR_USAGE);
	assert_null(e1);
	assert_int_equal(kta_entry_parse_buf(NULL, 3, b1, &e1, &err), KTA_ERR_USAGE);
	assert_int_equal(kta_entry_parse_buf(NULL, 0, b1, &e1, &err), KTA_ERR_MALFORMED);
	assert_string_equal(err.msg, "line 1: empty entry");
	assert_int_equal(kta_entry_parse_buf(r1, 0, b1, &e1, NULL), KTA_ERR_MALFORMED);
	assert_null(e1);

	kta_entry_buf_free(b1);
	kta_entry_buf_free(b2);
	kta_entry_buf_free(NULL);
	kta_entry_free(p1);
	kta_entry_free(p2);
	kta_entry_free(pbig);
	free(r1);
	free(r2);
	free(big);
}

/* The Ed25519 verifier (src/ed25519.h) gives kta_ed25519_verify's answers
 * over a sequence of keys: keys seen again, many distinct keys, bad
 * signatures between good ones, messages of other lengths, keys that are
 * no point (test_ed25519.c has the verifier's own tests). */
static void ed25519_verifier_sequence(void **state)
{
	struct kta_ed25519_verifier *v = NULL;
	uint8_t seeds[40][32], pubs[40][32], msg[300];
	uint64_t rng = 0x0ddba11;
	size_t i, nok = 0, nbad = 0;

	(void)state;
	assert_int_equal(kta_ed25519_verifier_new(&v, NULL), KTA_OK);
	for (i = 0; i < 40; i++) {
		memset(seeds[i], (int)(i + 1), 32);
		assert_int_equal(kta_ed25519_public(seeds[i], pubs[i], NULL), KTA_OK);
	}
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)tu_rand(&rng);
	for (i = 0; i < 3000; i++) {
		/* a working set larger than the cache, with a hot subset */
		size_t k =
		    tu_rand(&rng) % 2 ? (size_t)(tu_rand(&rng) % 4) : (size_t)(tu_rand(&rng) % 40);
		size_t mlen = (size_t)(tu_rand(&rng) % sizeof(msg));
		uint8_t sig[64], pub[32];
		enum kta_status want, got;
		int mut = (int)(tu_rand(&rng) % 6);

		assert_int_equal(kta_ed25519_sign(seeds[k], msg, mlen, sig, NULL), KTA_OK);
		memcpy(pub, pubs[k], 32);
		switch (mut) {
		case 0:
			sig[tu_rand(&rng) % 64] ^= (uint8_t)(1u << (tu_rand(&rng) % 8));
			break;
		case 1:
			if (mlen > 0)
				msg[tu_rand(&rng) % mlen] ^= 1;
			break;
		case 2:
			memcpy(pub, pubs[(k + 1) % 40], 32);
			break;
		case 3: /* not a point (y = 2^255 - 1 is not canonical / on the curve) */
			memset(pub, 0xff, 32);
			break;
		default:
			break;
		}
		want = kta_ed25519_verify(pub, msg, mlen, sig);
		got = kta_ed25519_verifier_verify(v, pub, msg, mlen, sig);
		if (got != want)
			fail_msg("iteration %zu, key %zu, mutation %d, %zu bytes: %d, want %d", i,
				 k, mut, mlen, (int)got, (int)want);
		if (got == KTA_OK)
			nok++;
		else
			nbad++;
	}
	assert_true(nok > 1000 && nbad > 1000);
	kta_ed25519_verifier_free(v);
	kta_ed25519_verifier_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(parse_example),
	    cmocka_unit_test(good_fixtures_roundtrip),
	    cmocka_unit_test(good_fixture_details),
	    cmocka_unit_test(bad_fixtures),
	    cmocka_unit_test(bad_inline),
	    cmocka_unit_test(validate_fixtures),
	    cmocka_unit_test(validate_mutate_each_byte),
	    cmocka_unit_test(validate_mutate_random),
	    cmocka_unit_test(validate_many_keys),
	    cmocka_unit_test(parse_buf_api),
	    cmocka_unit_test(ed25519_verifier_sequence),
	    cmocka_unit_test(size_limit),
	    cmocka_unit_test(serialize_rejects),
	    cmocka_unit_test(pack_rejects),
	    cmocka_unit_test(serialize_then_parse),
	    cmocka_unit_test(sign_reproduces_example),
	    cmocka_unit_test(check_auth_files),
	    cmocka_unit_test(auth_new_key_only),
	    cmocka_unit_test(check_auth_usage),
	    cmocka_unit_test(doc_example),
	    cmocka_unit_test(signed_message_bytes),
	    cmocka_unit_test(example_log),
	    cmocka_unit_test(mutate_bits),
	    cmocka_unit_test(mutate_bytes),
	    cmocka_unit_test(mutate_truncate),
	    cmocka_unit_test(mutate_unsigned),
	    cmocka_unit_test(random_roundtrip),
	    cmocka_unit_test(diff_cases),
	    cmocka_unit_test(label_encoding),
	    cmocka_unit_test(label_decode_rejects),
	    cmocka_unit_test(label_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
