/* Ed25519 over OpenSSL EVP with raw keys. See ed25519.h. */
#include "ed25519.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

enum kta_status kta_ed25519_verify(const uint8_t pub[static 32], const uint8_t *msg, size_t len,
				   const uint8_t sig[static 64])
{
	enum kta_status r = KTA_ERR_INTERNAL;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;
	int ok;

	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	if (pk == NULL)
		return KTA_ERR_VERIFY; /* not a valid point */
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) != 1)
		goto out;
	ok = EVP_DigestVerify(ctx, sig, 64, msg, len);
	r = ok == 1 ? KTA_OK : KTA_ERR_VERIFY;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

enum kta_status kta_ed25519_sign(const uint8_t seed[static 32], const uint8_t *msg, size_t len,
				 uint8_t sig[static 64], struct kta_error *err)
{
	enum kta_status r = KTA_ERR_INTERNAL;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 64;

	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	if (pk == NULL || (ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pk) != 1 ||
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) != 1 || siglen != 64) {
		r = kta_error_set(err, KTA_ERR_INTERNAL, "Ed25519 signing failed in OpenSSL");
		goto out;
	}
	r = KTA_OK;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pk);
	return r;
}

enum kta_status kta_ed25519_public(const uint8_t seed[static 32], uint8_t pub[static 32],
				   struct kta_error *err)
{
	EVP_PKEY *pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	size_t n = 32;
	enum kta_status r = KTA_OK;

	if (pk == NULL || EVP_PKEY_get_raw_public_key(pk, pub, &n) != 1 || n != 32)
		r = kta_error_set(err, KTA_ERR_INTERNAL,
				  "Ed25519 key derivation failed in OpenSSL");
	EVP_PKEY_free(pk);
	return r;
}

enum kta_status kta_ed25519_generate(uint8_t seed[static 32], uint8_t pub[static 32],
				     struct kta_error *err)
{
	if (RAND_priv_bytes(seed, 32) != 1)
		return kta_error_set(err, KTA_ERR_INTERNAL, "no randomness from OpenSSL");
	return kta_ed25519_public(seed, pub, err);
}
