/*
 * libFuzzer: verifier and signer key strings (c2sp.org/signed-note keys).
 * Differential: a parsed vkey or skey formats back to exactly the input
 * without its optional final "\n" (one spelling per key; key.h allows one
 * trailing "\n" for keys read from files); an skey's derived vkey parses.
 */
#include "ktaudit/key.h"

#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kta_vkey *vk = NULL, *vk2 = NULL;
	struct kta_skey *sk = NULL;
	char *s;
	size_t n = size;

	if (n > 0 && data[n - 1] == '\n')
		n--;
	(void)kta_key_name_valid(data, size);
	if (kta_vkey_parse((const char *)data, size, &vk, NULL) == KTA_OK) {
		FUZZ_CHECK(kta_key_name_valid((const uint8_t *)vk->name, strlen(vk->name)));
		s = kta_vkey_format(vk);
		FUZZ_CHECK(s != NULL);
		FUZZ_CHECK(strlen(s) == n && memcmp(s, data, n) == 0);
		free(s);
		kta_vkey_free(vk);
	}
	if (kta_skey_parse((const char *)data, size, &sk, NULL) == KTA_OK) {
		s = kta_skey_format(sk);
		FUZZ_CHECK(s != NULL);
		FUZZ_CHECK(strlen(s) == n && memcmp(s, data, n) == 0);
		free(s);
		FUZZ_CHECK(kta_skey_vkey(sk, &vk2, NULL) == KTA_OK);
		s = kta_vkey_format(vk2);
		FUZZ_CHECK(s != NULL);
		FUZZ_CHECK(kta_vkey_parse(s, strlen(s), &vk, NULL) == KTA_OK);
		FUZZ_CHECK(vk->key_id == sk->key_id);
		free(s);
		kta_vkey_free(vk);
		kta_vkey_free(vk2);
		kta_skey_free(sk);
	}
	return 0;
}
