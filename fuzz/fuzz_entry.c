/*
 * libFuzzer: keydir/v1 entries and their authorization check (DESIGN.md A11).
 * Differential: whatever parses must serialise back to exactly the input
 * bytes (one spelling per entry), and pack into a form that unpacks back to
 * them (fuzz_entry_packed fuzzes the packed form itself).
 *
 * An input holding a 0xff byte (never in a valid entry: UTF-8) is split
 * there into `prev` and `entry`: when both parse and prev can precede entry
 * (same label, lower version), the auth check and the key-set diff run on
 * the pair. Invariants: the check always gives a result; OWNER implies a
 * verified auth line by an ed25519 key of prev; a deleted prev authorizes
 * nothing.
 */
#include "ktaudit/entry.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kta_entry *parse_roundtrip(const uint8_t *data, size_t size)
{
	struct kta_entry *e = NULL;
	uint8_t *out = NULL, *packed;
	size_t out_len = 0, plen = 0;

	if (kta_entry_parse(data, size, &e, NULL) != KTA_OK)
		return NULL;
	FUZZ_CHECK(kta_entry_serialize(e, &out, &out_len, NULL) == KTA_OK);
	FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0); /* two spellings */
	FUZZ_CHECK(e->signed_len <= size);
	FUZZ_CHECK(kta_entry_label_check(e->label, strlen(e->label), NULL) == KTA_OK);
	free(out);
	FUZZ_CHECK(kta_entry_spelled_len(e) == size);
	if ((packed = malloc(size)) == NULL)
		abort();
	/* what the state database relies on: room for 4 bytes of the leaf hash */
	FUZZ_CHECK(kta_entry_pack(e, packed, size, &plen, NULL) == KTA_OK && plen + 4 <= size);
	FUZZ_CHECK(kta_entry_unpack(packed, plen, e->version, &out, &out_len, NULL) == KTA_OK);
	FUZZ_CHECK(out_len == size && memcmp(out, data, size) == 0);
	free(out);
	free(packed);
	return e;
}

static void check_pair(const struct kta_entry *prev, const struct kta_entry *e, const uint8_t *raw,
		       size_t raw_len)
{
	struct kta_entry_auth_report rep;
	struct kta_entry_key_change *ch = NULL;
	size_t nch = 0, i;

	FUZZ_CHECK(kta_entry_keys_diff(prev ? prev->keys : NULL, prev ? prev->nkeys : 0, e->keys,
				       e->nkeys, &ch, &nch, NULL) == KTA_OK);
	for (i = 0; i < nch; i++)
		FUZZ_CHECK(ch[i].before != NULL || ch[i].after != NULL);
	free(ch);
	if (e->version == 1)
		prev = NULL;
	FUZZ_CHECK(kta_entry_check_auth_report(e, raw, raw_len, prev, &rep, NULL) == KTA_OK);
	FUZZ_CHECK(rep.nverified + rep.nbad == e->nauths);
	switch (rep.result) {
	case KTA_AUTH_OWNER:
		FUZZ_CHECK(prev != NULL && prev->nkeys > 0 && rep.owner_auth < e->nauths);
		FUZZ_CHECK(rep.nbad == 0);
		break;
	case KTA_AUTH_BAD_SIGNATURE:
		FUZZ_CHECK(rep.nbad > 0 && rep.bad_auth < e->nauths && rep.bad_line > 0);
		break;
	case KTA_AUTH_FIRST_VERSION:
		FUZZ_CHECK(e->version == 1 && rep.nbad == 0);
		break;
	case KTA_AUTH_PREV_UNKNOWN:
		FUZZ_CHECK(prev == NULL && e->version > 1);
		break;
	case KTA_AUTH_UNAUTHORIZED:
		FUZZ_CHECK(e->version > 1);
		break;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0xff, size);
	struct kta_entry *e = NULL, *prev = NULL;

	if (sep == NULL) {
		e = parse_roundtrip(data, size);
		if (e != NULL)
			check_pair(NULL, e, data, size);
	} else {
		size_t plen = (size_t)(sep - data);

		prev = parse_roundtrip(data, plen);
		e = parse_roundtrip(sep + 1, size - plen - 1);
		if (e != NULL && prev != NULL && strcmp(prev->label, e->label) == 0 &&
		    prev->version < e->version)
			check_pair(prev, e, sep + 1, size - plen - 1);
		else if (e != NULL)
			check_pair(NULL, e, sep + 1, size - plen - 1);
	}
	kta_entry_free(e);
	kta_entry_free(prev);
	return 0;
}
