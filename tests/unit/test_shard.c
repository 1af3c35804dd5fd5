/* Unit tests for label shards (shard.h). */
#include "testutil.h"

#include <string.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/shard.h"

/*
 * Expected values from the definition in shard.h, computed with Python:
 * int.from_bytes(hashlib.sha256(label).digest()[:8], "big") % N.
 *   "alice": BE64 prefix 0x2bd806c97f0e00af; mod 2 = 1, 3 = 2, 4 = 3,
 *            16 = 15, 4096 = 175
 *   "bob": mod 16 = 10, 4096 = 1754
 *   "dave": mod 16 = 3
 *   "" (SHA-256 e3b0c442...): mod 16 = 4, 4096 = 3092
 */
static void shard_of_pinned(void **state)
{
	static const struct {
		const char *label;
		uint32_t n, want;
	} cases[] = {
	    {"alice", 2, 1},      {"alice", 3, 2},  {"alice", 4, 3},     {"alice", 16, 15},
	    {"alice", 4096, 175}, {"bob", 16, 10},  {"bob", 4096, 1754}, {"dave", 16, 3},
	    {"", 16, 4},          {"", 4096, 3092}, {"alice", 1, 0},     {"bob", 1, 0},
	};
	struct kta_hasher *h = NULL;
	struct kta_error e;
	uint32_t got;
	size_t i;

	(void)state;
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = 0xffffffffu;
		assert_int_equal(
		    kta_shard_of(cases[i].label, strlen(cases[i].label), cases[i].n, &got, &e),
		    KTA_OK);
		if (got != cases[i].want)
			fail_msg("shard of \"%s\" among %u: %u, want %u", cases[i].label,
				 cases[i].n, got, cases[i].want);
		/* the replay's way, with its own hasher: the same */
		assert_int_equal(kta_shard_label(h, (const uint8_t *)cases[i].label,
						 strlen(cases[i].label), cases[i].n),
				 cases[i].want);
	}
	assert_false(kta_hasher_failed(h));
	kta_hasher_free(h);
	/* the length counts, not a terminator: "alice" is a prefix of "alicex" */
	assert_int_equal(kta_shard_of("alicex", 5, 16, &got, NULL), KTA_OK);
	assert_int_equal(got, 15);
}

static void shard_of_bad_n(void **state)
{
	static const uint32_t bad[] = {0, KTA_SHARD_MAX + 1, 0xffffffffu};
	struct kta_error e;
	uint32_t got;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		got = 77;
		kta_error_clear(&e);
		assert_int_equal(kta_shard_of("alice", 5, bad[i], &got, &e), KTA_ERR_USAGE);
		assert_int_equal(got, 77); /* untouched on failure */
		assert_non_null(strstr(e.msg, "shard"));
		assert_int_equal(kta_shard_of("alice", 5, bad[i], &got, NULL), KTA_ERR_USAGE);
	}
	/* the largest n is allowed */
	assert_int_equal(kta_shard_of("alice", 5, KTA_SHARD_MAX, &got, &e), KTA_OK);
	assert_int_equal(got, 175);
}

static void from_hash(void **state)
{
	uint8_t h[32];
	uint32_t got;
	size_t i;

	(void)state;
	/* the first 8 bytes, big-endian, mod n; the rest is ignored */
	memset(h, 0, sizeof(h));
	assert_int_equal(kta_hex_decode("2bd806c97f0e00af", 16, h, 8), KTA_OK);
	assert_int_equal(kta_shard_from_hash(h, 16), 15);
	assert_int_equal(kta_shard_from_hash(h, 4096), 175);
	assert_int_equal(kta_shard_from_hash(h, 1000), 207);
	memset(h + 8, 0xa5, 24);
	assert_int_equal(kta_shard_from_hash(h, 16), 15);
	assert_int_equal(kta_shard_from_hash(h, 1), 0);
	/* big-endian, not little: 0x00..01 is 1, 0x01 00..00 is 2^56 */
	memset(h, 0, sizeof(h));
	h[7] = 1;
	assert_int_equal(kta_shard_from_hash(h, 16), 1);
	assert_int_equal(kta_shard_from_hash(h, 3), 1);
	h[7] = 0;
	h[0] = 1;
	assert_int_equal(kta_shard_from_hash(h, 16), 0);
	assert_int_equal(kta_shard_from_hash(h, 3), 1); /* 2^56 mod 3 */
	/* all ones: 2^64 - 1, no overflow */
	memset(h, 0xff, 8);
	assert_int_equal(kta_shard_from_hash(h, 4096), 4095);
	assert_int_equal(kta_shard_from_hash(h, 4095), 15);
	assert_int_equal(kta_shard_from_hash(h, 3), 0);
	/* always below n */
	for (i = 0; i < 256; i++) {
		memset(h, (int)i, 8);
		got = kta_shard_from_hash(h, 7);
		assert_true(got < 7);
	}
}

static void parse_good(void **state)
{
	static const struct {
		const char *text;
		size_t len;
		uint32_t k, n;
	} cases[] = {
	    {"0/2", 3, 0, 2},
	    {"1/2", 3, 1, 2},
	    {"3/16", 4, 3, 16},
	    {"0/4096", 6, 0, 4096},
	    {"4095/4096", 9, 4095, 4096},
	    {"1/45", 3, 1, 4}, /* only len bytes are read: no terminator assumed */
	};
	struct kta_error e;
	uint32_t k, n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		k = n = 99;
		if (kta_shard_parse(cases[i].text, cases[i].len, &k, &n, &e) != KTA_OK)
			fail_msg("\"%.*s\": %s", (int)cases[i].len, cases[i].text, e.msg);
		assert_int_equal(k, cases[i].k);
		assert_int_equal(n, cases[i].n);
	}
}

static void parse_bad(void **state)
{
	static const struct {
		const char *text;
		const char *part; /* which part the message blames */
	} cases[] = {
	    {"1/1", "N must"},
	    {"4/4", "K must"},
	    {"0/0", "N must"},
	    {"a/4", "K must"},
	    {"01/4", "K must"},
	    {"1/04", "N must"},
	    {"1/", "N must"},
	    {"/4", "K must"},
	    {"1-4", "not K/N"},
	    {"1/4097", "N must"},
	    {"", "not K/N"},
	    {"-1/4", "K must"},
	    {"+1/4", "K must"},
	    {"1/+4", "N must"},
	    {" 1/4", "K must"},
	    {"1/4 ", "N must"},
	    {"1/4/", "N must"},
	    {"5/4", "K must"},
	    {"1/0", "N must"},
	    {"0/1", "N must"},
	    {"4096/4096", "K must"},
	    {"1/18446744073709551617", "N must"},
	    {"18446744073709551617/4", "K must"},
	    {"4294967297/4096", "K must"},
	    {"1/4294967298", "N must"},
	    {"1\xc3\xa9/4", "K must"},
	};
	struct kta_error e;
	uint32_t k, n;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		enum kta_status r;

		k = n = 99;
		kta_error_clear(&e);
		r = kta_shard_parse(t, strlen(t), &k, &n, &e);
		if (r != KTA_ERR_MALFORMED || strstr(e.msg, cases[i].part) == NULL)
			fail_msg("case %zu \"%s\": status %d, \"%s\"; want \"%s\"", i, t, (int)r,
				 e.msg, cases[i].part);
		/* outputs are set only on success */
		assert_int_equal(k, 99);
		assert_int_equal(n, 99);
		assert_int_equal(kta_shard_parse(t, strlen(t), &k, &n, NULL), KTA_ERR_MALFORMED);
	}
	/* the message quotes the text */
	assert_int_equal(kta_shard_parse("01/4", 4, &k, &n, &e), KTA_ERR_MALFORMED);
	assert_non_null(strstr(e.msg, "01/4"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(shard_of_pinned), cmocka_unit_test(shard_of_bad_n),
	    cmocka_unit_test(from_hash),       cmocka_unit_test(parse_good),
	    cmocka_unit_test(parse_bad),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
