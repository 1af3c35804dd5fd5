/*
 * libFuzzer, differential: compact ranges (compact.h) against
 * kta_merkle_root over the same leaves. Input: [n 2][cut 2][leaf bytes...];
 * leaf i is the leaf hash of (i, 32 bytes of input cycled). After each
 * append the range's root equals MTH of the prefix (RFC 9162 2.1.1); at
 * `cut` the range is saved and restored, and the restored range must go on
 * to the same roots.
 */
#include "ktaudit/compact.h"
#include "ktaudit/hash.h"
#include "ktaudit/merkle.h"

#include "fuzz_util.h"

#define MAXN 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t leaves[MAXN][32];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t n = fuzz_take(&data, &size, 2) % MAXN + 1;
	uint64_t cut = fuzz_take(&data, &size, 2) % n;
	struct kta_hasher *h = NULL;
	struct kta_compact_range *cr = NULL, *cr2 = NULL;
	uint8_t r1[32], r2[32], in[40];
	uint64_t i;
	size_t k;

	FUZZ_CHECK(kta_hasher_new(&h, NULL) == KTA_OK);
	FUZZ_CHECK(kta_compact_range_new(&cr, NULL) == KTA_OK);
	FUZZ_CHECK(kta_compact_range_root(cr, h, r1, NULL) == KTA_OK);
	kta_hash_empty(r2);
	FUZZ_CHECK(memcmp(r1, r2, 32) == 0);
	for (i = 0; i < n; i++) {
		for (k = 0; k < 8; k++)
			in[k] = (uint8_t)(i >> (56 - 8 * k));
		for (k = 0; k < 32; k++)
			in[8 + k] = size ? data[(i * 32 + k) % size] : 0;
		kta_hash_leaf(h, in, sizeof(in), leaves[i]);
		FUZZ_CHECK(kta_compact_range_append(cr, h, leaves[i], NULL) == KTA_OK);
		FUZZ_CHECK(kta_compact_range_size(cr) == i + 1);
		if (cr2 != NULL) {
			FUZZ_CHECK(kta_compact_range_append(cr2, h, leaves[i], NULL) == KTA_OK);
			FUZZ_CHECK(kta_compact_range_root(cr2, h, r2, NULL) == KTA_OK);
			FUZZ_CHECK(kta_compact_range_root(cr, h, r1, NULL) == KTA_OK);
			FUZZ_CHECK(memcmp(r1, r2, 32) == 0);
		}
		if (i == cut) {
			const uint8_t(*hs)[32] = kta_compact_range_hashes(cr, &k);
			uint64_t c = i + 1;

			FUZZ_CHECK(k == (size_t)__builtin_popcountll(c));
			FUZZ_CHECK(kta_compact_range_restore(c, hs, k, &cr2, NULL) == KTA_OK);
			/* A wrong count of hashes is refused. */
			if (k > 0) {
				struct kta_compact_range *bad = NULL;

				FUZZ_CHECK(kta_compact_range_restore(c, hs, k - 1, &bad, NULL) !=
					   KTA_OK);
				FUZZ_CHECK(bad == NULL);
			}
		}
		/* Every prefix root, for small trees; only some for large ones. */
		if (n <= 64 || (i & 31) == 0 || i + 1 == n) {
			FUZZ_CHECK(kta_compact_range_root(cr, h, r1, NULL) == KTA_OK);
			FUZZ_CHECK(kta_merkle_root(h, (const uint8_t(*)[32])leaves, i + 1, r2,
						   NULL) == KTA_OK);
			FUZZ_CHECK(memcmp(r1, r2, 32) == 0);
		}
	}
	FUZZ_CHECK(!kta_hasher_failed(h));
	kta_compact_range_free(cr);
	kta_compact_range_free(cr2);
	kta_hasher_free(h);
	return 0;
}
