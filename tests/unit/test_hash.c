/* Unit tests for SHA-256 and the RFC 9162 2.1.1 leaf and node hashes. */
#include "testutil.h"

#include <string.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"

/* Test seams in src/hash.c (not exported): force the sticky failure flag. */
void kta_hasher_test_fail(struct kta_hasher *h);
void kta_hasher_test_fail_in(struct kta_hasher *h, uint64_t n);
int kta_hasher_test_ni(struct kta_hasher *h, int on);

static int setup(void **state)
{
	struct kta_hasher *h = NULL;

	if (kta_hasher_new(&h, NULL) != KTA_OK)
		return -1;
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	kta_hasher_free(*state);
	return 0;
}

static void hex32(const char *hex, uint8_t out[32])
{
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(kta_hex_decode(hex, 64, out, 32), KTA_OK);
}

/* Decodes a hex string of any even length into buf (cap bytes); returns the length. */
static size_t hexn(const char *hex, uint8_t *buf, size_t cap)
{
	size_t n = strlen(hex) / 2;

	assert_true(n <= cap);
	assert_int_equal(kta_hex_decode(hex, 2 * n, buf, n), KTA_OK);
	return n;
}

static json_t *load_json(const char *rel)
{
	size_t len;
	uint8_t *buf = tu_read_testdata(rel, &len);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, len, 0, &jerr);

	if (j == NULL)
		fail_msg("%s: %s", rel, jerr.text);
	free(buf);
	return j;
}

static void sha256_known(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t out[32], want[32], big[1000];
	size_t i;

	hex32("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want);
	kta_sha256(h, (const uint8_t *)"abc", 3, out);
	assert_memory_equal(out, want, 32);
	/* a different message must give a different digest */
	kta_sha256(h, (const uint8_t *)"abd", 3, out);
	assert_memory_not_equal(out, want, 32);
	/* multi-block: 1000 x 'a' (NIST-style check computed with sha256sum) */
	memset(big, 'a', sizeof(big));
	hex32("41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3", want);
	kta_sha256(h, big, sizeof(big), out);
	assert_memory_equal(out, want, 32);
	/* the context is reused: repeated calls give the same answer */
	for (i = 0; i < 3; i++) {
		kta_sha256(h, big, sizeof(big), out);
		assert_memory_equal(out, want, 32);
	}
	assert_int_equal(kta_hasher_failed(h), 0);
}

static void empty_root(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t a[32], b[32];

	kta_hash_empty(a);
	kta_sha256(h, NULL, 0, b);
	assert_memory_equal(a, b, 32);
	hex32("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", b);
	assert_memory_equal(a, b, 32);
	/* the empty tree root is not the hash of an empty leaf */
	kta_hash_leaf(h, NULL, 0, b);
	assert_memory_not_equal(a, b, 32);
}

/* The hasher vectors of the RFC 6962 reference tree (testdata/merkle/SOURCES.md). */
static void rfc6962_hasher_vectors(void **state)
{
	struct kta_hasher *h = *state;
	json_t *j = load_json("merkle/rfc6962_reference_tree.json");
	json_t *vecs = json_object_get(j, "hasher_vectors"), *v;
	uint8_t want[32], out[32], l[64], r[64], buf[200];
	size_t i, ln, rn, checked = 0;

	assert_true(json_is_array(vecs));
	json_array_foreach(vecs, i, v)
	{
		const char *lh = json_string_value(json_object_get(v, "leaf_hex"));
		const char *la = json_string_value(json_object_get(v, "leaf_ascii"));
		const char *lefth = json_string_value(json_object_get(v, "left_hex"));
		const char *lefta = json_string_value(json_object_get(v, "left_ascii"));
		const char *righth = json_string_value(json_object_get(v, "right_hex"));
		const char *righta = json_string_value(json_object_get(v, "right_ascii"));

		hex32(json_string_value(json_object_get(v, "want_hex")), want);
		if (lh != NULL || la != NULL) {
			if (lh != NULL)
				ln = hexn(lh, l, sizeof(l));
			else
				memcpy(l, la, ln = strlen(la));
			kta_hash_leaf(h, l, ln, out);
			assert_memory_equal(out, want, 32);
			/* the same as SHA-256(0x00 || data) */
			buf[0] = 0x00;
			memcpy(buf + 1, l, ln);
			kta_sha256(h, buf, ln + 1, out);
			assert_memory_equal(out, want, 32);
			/* without the prefix it is a different hash */
			kta_sha256(h, l, ln, out);
			assert_memory_not_equal(out, want, 32);
		} else if (lefth != NULL || lefta != NULL) {
			if (lefth != NULL) {
				ln = hexn(lefth, l, sizeof(l));
				rn = hexn(righth, r, sizeof(r));
			} else {
				memcpy(l, lefta, ln = strlen(lefta));
				memcpy(r, righta, rn = strlen(righta));
			}
			/* the generic definition: SHA-256(0x01 || left || right) */
			buf[0] = 0x01;
			memcpy(buf + 1, l, ln);
			memcpy(buf + 1 + ln, r, rn);
			kta_sha256(h, buf, 1 + ln + rn, out);
			assert_memory_equal(out, want, 32);
			if (ln == 32 && rn == 32) {
				kta_hash_node(h, l, r, out);
				assert_memory_equal(out, want, 32);
				/* children in the other order */
				kta_hash_node(h, r, l, out);
				assert_memory_not_equal(out, want, 32);
			}
		} else {
			kta_hash_empty(out);
			assert_memory_equal(out, want, 32);
		}
		checked++;
	}
	assert_int_equal(checked, 6);
	json_decref(j);
	assert_int_equal(kta_hasher_failed(h), 0);
}

/* A 64-byte leaf l||r must not hash like the node (l, r): domain separation. */
static void leaf_node_separation(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t lr[64], a[32], b[32];
	size_t i;

	for (i = 0; i < sizeof(lr); i++)
		lr[i] = (uint8_t)i;
	kta_hash_node(h, lr, lr + 32, a);
	kta_hash_leaf(h, lr, 64, b);
	assert_memory_not_equal(a, b, 32);
}

static void node_aliasing(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t l[32], r[32], want[32], x[32];

	memset(l, 0x11, 32);
	memset(r, 0x22, 32);
	kta_hash_node(h, l, r, want);
	memcpy(x, l, 32);
	kta_hash_node(h, x, r, x); /* out aliases left */
	assert_memory_equal(x, want, 32);
	memcpy(x, r, 32);
	kta_hash_node(h, l, x, x); /* out aliases right */
	assert_memory_equal(x, want, 32);
	memcpy(x, l, 32);
	kta_hash_node(h, x, x, x); /* all three */
	kta_hash_node(h, l, l, want);
	assert_memory_equal(x, want, 32);
}

static void sticky_failure(void **state)
{
	struct kta_hasher *h = NULL;
	uint8_t out[32], zero[32] = {0};

	(void)state;
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_sha256(h, (const uint8_t *)"abc", 3, out);
	assert_int_equal(kta_hasher_failed(h), 0);
	kta_hasher_test_fail(h);
	assert_int_equal(kta_hasher_failed(h), 1);
	/* still usable and still flagged after more hashing */
	kta_hash_leaf(h, (const uint8_t *)"x", 1, out);
	assert_int_equal(kta_hasher_failed(h), 1);
	assert_memory_not_equal(out, zero, 32);
	kta_hasher_free(h);
	kta_hasher_free(NULL);
}

/* A hash that fails writes zeros and sets the flag for good. */
static void failure_mid_way(void **state)
{
	struct kta_hasher *h = NULL;
	uint8_t out[32], zero[32] = {0}, l[32] = {1}, r[32] = {2};

	(void)state;
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_hasher_test_fail_in(h, 2);
	kta_hash_node(h, l, r, out); /* the first still works */
	assert_memory_not_equal(out, zero, 32);
	assert_int_equal(kta_hasher_failed(h), 0);
	kta_hash_node(h, l, r, out); /* the second fails */
	assert_memory_equal(out, zero, 32);
	assert_int_equal(kta_hasher_failed(h), 1);
	kta_sha256(h, (const uint8_t *)"abc", 3, out);
	assert_int_equal(kta_hasher_failed(h), 1);
	kta_hasher_free(h);
}

/* Two hashers are independent (one per thread). */
static void independent_hashers(void **state)
{
	struct kta_hasher *a = *state, *b = NULL;
	uint8_t x[32], y[32];

	assert_int_equal(kta_hasher_new(&b, NULL), KTA_OK);
	kta_hasher_test_fail(b);
	kta_hash_leaf(a, (const uint8_t *)"q", 1, x);
	kta_hash_leaf(b, (const uint8_t *)"q", 1, y);
	assert_memory_equal(x, y, 32);
	assert_int_equal(kta_hasher_failed(a), 0);
	assert_int_equal(kta_hasher_failed(b), 1);
	kta_hasher_free(b);
}

/* Deterministic bytes (xorshift), so a failure is reproducible. */
static void fill(uint8_t *p, size_t n, uint64_t *seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		*seed ^= *seed << 13;
		*seed ^= *seed >> 7;
		*seed ^= *seed << 17;
		p[i] = (uint8_t)(*seed >> 24);
	}
}

/* Both paths (SHA-NI where the CPU has it, OpenSSL) for every message
 * length 0..700 and some long ones, against OpenSSL's SHA256(): every
 * split of the data into in-place blocks, head block and padded tail. */
static void both_paths_match_openssl(void **state)
{
	struct kta_hasher *h = *state;
	static const size_t longs[] = {1023, 1024, 4095, 4096, 4097, 65535, 65537};
	uint8_t *buf = malloc(65538), out[32], want[32];
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	size_t len, i;
	int mode, ni_seen = 0;

	assert_non_null(buf);
	for (mode = 0; mode < 2; mode++) {
		ni_seen |= kta_hasher_test_ni(h, mode);
		for (len = 0; len < 700 + sizeof(longs) / sizeof(longs[0]); len++) {
			size_t n = len < 700 ? len : longs[len - 700];

			fill(buf + 1, n, &seed);
			buf[0] = 0x00;
			SHA256(buf + 1, n, want);
			kta_sha256(h, buf + 1, n, out);
			assert_memory_equal(out, want, 32);
			SHA256(buf, n + 1, want);
			kta_hash_leaf(h, buf + 1, n, out);
			assert_memory_equal(out, want, 32);
		}
		for (i = 0; i < 200; i++) {
			fill(buf + 1, 64, &seed);
			buf[0] = 0x01;
			SHA256(buf, 65, want);
			kta_hash_node(h, buf + 1, buf + 33, out);
			assert_memory_equal(out, want, 32);
		}
	}
	if (!ni_seen)
		print_message("note: this CPU has no SHA-NI; only the OpenSSL path was tested\n");
	(void)kta_hasher_test_ni(h, 1);
	assert_int_equal(kta_hasher_failed(h), 0);
	free(buf);
}

/* kta_hash_leaves: the two lanes refill as messages of different lengths
 * end; every batch size, every mix of lengths, equal to one-at-a-time. */
static void batch_leaves(void **state)
{
	struct kta_hasher *h = *state;
	enum { MAXN = 300 };
	uint8_t *data = malloc((size_t)MAXN * 2100), (*got)[32] = calloc(MAXN, 32), want[32];
	const uint8_t *ptr[MAXN];
	size_t len[MAXN], n, i, pass;
	uint64_t seed = 42;

	assert_non_null(data);
	assert_non_null(got);
	for (pass = 0; pass < 40; pass++) {
		n = pass < 20 ? pass : pass == 39 ? MAXN : 20 + (pass - 20) * 13;
		for (i = 0; i < n; i++) {
			uint8_t r;

			fill(&r, 1, &seed);
			/* equal lengths, short, block-boundary and long ones */
			len[i] = pass % 4 == 0   ? 142
				 : pass % 4 == 1 ? r
				 : pass % 4 == 2 ? (size_t)(r % 4) * 64 + 55 + (r & 1) * 8
						 : (size_t)r * 8;
			ptr[i] = data + i * 2100;
			fill(data + i * 2100, len[i], &seed);
		}
		(void)kta_hasher_test_ni(h, 1);
		memset(got, 0xaa, (size_t)MAXN * 32);
		kta_hash_leaves(h, ptr, len, n, got);
		(void)kta_hasher_test_ni(h, 0);
		for (i = 0; i < n; i++) {
			kta_hash_leaf(h, ptr[i], len[i], want);
			assert_memory_equal(got[i], want, 32);
		}
		/* the OpenSSL path of the batch too */
		memset(got, 0xaa, (size_t)MAXN * 32);
		kta_hash_leaves(h, ptr, len, n, got);
		for (i = 0; i < n; i++) {
			kta_hash_leaf(h, ptr[i], len[i], want);
			assert_memory_equal(got[i], want, 32);
		}
	}
	(void)kta_hasher_test_ni(h, 1);
	free(data);
	free(got);
}

/* kta_hash_nodes: every level size, separate output and folded in place. */
static void batch_nodes(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t in[512][32], out[256][32], want[32];
	uint64_t seed = 7;
	size_t n, i;
	int mode;

	for (mode = 0; mode < 2; mode++) {
		(void)kta_hasher_test_ni(h, mode);
		for (n = 0; n <= 256; n = n < 12 ? n + 1 : n * 2) {
			fill(&in[0][0], sizeof(in), &seed);
			memset(out, 0xaa, sizeof(out));
			kta_hash_nodes(h, (const uint8_t(*)[32])in, n, out);
			for (i = 0; i < n; i++) {
				kta_hash_node(h, in[2 * i], in[2 * i + 1], want);
				assert_memory_equal(out[i], want, 32);
			}
			kta_hash_nodes(h, (const uint8_t(*)[32])in, n, in); /* in place */
			for (i = 0; i < n; i++)
				assert_memory_equal(in[i], out[i], 32);
		}
	}
	(void)kta_hasher_test_ni(h, 1);
	/* a whole bundle folded level by level equals the RFC 9162 root */
	{
		uint8_t lv[256][32], a[32], b[32];

		fill(&lv[0][0], sizeof(lv), &seed);
		memcpy(in, lv, sizeof(lv));
		for (n = 128; n >= 1; n /= 2)
			kta_hash_nodes(h, (const uint8_t(*)[32])lv, n, lv);
		(void)kta_hasher_test_ni(h, 0);
		for (n = 128; n >= 1; n /= 2)
			for (i = 0; i < n; i++)
				kta_hash_node(h, in[2 * i], in[2 * i + 1], in[i]);
		(void)kta_hasher_test_ni(h, 1);
		memcpy(a, lv[0], 32);
		memcpy(b, in[0], 32);
		assert_memory_equal(a, b, 32);
	}
}

/* A hash failing inside a batch: zeros from there, the flag set. */
static void batch_failure(void **state)
{
	struct kta_hasher *h = NULL;
	uint8_t in[16][32] = {{1}}, out[8][32], zero[32] = {0};
	const uint8_t *ptr[4] = {(const uint8_t *)"a", (const uint8_t *)"b", (const uint8_t *)"c",
				 (const uint8_t *)"d"};
	size_t len[4] = {1, 1, 1, 1};

	(void)state;
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_hasher_test_fail_in(h, 3);
	kta_hash_nodes(h, (const uint8_t(*)[32])in, 8, out);
	assert_memory_not_equal(out[1], zero, 32);
	assert_memory_equal(out[2], zero, 32);
	assert_int_equal(kta_hasher_failed(h), 1);
	kta_hasher_free(h);
	assert_int_equal(kta_hasher_new(&h, NULL), KTA_OK);
	kta_hasher_test_fail_in(h, 2);
	kta_hash_leaves(h, ptr, len, 4, out);
	assert_memory_not_equal(out[0], zero, 32);
	assert_memory_equal(out[1], zero, 32);
	assert_int_equal(kta_hasher_failed(h), 1);
	kta_hasher_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sha256_known),
	    cmocka_unit_test(empty_root),
	    cmocka_unit_test(rfc6962_hasher_vectors),
	    cmocka_unit_test(leaf_node_separation),
	    cmocka_unit_test(node_aliasing),
	    cmocka_unit_test(sticky_failure),
	    cmocka_unit_test(failure_mid_way),
	    cmocka_unit_test(independent_hashers),
	    cmocka_unit_test(both_paths_match_openssl),
	    cmocka_unit_test(batch_leaves),
	    cmocka_unit_test(batch_nodes),
	    cmocka_unit_test(batch_failure),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
