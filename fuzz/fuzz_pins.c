/*
 * libFuzzer: CI pin files (pins.h). Differential: a parsed file formats to
 * a canonical text that parses again to the same canonical text, and
 * setting the checkpoint line keeps the file parseable with that checkpoint.
 */
#include "ktaudit/pins.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t root[32] = {0xaa, 0xbb};
	struct kta_pins *p = NULL, *q = NULL;
	char *f1 = NULL, *f2 = NULL;
	size_t l1 = 0, l2 = 0, i;
	uint8_t *set = NULL;
	size_t set_len = 0;

	if (kta_pins_parse(data, size, "fuzz", &p, NULL) != KTA_OK)
		return 0;
	for (i = 0; i < p->nlabels; i++)
		FUZZ_CHECK(kta_pins_find(p, p->labels[i].label) != NULL);
	FUZZ_CHECK(kta_pins_format(p, &f1, &l1, NULL) == KTA_OK);
	FUZZ_CHECK(kta_pins_parse((const uint8_t *)f1, l1, "fuzz", &q, NULL) == KTA_OK);
	FUZZ_CHECK(kta_pins_format(q, &f2, &l2, NULL) == KTA_OK);
	FUZZ_CHECK(l1 == l2 && memcmp(f1, f2, l1) == 0);
	FUZZ_CHECK(q->nlabels == p->nlabels && q->nwitnesses == p->nwitnesses);
	kta_pins_free(q);
	q = NULL;
	FUZZ_CHECK(kta_pins_set_checkpoint(data, size, "fuzz", 12345, root, &set, &set_len, NULL) ==
		   KTA_OK);
	FUZZ_CHECK(kta_pins_parse(set, set_len, "fuzz", &q, NULL) == KTA_OK);
	FUZZ_CHECK(q->has_checkpoint && q->size == 12345 && memcmp(q->root, root, 32) == 0);
	kta_pins_free(q);
	free(set);
	free(f1);
	free(f2);
	kta_pins_free(p);
	return 0;
}
