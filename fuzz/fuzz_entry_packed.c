/*
 * libFuzzer: the packed form of keydir/v1 entries (entry.h kta_entry_pack),
 * as the state database keeps replayed entries. The input is a packed entry
 * of version 1. Invariants: unpacking fails cleanly (no output), or gives a
 * text that parses, as version 1, and packs back to exactly the input: one
 * packed form per entry, so a damaged record is never shown as another
 * valid entry without changing its bytes.
 */
#include "ktaudit/entry.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_entry *e = NULL;
	uint8_t *text = NULL, *again;
	size_t tlen = 0, plen = 0;

	if (kta_entry_unpack(data, size, 1, &text, &tlen, NULL) != KTA_OK) {
		FUZZ_CHECK(text == NULL && tlen == 0);
		return 0;
	}
	FUZZ_CHECK(kta_entry_parse(text, tlen, &e, NULL) == KTA_OK && e->version == 1);
	if ((again = malloc(size + 1)) == NULL)
		abort();
	FUZZ_CHECK(kta_entry_pack(e, again, size + 1, &plen, NULL) == KTA_OK);
	FUZZ_CHECK(plen == size && memcmp(again, data, size) == 0);
	free(again);
	FUZZ_CHECK(e->signed_len <= tlen);
	free(text);
	kta_entry_free(e);
	return 0;
}
