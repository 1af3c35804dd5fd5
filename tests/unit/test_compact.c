/* Unit tests for the compact Merkle range (the frontier used by replay). */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ktaudit/compact.h"
#include "ktaudit/encoding.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

/* Test seams in src/hash.c (not exported): force the sticky failure flag. */
void kta_hasher_test_fail(struct kta_hasher *h);
void kta_hasher_test_fail_in(struct kta_hasher *h, uint64_t n);

#define N_LEAVES 2100

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

static void rand32(uint64_t *rs, uint8_t out[32])
{
	size_t i;

	for (i = 0; i < 32; i += 8) {
		uint64_t x = tu_rand(rs);

		memcpy(out + i, &x, 8);
	}
}

static uint8_t (*random_leaves(uint64_t seed, size_t n))[32]
{
	uint8_t(*leaves)[32] = calloc(n, 32);
	size_t i;

	assert_non_null(leaves);
	for (i = 0; i < n; i++)
		rand32(&seed, leaves[i]);
	return leaves;
}

static void empty_range(void **state)
{
	struct kta_hasher *h = *state;
	struct kta_compact_range *cr = NULL;
	uint8_t root[32], empty[32];
	size_t n = 99;

	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_size(cr), 0);
	assert_null(kta_compact_range_hashes(cr, &n));
	assert_int_equal(n, 0);
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	kta_hash_empty(empty);
	assert_memory_equal(root, empty, 32);
	kta_compact_range_free(cr);
	kta_compact_range_free(NULL);
}

/* The RFC 6962 reference tree: roots of sizes 0..8 (testdata/merkle/SOURCES.md). */
static void reference_tree(void **state)
{
	struct kta_hasher *h = *state;
	struct kta_compact_range *cr = NULL;
	size_t len, i, n;
	uint8_t *buf = tu_read_testdata("merkle/rfc6962_reference_tree.json", &len);
	json_error_t jerr;
	json_t *j = json_loadb((const char *)buf, len, 0, &jerr);
	json_t *inputs, *roots;
	uint8_t data[64], leaf[32], root[32], want[32];
	char key[8];

	assert_non_null(j);
	inputs = json_object_get(j, "leaf_inputs_hex");
	roots = json_object_get(j, "root_hashes_hex_by_tree_size");
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (i = 0; i <= 8; i++) {
		(void)snprintf(key, sizeof(key), "%zu", i);
		assert_int_equal(
		    kta_hex_decode(json_string_value(json_object_get(roots, key)), 64, want, 32),
		    KTA_OK);
		assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
		assert_memory_equal(root, want, 32);
		if (i == 8)
			break;
		{
			const char *hex = json_string_value(json_array_get(inputs, i));

			n = strlen(hex) / 2;
			assert_true(n <= sizeof(data));
			assert_int_equal(kta_hex_decode(hex, 2 * n, data, n), KTA_OK);
		}
		kta_hash_leaf(h, data, n, leaf);
		assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	}
	/* one more leaf moves the root away from every earlier one */
	assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	assert_memory_not_equal(root, want, 32);
	kta_compact_range_free(cr);
	json_decref(j);
	free(buf);
}

/* Agrees with kta_merkle_root at every size 0..N_LEAVES. */
static void matches_merkle_root(void **state)
{
	struct kta_hasher *h = *state;
	struct kta_compact_range *cr = NULL;
	uint8_t(*leaves)[32] = random_leaves(0xfeedface, N_LEAVES);
	uint8_t a[32], b[32];
	uint64_t size;
	size_t n;

	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (size = 0;; size++) {
		assert_int_equal(kta_compact_range_size(cr), size);
		assert_int_equal(kta_compact_range_root(cr, h, a, NULL), KTA_OK);
		assert_int_equal(kta_merkle_root(h, (const uint8_t(*)[32])leaves, size, b, NULL),
				 KTA_OK);
		assert_memory_equal(a, b, 32);
		(void)kta_compact_range_hashes(cr, &n);
		assert_int_equal(n, (size_t)__builtin_popcountll((unsigned long long)size));
		if (size == N_LEAVES)
			break;
		assert_int_equal(kta_compact_range_append(cr, h, leaves[size], NULL), KTA_OK);
	}
	/* a different last leaf gives a different root */
	leaves[N_LEAVES - 1][0] ^= 1;
	assert_int_equal(kta_merkle_root(h, (const uint8_t(*)[32])leaves, N_LEAVES, b, NULL),
			 KTA_OK);
	assert_memory_not_equal(a, b, 32);
	assert_int_equal(kta_hasher_failed(h), 0);
	kta_compact_range_free(cr);
	free(leaves);
}

/* The saved hashes are the perfect subtree roots, largest first. */
static void hashes_layout(void **state)
{
	struct kta_hasher *h = *state;
	struct kta_compact_range *cr = NULL;
	uint8_t(*leaves)[32] = random_leaves(99, 64);
	const uint8_t(*hs)[32];
	uint8_t want[32];
	uint64_t size, bit, begin;
	size_t n, i;

	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (size = 1; size <= 64; size++) {
		assert_int_equal(kta_compact_range_append(cr, h, leaves[size - 1], NULL), KTA_OK);
		hs = kta_compact_range_hashes(cr, &n);
		assert_non_null(hs);
		i = 0;
		begin = 0;
		for (bit = (uint64_t)1 << 6; bit != 0; bit >>= 1) {
			if ((size & bit) == 0)
				continue;
			assert_int_equal(kta_merkle_root(h, (const uint8_t(*)[32])leaves + begin,
							 bit, want, NULL),
					 KTA_OK);
			assert_true(i < n);
			assert_memory_equal(hs[i], want, 32);
			begin += bit;
			i++;
		}
		assert_int_equal(i, n);
	}
	kta_compact_range_free(cr);
	free(leaves);
}

/* restore() from saved hashes continues exactly like the original. */
static void restore_continues(void **state)
{
	struct kta_hasher *h = *state;
	uint8_t(*leaves)[32] = random_leaves(4242, N_LEAVES);
	struct kta_compact_range *cr = NULL, *cp = NULL;
	const uint8_t(*hs)[32];
	uint8_t saved[64][32], a[32], b[32];
	uint64_t cut, s, rs = 31337;
	size_t n, k;

	for (k = 0; k < 40; k++) {
		cut = k < 20 ? k : tu_rand(&rs) % (N_LEAVES - 200);
		assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
		for (s = 0; s < cut; s++)
			assert_int_equal(kta_compact_range_append(cr, h, leaves[s], NULL), KTA_OK);
		/* save a copy: the borrowed pointer dies with the next append */
		hs = kta_compact_range_hashes(cr, &n);
		if (n > 0)
			memcpy(saved, hs, n * 32);
		assert_int_equal(
		    kta_compact_range_restore(cut, (const uint8_t(*)[32])saved, n, &cp, NULL),
		    KTA_OK);
		assert_int_equal(kta_compact_range_size(cp), cut);
		for (s = cut; s < cut + 200; s++) {
			assert_int_equal(kta_compact_range_root(cr, h, a, NULL), KTA_OK);
			assert_int_equal(kta_compact_range_root(cp, h, b, NULL), KTA_OK);
			assert_memory_equal(a, b, 32);
			assert_int_equal(kta_compact_range_append(cr, h, leaves[s], NULL), KTA_OK);
			assert_int_equal(kta_compact_range_append(cp, h, leaves[s], NULL), KTA_OK);
		}
		assert_int_equal(kta_compact_range_root(cp, h, b, NULL), KTA_OK);
		assert_int_equal(
		    kta_merkle_root(h, (const uint8_t(*)[32])leaves, cut + 200, a, NULL), KTA_OK);
		assert_memory_equal(a, b, 32);
		kta_compact_range_free(cr);
		kta_compact_range_free(cp);
		cr = cp = NULL;
	}
	/* restoring with a tampered hash gives a different root */
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (s = 0; s < 13; s++)
		assert_int_equal(kta_compact_range_append(cr, h, leaves[s], NULL), KTA_OK);
	hs = kta_compact_range_hashes(cr, &n);
	assert_int_equal(n, 3);
	memcpy(saved, hs, n * 32);
	saved[1][5] ^= 0x10;
	assert_int_equal(kta_compact_range_restore(13, (const uint8_t(*)[32])saved, n, &cp, NULL),
			 KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, h, a, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(cp, h, b, NULL), KTA_OK);
	assert_memory_not_equal(a, b, 32);
	kta_compact_range_free(cr);
	kta_compact_range_free(cp);
	free(leaves);
}

static void restore_rejects(void **state)
{
	uint8_t hs[65][32];
	struct kta_compact_range *keep = NULL, *cr;
	struct kta_error err;
	static const struct {
		uint64_t size;
		size_t n;
	} bad[] = {
	    {0, 1},
	    {1, 0},
	    {1, 2},
	    {6, 1},
	    {6, 3},
	    {7, 2},
	    {8, 2},
	    {UINT64_MAX, 63},
	    {UINT64_MAX, 65},
	    {(uint64_t)1 << 63, 0},
	    {(uint64_t)1 << 63, 2},
	};
	size_t i;

	(void)state;
	memset(hs, 0x5c, sizeof(hs));
	/* a non-NULL *out must be reset to NULL on failure */
	assert_int_equal(kta_compact_range_new(&keep, NULL), KTA_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr = keep;
		kta_error_clear(&err);
		assert_int_equal(kta_compact_range_restore(bad[i].size, (const uint8_t(*)[32])hs,
							   bad[i].n, &cr, &err),
				 KTA_ERR_MALFORMED);
		assert_null(cr);
		assert_non_null(strstr(err.msg, "expected"));
	}
	kta_compact_range_free(keep);
	assert_int_equal(kta_compact_range_restore(0, NULL, 0, &cr, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_size(cr), 0);
	kta_compact_range_free(cr);
}

/* The largest sizes: no overflow; a full range refuses to grow. */
static void huge_sizes(void **state)
{
	struct kta_hasher *h = *state;
	struct kta_compact_range *cr = NULL;
	uint8_t hs[64][32], leaf[32], root[32], want[32];
	const uint8_t(*got)[32];
	struct kta_error err;
	size_t n, i;

	memset(leaf, 0xee, 32);
	for (i = 0; i < 64; i++)
		memset(hs[i], (int)i, 32);
	/* 2^63: one perfect subtree; appending one leaf gives two */
	assert_int_equal(
	    kta_compact_range_restore((uint64_t)1 << 63, (const uint8_t(*)[32])hs, 1, &cr, NULL),
	    KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	assert_memory_equal(root, hs[0], 32);
	assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_size(cr), ((uint64_t)1 << 63) + 1);
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	kta_hash_node(h, hs[0], leaf, want);
	assert_memory_equal(root, want, 32);
	kta_compact_range_free(cr);
	/* 2^64 - 2 plus one leaf: UINT64_MAX, 64 subtrees */
	assert_int_equal(
	    kta_compact_range_restore(UINT64_MAX - 1, (const uint8_t(*)[32])hs, 63, &cr, NULL),
	    KTA_OK);
	assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_size(cr), UINT64_MAX);
	got = kta_compact_range_hashes(cr, &n);
	assert_int_equal(n, 64);
	assert_memory_equal(got[63], leaf, 32);
	assert_int_equal(kta_compact_range_append(cr, h, leaf, &err), KTA_ERR_LIMIT);
	assert_int_equal(kta_compact_range_size(cr), UINT64_MAX);
	assert_int_equal(kta_compact_range_root(cr, h, root, NULL), KTA_OK);
	kta_compact_range_free(cr);
	/* UINT64_MAX - 1 leaves, then one more: 2^64 - 1 has all 64 bits */
	assert_int_equal(
	    kta_compact_range_restore(UINT64_MAX, (const uint8_t(*)[32])hs, 64, &cr, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_ERR_LIMIT);
	kta_compact_range_free(cr);
	/* a carry through 63 levels: 2^63 - 1 plus one leaf folds to one hash */
	assert_int_equal(kta_compact_range_restore(((uint64_t)1 << 63) - 1,
						   (const uint8_t(*)[32])hs, 63, &cr, NULL),
			 KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, h, want, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_append(cr, h, leaf, NULL), KTA_OK);
	got = kta_compact_range_hashes(cr, &n);
	assert_int_equal(n, 1);
	/* with 2^63 leaves the root is the single subtree; the fold of 63 + leaf */
	memcpy(root, leaf, 32);
	for (i = 63; i > 0; i--)
		kta_hash_node(h, hs[i - 1], root, root);
	assert_memory_equal(got[0], root, 32);
	assert_memory_not_equal(got[0], want, 32);
	kta_compact_range_free(cr);
	assert_int_equal(kta_hasher_failed(h), 0);
}

/* A failed hasher leaves the range unchanged and reports KTA_ERR_INTERNAL. */
static void hasher_failure(void **state)
{
	struct kta_hasher *good = *state, *bad = NULL;
	struct kta_compact_range *cr = NULL;
	uint8_t leaf[32], root[32], before[32];
	const uint8_t(*hs)[32];
	size_t n, i;

	memset(leaf, 0x31, 32);
	assert_int_equal(kta_hasher_new(&bad, NULL), KTA_OK);
	kta_hasher_test_fail(bad);
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (i = 0; i < 7; i++)
		assert_int_equal(kta_compact_range_append(cr, good, leaf, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, good, before, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_append(cr, bad, leaf, NULL), KTA_ERR_INTERNAL);
	assert_int_equal(kta_compact_range_size(cr), 7);
	hs = kta_compact_range_hashes(cr, &n);
	assert_int_equal(n, 3);
	assert_non_null(hs);
	assert_int_equal(kta_compact_range_root(cr, bad, root, NULL), KTA_ERR_INTERNAL);
	assert_int_equal(kta_compact_range_root(cr, good, root, NULL), KTA_OK);
	assert_memory_equal(root, before, 32);
	kta_compact_range_free(cr);
	kta_hasher_free(bad);
}

/* A hash failing part-way through an append (7 -> 8 merges three times). */
static void hasher_failure_mid_append(void **state)
{
	struct kta_hasher *good = *state, *bad = NULL;
	struct kta_compact_range *cr = NULL;
	uint8_t leaf[32], before[32], root[32], saved[3][32];
	const uint8_t(*hs)[32];
	uint64_t k;
	size_t n, i;

	memset(leaf, 0x47, 32);
	assert_int_equal(kta_compact_range_new(&cr, NULL), KTA_OK);
	for (i = 0; i < 7; i++)
		assert_int_equal(kta_compact_range_append(cr, good, leaf, NULL), KTA_OK);
	assert_int_equal(kta_compact_range_root(cr, good, before, NULL), KTA_OK);
	hs = kta_compact_range_hashes(cr, &n);
	assert_int_equal(n, 3);
	memcpy(saved, hs, sizeof(saved));
	for (k = 1; k <= 3; k++) {
		assert_int_equal(kta_hasher_new(&bad, NULL), KTA_OK);
		kta_hasher_test_fail_in(bad, k);
		assert_int_equal(kta_compact_range_append(cr, bad, leaf, NULL), KTA_ERR_INTERNAL);
		kta_hasher_free(bad);
		/* unchanged */
		assert_int_equal(kta_compact_range_size(cr), 7);
		hs = kta_compact_range_hashes(cr, &n);
		assert_int_equal(n, 3);
		assert_memory_equal(hs, saved, sizeof(saved));
		assert_int_equal(kta_compact_range_root(cr, good, root, NULL), KTA_OK);
		assert_memory_equal(root, before, 32);
	}
	/* the root fold failing part-way (3 subtrees: 2 hashes) */
	for (k = 1; k <= 2; k++) {
		assert_int_equal(kta_hasher_new(&bad, NULL), KTA_OK);
		kta_hasher_test_fail_in(bad, k);
		assert_int_equal(kta_compact_range_root(cr, bad, root, NULL), KTA_ERR_INTERNAL);
		kta_hasher_free(bad);
	}
	kta_compact_range_free(cr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(empty_range),
	    cmocka_unit_test(reference_tree),
	    cmocka_unit_test(matches_merkle_root),
	    cmocka_unit_test(hashes_layout),
	    cmocka_unit_test(restore_continues),
	    cmocka_unit_test(restore_rejects),
	    cmocka_unit_test(huge_sizes),
	    cmocka_unit_test(hasher_failure),
	    cmocka_unit_test(hasher_failure_mid_append),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
