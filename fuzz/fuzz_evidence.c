/*
 * libFuzzer: evidence bundles (evidence.h, `ktaudit verify evidence`).
 *
 * First byte even: the rest is a bundle, verified with the harness's key
 * (seed 32 x 0x31, name example.com/log; corpus/evidence holds bundles of
 * every type signed by it, made with the library's builders). First byte odd: [size_a 2][size_b
 * 2][root flip 1] [mutation 3]; the harness signs two checkpoints with its own key and builds a
 * fork (same size, different roots) or rollback bundle: the builder's output must verify with the
 * right type, and must not verify under another key; a byte-mutated copy must not crash the
 * verifier.
 */
#include <stdio.h>

#include "ktaudit/evidence.h"
#include "ktaudit/note.h"

#include "fuzz_util.h"

#define NOW 1764143000
#define ORIGIN "example.com/log"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct kta_skey *sk, *other_sk;
static struct kta_vkey *vk, *other_vk;

static void init_keys(void)
{
	if (sk != NULL)
		return;
	fuzz_key(ORIGIN, KTA_KEY_ED25519, 0x31, &sk, &vk);
	fuzz_key(ORIGIN, KTA_KEY_ED25519, 0x32, &other_sk, &other_vk);
}

static uint8_t *sign_cp(uint64_t size, uint8_t rootbyte, size_t *len)
{
	char text[256];
	uint8_t *out = NULL;
	int n, i;

	n = snprintf(text, sizeof(text), "%s\n%llu\n", ORIGIN, (unsigned long long)size);
	/* base64 of 32 bytes: 43 characters and one '='. */
	for (i = 0; i < 43; i++)
		text[n + i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		    [(rootbyte + i) % 64];
	text[n + 42] = 'A'; /* the last character carries 2 pad bits: keep them zero */
	memcpy(text + n + 43, "=\n", 3);
	if (kta_note_sign((const uint8_t *)text, strlen(text), sk, &out, len, NULL) != KTA_OK)
		abort();
	return out;
}

static void built(const uint8_t *data, size_t size)
{
	uint64_t sa = fuzz_take(&data, &size, 2), sb = fuzz_take(&data, &size, 2);
	uint8_t flip = (uint8_t)fuzz_take(&data, &size, 1);
	uint64_t mut = fuzz_take(&data, &size, 3);
	uint8_t *a, *b;
	size_t la, lb, blen = 0;
	char *bundle = NULL;
	struct kta_evidence_result res;
	enum kta_evidence_type want;
	enum kta_status r;

	a = sign_cp(sa, 0, &la);
	b = sign_cp(sb, flip, &lb);
	if (sa == sb && flip % 64 != 0) {
		r = kta_evidence_fork_same_size(ORIGIN, a, la, b, lb, &bundle, &blen, NULL);
		want = KTA_EVIDENCE_FORK;
	} else if (sa > sb) {
		r = kta_evidence_rollback(ORIGIN, a, la, b, lb, &bundle, &blen, NULL);
		want = KTA_EVIDENCE_ROLLBACK;
	} else {
		goto out;
	}
	FUZZ_CHECK(r == KTA_OK);
	FUZZ_CHECK(kta_evidence_verify((const uint8_t *)bundle, blen, vk, NULL, NOW, &res, NULL) ==
		   KTA_OK);
	FUZZ_CHECK(res.type == want && res.strong == (want == KTA_EVIDENCE_FORK));
	FUZZ_CHECK(kta_evidence_verify((const uint8_t *)bundle, blen, other_vk, NULL, NOW, &res,
				       NULL) == KTA_ERR_VERIFY);
	((uint8_t *)bundle)[mut % blen] ^= (uint8_t)(mut >> 16 | 1);
	(void)kta_evidence_verify((const uint8_t *)bundle, blen, vk, NULL, NOW, &res, NULL);
out:
	free(bundle);
	free(a);
	free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_evidence_result res;

	init_keys();
	if (size == 0)
		return 0;
	if (data[0] & 1) {
		built(data + 1, size - 1);
		return 0;
	}
	if (kta_evidence_verify(data + 1, size - 1, vk, ORIGIN, NOW, &res, NULL) == KTA_OK) {
		FUZZ_CHECK(res.statement[0] != '\0');
		/* What holds under the log's key cannot hold under another one. */
		FUZZ_CHECK(kta_evidence_verify(data + 1, size - 1, other_vk, ORIGIN, NOW, &res,
					       NULL) != KTA_OK);
	}
	return 0;
}
