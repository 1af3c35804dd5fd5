/* libFuzzer: tile paths, hash tiles and entry bundles. */
#include <stdlib.h>
#include <string.h>

#include "ktaudit/tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_tile t;
	struct kta_tile_bundle b;
	const uint8_t(*hashes)[32];
	unsigned w;

	if (kta_tile_path_parse((const char *)data, size, &t, NULL) == KTA_OK) {
		char p[KTA_TILE_PATH_MAX];

		if (t.level == KTA_TILE_ENTRIES) {
			if (kta_tile_entries_path(t.index, t.width, p, sizeof(p), NULL) != KTA_OK)
				abort();
		} else if (kta_tile_path(t.level, t.index, t.width, p, sizeof(p), NULL) != KTA_OK) {
			abort();
		}
		if (strlen(p) != size || memcmp(p, data, size) != 0)
			abort(); /* path spelling must round-trip */
	}
	for (w = 1; w <= 256; w *= 4) {
		if (kta_tile_parse_bundle(data, size, w, &b, NULL) == KTA_OK) {
			struct kta_tile_bundle_iter it;
			struct kta_tile_entry e;
			unsigned n = 0;

			kta_tile_bundle_iter_init(&it, &b);
			while (kta_tile_bundle_next(&it, &e))
				n++;
			if (n != w)
				abort();
		}
		(void)kta_tile_parse_hashes(data, size, w, &hashes, NULL);
	}
	return 0;
}
