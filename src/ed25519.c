/* Ed25519 over OpenSSL EVP with raw keys. See ed25519.h. */
#include "ed25519.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

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

struct vcache {
	uint8_t pub[32];
	EVP_PKEY *pk;    /* NULL: empty slot */
	EVP_MD_CTX *ctx; /* initialized for pk */
	uint64_t used;   /* tick of the last use, for LRU eviction */
};

struct kta_ed25519_verifier {
	struct vcache c[KTA_ED25519_CACHE];
	uint64_t tick;
};

enum kta_status kta_ed25519_verifier_new(struct kta_ed25519_verifier **out, struct kta_error *err)
{
	*out = calloc(1, sizeof(**out));
	if (*out == NULL)
		return kta_error_set(err, KTA_ERR_NOMEM, "Ed25519 verifier: out of memory");
	return KTA_OK;
}

static void vcache_clear(struct vcache *c)
{
	EVP_MD_CTX_free(c->ctx);
	EVP_PKEY_free(c->pk);
	c->ctx = NULL;
	c->pk = NULL;
}

void kta_ed25519_verifier_free(struct kta_ed25519_verifier *v)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < KTA_ED25519_CACHE; i++)
		vcache_clear(&v->c[i]);
	free(v);
}

enum kta_status kta_ed25519_verifier_verify(struct kta_ed25519_verifier *v,
					    const uint8_t pub[static 32], const uint8_t *msg,
					    size_t len, const uint8_t sig[static 64])
{
	struct vcache *c = NULL;
	size_t i;

	for (i = 0; i < KTA_ED25519_CACHE; i++) {
		if (v->c[i].pk != NULL && memcmp(v->c[i].pub, pub, 32) == 0) {
			c = &v->c[i];
			break;
		}
		if (c == NULL || v->c[i].pk == NULL || (c->pk != NULL && v->c[i].used < c->used))
			c = &v->c[i]; /* the empty or least recently used slot */
	}
	c->used = ++v->tick;
	if (c->pk == NULL || memcmp(c->pub, pub, 32) != 0) {
		/* The slot's context is kept but reset: OpenSSL 3 would otherwise
		 * re-initialize it with the key it already holds. */
		EVP_PKEY_free(c->pk);
		if (c->ctx != NULL)
			EVP_MD_CTX_reset(c->ctx);
		if ((c->pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32)) == NULL)
			return KTA_ERR_VERIFY; /* not a valid point */
		if (c->ctx == NULL && (c->ctx = EVP_MD_CTX_new()) == NULL) {
			vcache_clear(c);
			return KTA_ERR_NOMEM;
		}
		if (EVP_DigestVerifyInit(c->ctx, NULL, NULL, NULL, c->pk) != 1) {
			vcache_clear(c);
			return KTA_ERR_INTERNAL;
		}
		memcpy(c->pub, pub, 32);
	}
	/* OpenSSL 3.0 lets a one-shot Ed25519 context verify again; should a
	 * later version refuse, the failure is retried on a re-initialized
	 * context, whose answer stands (a bad signature costs two checks). */
	if (EVP_DigestVerify(c->ctx, sig, 64, msg, len) == 1)
		return KTA_OK;
	if (EVP_DigestVerifyInit(c->ctx, NULL, NULL, NULL, c->pk) != 1) {
		vcache_clear(c);
		return KTA_ERR_INTERNAL;
	}
	return EVP_DigestVerify(c->ctx, sig, 64, msg, len) == 1 ? KTA_OK : KTA_ERR_VERIFY;
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
