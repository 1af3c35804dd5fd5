/*
 * libFuzzer: differential check of kta_entry_validate (the allocation-free
 * single-pass check of the verify-only replay) and kta_entry_parse_buf (the
 * same pass filling a reused buffer: the full audit's parse) against
 * kta_entry_parse. They must agree on every input: validate and parse_buf
 * return KTA_OK exactly when the parser accepts, KTA_ERR_MALFORMED exactly
 * when it rejects (entry.h), with the parser's own message; parse_buf's
 * entry equals the parser's field by field. Use the entry corpus and
 * dictionary: fuzz_entry_fast fuzz/corpus/entry -dict=fuzz/entry.dict.
 */
#include "ktaudit/entry.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Fails the run unless a and b are equal field by field. */
static void check_same(const struct kta_entry *a, const struct kta_entry *b)
{
	size_t i;

	FUZZ_CHECK(a != NULL && b != NULL);
	FUZZ_CHECK(strcmp(a->label, b->label) == 0);
	FUZZ_CHECK(a->version == b->version && a->time == b->time);
	FUZZ_CHECK(a->nkeys == b->nkeys && a->nauths == b->nauths);
	FUZZ_CHECK(a->signed_len == b->signed_len);
	FUZZ_CHECK((a->keys == NULL) == (b->keys == NULL));
	FUZZ_CHECK((a->auths == NULL) == (b->auths == NULL));
	for (i = 0; i < a->nkeys; i++) {
		FUZZ_CHECK(a->keys[i].alg == b->keys[i].alg);
		FUZZ_CHECK(memcmp(a->keys[i].pub, b->keys[i].pub, 32) == 0);
		FUZZ_CHECK(strcmp(a->keys[i].device, b->keys[i].device) == 0);
	}
	for (i = 0; i < a->nauths; i++) {
		FUZZ_CHECK(memcmp(a->auths[i].pub, b->auths[i].pub, 32) == 0);
		FUZZ_CHECK(memcmp(a->auths[i].sig, b->auths[i].sig, 64) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One buffer for the whole run (never freed: the process ends), so that
	 * data left by an earlier, bigger input would show. */
	static struct kta_entry_buf *eb;
	const struct kta_entry *be = NULL;
	struct kta_entry *e = NULL;
	struct kta_error perr, verr, berr;
	enum kta_status p, v, v2, pb;

	if (eb == NULL)
		FUZZ_CHECK(kta_entry_buf_new(&eb, NULL) == KTA_OK);
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
	pb = kta_entry_parse_buf(data, size, eb, &be, &berr);
	FUZZ_CHECK(pb == p);
	if (p == KTA_OK) {
		check_same(e, be);
	} else {
		FUZZ_CHECK(be == NULL);
		FUZZ_CHECK(strcmp(perr.msg, berr.msg) == 0);
	}
	kta_entry_free(e);
	return 0;
}
