/* Unit tests for SHA-256 and the RFC 9162 2.1.1 leaf and node hashes. */
#include "testutil.h"

#include <string.h>

#include <jansson.h>

#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"

/* Test seams in src/hash.c (not exported): force the sticky failure flag. */
void kta_hasher_test_fail(struct kta_hasher *h);
void kta_hasher_test_fail_in(struct kta_hasher *h, uint64_t n);

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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sha256_known),           cmocka_unit_test(empty_root),
	    cmocka_unit_test(rfc6962_hasher_vectors), cmocka_unit_test(leaf_node_separation),
	    cmocka_unit_test(node_aliasing),          cmocka_unit_test(sticky_failure),
	    cmocka_unit_test(failure_mid_way),        cmocka_unit_test(independent_hashers),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
