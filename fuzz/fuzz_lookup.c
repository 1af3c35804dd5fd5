/*
 * libFuzzer: lookup answers (lookup.h), parsed and verified under the
 * example log's key (testdata/entry/example_log/log.vkey), with and without
 * an expected label. Invariants: a verified answer's entry is for the label
 * asked for, its leaf index is the parsed one and lies inside the verified
 * tree.
 */
#include "ktaudit/lookup.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char vkey[] =
    "example.org/keydir+0bc5d881+AewXK5OtXlY79JMscOEkUDTDVGfvLv1NZOv4GWg0Z+K/";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char label[] = "alice@example.org";
	struct kta_lookup *l = NULL;
	struct kta_vkey *k = NULL;
	struct kta_checkpoint_policy p;
	struct kta_lookup_result res;

	if (kta_lookup_parse(data, size, &l, NULL) != KTA_OK)
		return 0;
	FUZZ_CHECK(l->entry_len > 0 && l->entry_len <= KTA_ENTRY_MAX_SIZE);
	FUZZ_CHECK(l->path_len <= KTA_LOOKUP_MAX_PATH);
	FUZZ_CHECK(kta_vkey_parse(vkey, strlen(vkey), &k, NULL) == KTA_OK);
	memset(&p, 0, sizeof(p));
	p.log_key = k;
	p.now = 1764143000;
	p.max_skew = 300;
	if (kta_lookup_verify(l, &p, NULL, 0, &res, NULL) == KTA_OK) {
		FUZZ_CHECK(res.leaf_index == l->leaf_index && res.leaf_index < res.cp.cp->size);
		FUZZ_CHECK(res.raw_len == l->entry_len &&
			   memcmp(res.raw, l->entry, l->entry_len) == 0);
		kta_lookup_result_free(&res);
	}
	if (kta_lookup_verify(l, &p, label, strlen(label), &res, NULL) == KTA_OK) {
		FUZZ_CHECK(strcmp(res.entry->label, label) == 0);
		kta_lookup_result_free(&res);
	}
	kta_vkey_free(k);
	kta_lookup_free(l);
	return 0;
}
