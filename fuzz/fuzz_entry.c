/*
 * libFuzzer: keydir/v1 entries. Differential: whatever parses must serialise
 * back to exactly the input bytes (one spelling per entry).
 */
#include <stdlib.h>
#include <string.h>

#include "ktaudit/entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_entry *e = NULL;
	uint8_t *out = NULL;
	size_t out_len = 0;

	if (kta_entry_parse(data, size, &e, NULL) != KTA_OK)
		return 0;
	if (kta_entry_serialize(e, &out, &out_len, NULL) != KTA_OK)
		abort();
	if (out_len != size || memcmp(out, data, size) != 0)
		abort(); /* two spellings of one entry */
	free(out);
	kta_entry_free(e);
	return 0;
}
