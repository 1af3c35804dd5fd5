/*
 * libFuzzer: differential check of kta_entry_validate (the allocation-free
 * single-pass check of the verify-only replay) against kta_entry_parse.
 * They must agree on every input: validate returns KTA_OK exactly when the
 * parser accepts, KTA_ERR_MALFORMED exactly when it rejects (entry.h). On a
 * rejection the message validate gives must be the parser's own. Use the
 * entry corpus and dictionary: fuzz_entry_fast fuzz/corpus/entry
 * -dict=fuzz/entry.dict.
 */
#include "ktaudit/entry.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_entry *e = NULL;
	struct kta_error perr, verr;
	enum kta_status p, v, v2;

	p = kta_entry_parse(data, size, &e, &perr);
	v = kta_entry_validate(data, size, NULL);
	if (p == KTA_ERR_NOMEM)
		return 0;
	FUZZ_CHECK(p == KTA_OK || p == KTA_ERR_MALFORMED);
	FUZZ_CHECK(v == p);
	v2 = kta_entry_validate(data, size, &verr);
	FUZZ_CHECK(v2 == p);
	if (p != KTA_OK)
		FUZZ_CHECK(strcmp(perr.msg, verr.msg) == 0);
	kta_entry_free(e);
	return 0;
}
