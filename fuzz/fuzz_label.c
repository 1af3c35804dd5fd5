/*
 * libFuzzer: label rules and the percent-encoding of lookup/<label> file
 * names (DESIGN.md "Lookup answer"). Differential: encode then decode is the
 * identity on valid labels, decode then encode is the identity on accepted
 * names, and no accepted name can leave lookup/: it has no '/', is not "."
 * or "..", and has no NUL.
 */
#include "ktaudit/entry.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *name, size_t len)
{
	FUZZ_CHECK(len > 0 && memchr(name, '/', len) == NULL && memchr(name, '\0', len) == NULL);
	FUZZ_CHECK(!(len == 1 && name[0] == '.') &&
		   !(len == 2 && name[0] == '.' && name[1] == '.'));
	FUZZ_CHECK(memchr(name, '\\', len) == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	char enc[KTA_LABEL_ENCODED_MAX + 1], dec[KTA_LABEL_MAX_LEN + 1];
	size_t enc_len = 0, dec_len = 0;
	int valid = kta_entry_label_check(s, size, NULL) == KTA_OK;

	/* As a label. */
	if (kta_entry_label_encode(s, size, enc, &enc_len, NULL) == KTA_OK) {
		FUZZ_CHECK(valid);
		FUZZ_CHECK(enc_len == strlen(enc));
		check_name(enc, enc_len);
		FUZZ_CHECK(kta_entry_label_decode(enc, enc_len, dec, &dec_len, NULL) == KTA_OK);
		FUZZ_CHECK(dec_len == size && memcmp(dec, data, size) == 0);
	} else {
		FUZZ_CHECK(!valid);
	}
	/* As a file name. */
	if (kta_entry_label_decode(s, size, dec, &dec_len, NULL) == KTA_OK) {
		check_name(s, size);
		FUZZ_CHECK(kta_entry_label_check(dec, dec_len, NULL) == KTA_OK);
		FUZZ_CHECK(kta_entry_label_encode(dec, dec_len, enc, &enc_len, NULL) == KTA_OK);
		FUZZ_CHECK(enc_len == size && memcmp(enc, data, size) == 0);
	}
	return 0;
}
