/*
 * libFuzzer: tile paths, hash tiles and entry bundles (c2sp.org/tlog-tiles).
 * Differential: a parsed path formats back to the input; a parsed hash tile
 * or bundle encodes back to exactly the input bytes; the tile math agrees
 * with itself for the size read from the input.
 */
#include <stdio.h>

#include "ktaudit/tile.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t buf[KTA_TILE_BUNDLE_MAX];
static struct kta_tile_entry ents[KTA_TILE_WIDTH];

static void tile_math(uint64_t index, uint64_t size)
{
	struct kta_tile t;
	unsigned w, pos = 0;

	if (size == 0)
		return;
	index %= size;
	if (kta_tile_for_entry(index, size, &t, &pos, NULL) == KTA_OK) {
		FUZZ_CHECK(pos == index % KTA_TILE_WIDTH);
		FUZZ_CHECK(t.level == KTA_TILE_ENTRIES && t.index == index / KTA_TILE_WIDTH);
		FUZZ_CHECK(t.width >= 1 && t.width <= KTA_TILE_WIDTH);
		FUZZ_CHECK(index % KTA_TILE_WIDTH < t.width);
		FUZZ_CHECK(kta_tile_width(KTA_TILE_ENTRIES, t.index, size, &w, NULL) == KTA_OK &&
			   w == t.width);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_tile t;
	struct kta_tile_bundle b;
	const uint8_t(*hashes)[32];
	unsigned w;

	if (kta_tile_path_parse((const char *)data, size, &t, NULL) == KTA_OK) {
		char p[KTA_TILE_PATH_MAX];

		if (t.level == KTA_TILE_ENTRIES)
			FUZZ_CHECK(kta_tile_entries_path(t.index, t.width, p, sizeof(p), NULL) ==
				   KTA_OK);
		else
			FUZZ_CHECK(kta_tile_path(t.level, t.index, t.width, p, sizeof(p), NULL) ==
				   KTA_OK);
		FUZZ_CHECK(strlen(p) == size && memcmp(p, data, size) == 0);
	}
	for (w = 1; w <= 256; w *= 4) {
		if (kta_tile_parse_bundle(data, size, w, &b, NULL) == KTA_OK) {
			struct kta_tile_bundle_iter it;
			struct kta_tile_entry e;
			unsigned n = 0;
			size_t out_len = 0;

			kta_tile_bundle_iter_init(&it, &b);
			while (kta_tile_bundle_next(&it, &e)) {
				FUZZ_CHECK(n < KTA_TILE_WIDTH);
				ents[n++] = e;
			}
			FUZZ_CHECK(n == w);
			FUZZ_CHECK(kta_tile_encode_bundle(ents, n, buf, sizeof(buf), &out_len,
							  NULL) == KTA_OK);
			FUZZ_CHECK(out_len == size && memcmp(buf, data, size) == 0);
		}
		if (kta_tile_parse_hashes(data, size, w, &hashes, NULL) == KTA_OK) {
			size_t out_len = 0;

			FUZZ_CHECK(kta_tile_encode_hashes(hashes, w, buf, sizeof(buf), &out_len,
							  NULL) == KTA_OK);
			FUZZ_CHECK(out_len == size && memcmp(buf, data, size) == 0);
		}
	}
	if (size >= 16) {
		uint64_t a = 0, s = 0;
		size_t i;

		for (i = 0; i < 8; i++) {
			a = a << 8 | data[i];
			s = s << 8 | data[8 + i];
		}
		tile_math(a, s);
	}
	return 0;
}
